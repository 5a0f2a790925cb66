package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TableARN is a parsed DynamoDB table ARN: arn:PARTITION:dynamodb:REGION:ACCOUNT:table/TABLE.
type TableARN struct {
	Partition string // aws, aws-cn, aws-us-gov, ...
	Region    string // us-east-1
	Account   string // 12 digits
	Table     string // the table name
}

// String returns the ARN in its canonical form.
func (a TableARN) String() string {
	return fmt.Sprintf("arn:%s:dynamodb:%s:%s:table/%s", a.Partition, a.Region, a.Account, a.Table)
}

// ARNError reports a string that is not a DynamoDB table ARN, and why.
type ARNError struct {
	Input  string
	Reason string
}

// Error implements error.
func (e *ARNError) Error() string {
	return fmt.Sprintf("dynamostore: %q is not a DynamoDB table ARN: %s", e.Input, e.Reason)
}

var (
	partitionPattern = regexp.MustCompile(`^aws(-[a-z]+)*$`)
	regionPattern    = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	accountPattern   = regexp.MustCompile(`^[0-9]{12}$`)
)

// ParseTableARN parses a table ARN such as arn:aws:dynamodb:us-east-1:111122223333:table/sessions.
// It returns an *ARNError naming the faulty part for anything else, including index and stream
// ARNs and ARNs of other services.
func ParseTableARN(s string) (TableARN, error) {
	fail := func(format string, args ...any) (TableARN, error) {
		return TableARN{}, &ARNError{Input: s, Reason: fmt.Sprintf(format, args...)}
	}
	a, err := arn.Parse(s)
	if err != nil {
		return fail("want arn:PARTITION:dynamodb:REGION:ACCOUNT:table/NAME")
	}
	switch {
	case !partitionPattern.MatchString(a.Partition):
		return fail("partition %q is not valid (aws, aws-cn, aws-us-gov, ...)", a.Partition)
	case a.Service != "dynamodb":
		return fail("service is %q, want dynamodb", a.Service)
	case !regionPattern.MatchString(a.Region):
		return fail("region %q is not valid (like us-east-1)", a.Region)
	case !accountPattern.MatchString(a.AccountID):
		return fail("account %q is not 12 digits", a.AccountID)
	}
	name, ok := strings.CutPrefix(a.Resource, "table/")
	if !ok {
		return fail("resource %q does not start with table/", a.Resource)
	}
	if i := strings.IndexByte(name, '/'); i >= 0 {
		return fail("it names a part of table %q (%s); use the table's own ARN", name[:i], name[i+1:])
	}
	if !tableNamePattern.MatchString(name) {
		return fail("table name %q must have 3-255 characters of a-z, A-Z, 0-9, _ . -", name)
	}
	return TableARN{Partition: a.Partition, Region: a.Region, Account: a.AccountID, Table: name}, nil
}

// TableAPI is what CreateTable needs of a DynamoDB client; *dynamodb.Client has it.
type TableAPI interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	DescribeTimeToLive(ctx context.Context, in *dynamodb.DescribeTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

// CreateTableOptions configures CreateTable.
type CreateTableOptions struct {
	// PartitionKey is the hash key attribute; match Options.PartitionKey. Default: "id".
	PartitionKey string
	// Timeout bounds the wait for the table to become active. Default: 2 minutes.
	Timeout time.Duration
}

// CreateTable is a development helper: it creates an on-demand (PAY_PER_REQUEST) session table
// keyed by a string hash key, waits until it is active and enables TTL on the expires
// attribute. It succeeds if the table already exists with that key, and returns an error if
// it exists with another key. The Store never calls it: in production, create the table
// with infrastructure code (see CROSS-ACCOUNT.md), so the store's role needs no control-plane
// permissions. table must be a name: CreateTable is not available across accounts.
func CreateTable(ctx context.Context, client TableAPI, table string, optFns ...func(*CreateTableOptions)) error {
	o := CreateTableOptions{PartitionKey: defaultPartitionKey, Timeout: 2 * time.Minute}
	for _, fn := range optFns {
		fn(&o)
	}
	if !tableNamePattern.MatchString(table) {
		return fmt.Errorf("dynamostore: CreateTable needs a table name (3-255 characters of a-z, A-Z, 0-9, _ . -), got %q; create a table in another account from that account", table)
	}
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            &table,
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: &o.PartitionKey, AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: &o.PartitionKey, KeyType: types.KeyTypeHash}},
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("dynamostore: create table %s: %w", table, err)
	}
	out, err := dynamodb.NewTableExistsWaiter(client).WaitForOutput(ctx, &dynamodb.DescribeTableInput{TableName: &table}, o.Timeout)
	if err != nil {
		return fmt.Errorf("dynamostore: wait for table %s to become active: %w", table, err)
	}
	if err := checkKeySchema(out.Table, o.PartitionKey); err != nil {
		return fmt.Errorf("dynamostore: table %s exists but %w", table, err)
	}
	ttl, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: &table})
	if err != nil {
		return fmt.Errorf("dynamostore: describe TTL of table %s: %w", table, err)
	}
	if d := ttl.TimeToLiveDescription; d != nil && d.AttributeName != nil && *d.AttributeName == attrExpires &&
		(d.TimeToLiveStatus == types.TimeToLiveStatusEnabled || d.TimeToLiveStatus == types.TimeToLiveStatusEnabling) {
		return nil
	}
	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: &table,
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(attrExpires),
			Enabled:       boolPtr(true),
		},
	})
	if err != nil {
		return fmt.Errorf("dynamostore: enable TTL on %s.%s: %w", table, attrExpires, err)
	}
	return nil
}

func checkKeySchema(t *types.TableDescription, partitionKey string) error {
	if t == nil || len(t.KeySchema) != 1 || t.KeySchema[0].AttributeName == nil || *t.KeySchema[0].AttributeName != partitionKey {
		return fmt.Errorf("its key is not the single hash key %q the store needs", partitionKey)
	}
	for _, def := range t.AttributeDefinitions {
		if def.AttributeName != nil && *def.AttributeName == partitionKey && def.AttributeType != types.ScalarAttributeTypeS {
			return fmt.Errorf("its hash key %q has type %s, not S", partitionKey, def.AttributeType)
		}
	}
	return nil
}

func boolPtr(b bool) *bool { return &b }
