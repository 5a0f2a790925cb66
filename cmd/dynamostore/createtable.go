package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/dynamostore/dynamostore"
)

// runCreateTable creates a session table with dynamostore.CreateTable in the account of the
// current credentials, and says whether it created it or found it.
func runCreateTable(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("create-table", flag.ContinueOnError)
	fs.SetOutput(stderr)
	region := fs.String("region", "", "the table's `region` (default: AWS_REGION, or the region of a table ARN)")
	endpoint := fs.String("endpoint", "", "DynamoDB endpoint `URL`, for example http://127.0.0.1:8000 for DynamoDB Local (default: AWS_ENDPOINT_URL_DYNAMODB, else AWS's)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: dynamostore create-table [-region R] [-endpoint URL] NAME

Creates an on-demand (PAY_PER_REQUEST) session table NAME with a single string hash key "id",
waits until it is active and enables TTL on "expires". NAME is a table name or a table ARN
(then the table is created under the ARN's name, in the ARN's region). It succeeds if the
table already exists with that key. The table is created in the account of the current
credentials: run it in the table account.

`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		if err == errHelp {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "dynamostore: create-table needs one table name or table ARN")
		fs.Usage()
		return exitUsage
	}
	name, tableRegion, account := fs.Arg(0), "", ""
	if strings.HasPrefix(name, "arn:") {
		a, err := dynamostore.ParseTableARN(name)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
		name, tableRegion, account = a.Table, a.Region, a.Account
		if *region != "" && *region != tableRegion {
			fmt.Fprintf(stderr, "dynamostore: -region %s differs from the region %s of the table ARN\n", *region, tableRegion)
			return exitUsage
		}
	}
	loadOpts := []func(*config.LoadOptions) error{config.WithLogger(sdkLogger(stderr, &reporter{}))}
	if *region != "" {
		loadOpts = append(loadOpts, config.WithRegion(*region))
	} else if tableRegion != "" {
		loadOpts = append(loadOpts, config.WithRegion(tableRegion))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		fmt.Fprintf(stderr, "dynamostore: load the AWS configuration: %v\n", err)
		return exitFail
	}
	if cfg.Region == "" {
		fmt.Fprintln(stderr, "dynamostore: no region: pass -region or set AWS_REGION")
		return exitUsage
	}
	// An ARN names the table's account: refuse before creating anything in another one. A
	// local endpoint (DynamoDB Local) has no accounts.
	if account != "" && *endpoint == "" {
		id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			fmt.Fprintf(stderr, "dynamostore: could not tell which account these credentials belong to (sts:GetCallerIdentity: %v); "+
				"nothing was created. Pass the table name instead of its ARN to create it in the credentials' own account\n", (&reporter{}).redact(err.Error()))
			return exitFail
		}
		if got := aws.ToString(id.Account); got != account {
			fmt.Fprintf(stderr, "dynamostore: these credentials belong to account %s, but the ARN names account %s; nothing was created. "+
				"Run create-table with the table account's credentials\n", got, account)
			return exitFail
		}
	}
	client := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if *endpoint != "" {
			o.BaseEndpoint = aws.String(*endpoint)
		}
	})

	existed, hadTTL := true, false
	if _, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &name}); err != nil {
		var notFound *types.ResourceNotFoundException
		if !errors.As(err, &notFound) {
			fmt.Fprintf(stderr, "dynamostore: describe table %s: %v\n", name, err)
			return exitFail
		}
		existed = false
	} else if ttl, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: &name}); err == nil {
		hadTTL = ttlOn(ttl.TimeToLiveDescription, ttlAttribute)
	}
	if err := dynamostore.CreateTable(ctx, client, name); err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail
	}
	out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &name})
	if err != nil {
		fmt.Fprintf(stderr, "dynamostore: describe table %s: %v\n", name, err)
		return exitFail
	}
	tableARN := aws.ToString(out.Table.TableArn)
	switch {
	case existed && hadTTL:
		fmt.Fprintf(stdout, "table %s already existed in %s with the hash key id (S) and TTL on expires: nothing to do\n", name, cfg.Region)
	case existed:
		fmt.Fprintf(stdout, "table %s already existed in %s with the hash key id (S): enabled TTL on expires\n", name, cfg.Region)
	default:
		fmt.Fprintf(stdout, "created table %s in %s: on-demand, hash key id (S), TTL on expires\n", name, cfg.Region)
	}
	fmt.Fprintf(stdout, "TABLE_ARN=%s\n", tableARN)
	// DynamoDB Local answers with region "ddblocal" and account 000000000000 whatever the ARN.
	if got, err := arn.Parse(tableARN); account != "" && err == nil && got.AccountID != account && got.Region != "ddblocal" {
		fmt.Fprintf(stderr, "dynamostore: the table is in account %s, but the ARN you gave names account %s: "+
			"these credentials belong to another account. Run create-table with the table account's credentials "+
			"(and delete this table if it was a mistake: aws dynamodb delete-table --table-name %s --region %s)\n",
			got.AccountID, account, name, cfg.Region)
		return exitFail
	}
	return exitOK
}
