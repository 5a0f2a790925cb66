package dynamostore

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/dynamostore/dynamostore/credcache"
)

// CrossAccount is the AWS set-up for a table in another account: an aws.Config for the table's
// region whose credentials come from assuming a role there (or, without a role, the caller's
// own credentials, for tables shared by a resource-based policy).
type CrossAccount struct {
	// Config is for the table's region, with Credentials set. It serves any other AWS client
	// for that account too (S3, SNS, Lambda, DAX), sharing the same renewals.
	Config aws.Config
	// Table is the parsed table ARN; pass Table.String() to WithTableName.
	Table TableARN
	// RoleARN is the role whose credentials sign, "" without one.
	RoleARN string
	// Credentials is the cache of the role's credentials, nil without a role. Call its
	// KeepWarm at start-up, and Close at shutdown.
	Credentials *credcache.Cache
}

// CrossAccountOptions configures NewCrossAccount: the role's credentials (an ExternalID, the
// cache's windows, a Logger), and the STS client.
type CrossAccountOptions struct {
	credcache.AssumeRoleOptions
	// STS configures the STS client in the caller's account (its endpoint, for example).
	// Its own retries are turned off: the cache retries with backoff.
	STS []func(*sts.Options)
}

// NewCrossAccount builds the AWS configuration for the table tableARN. With a roleARN, the
// Config's credentials assume that role (from base's credentials) and renew in the background;
// without one ("", the resource-based policy mode) the caller's own credentials sign, and the
// table ARN in WithTableName routes requests to the table's account. It returns an *ARNError
// for a bad table ARN or role ARN, and a *credcache.ConfigError for credential options out of
// range. It makes no AWS call.
func NewCrossAccount(base aws.Config, tableARN, roleARN string, optFns ...func(*CrossAccountOptions)) (*CrossAccount, error) {
	table, err := ParseTableARN(tableARN)
	if err != nil {
		return nil, err
	}
	var o CrossAccountOptions
	for _, fn := range optFns {
		if fn != nil {
			fn(&o)
		}
	}
	cfg := base.Copy()
	cfg.Region = table.Region
	ca := &CrossAccount{Config: cfg, Table: table}
	if roleARN == "" {
		return ca, nil
	}
	if err := validateRoleARN(roleARN); err != nil {
		return nil, err
	}
	ca.RoleARN = roleARN
	stsRegion := base.Region
	if stsRegion == "" {
		stsRegion = table.Region
	}
	stsClient := sts.NewFromConfig(base, append([]func(*sts.Options){func(so *sts.Options) {
		so.Region = stsRegion
		so.RetryMaxAttempts = 1
	}}, o.STS...)...)
	if ca.Credentials, err = credcache.AssumeRole(stsClient, roleARN, func(ao *credcache.AssumeRoleOptions) { *ao = o.AssumeRoleOptions }); err != nil {
		return nil, err
	}
	ca.Config.Credentials = ca.Credentials
	return ca, nil
}

func validateRoleARN(roleARN string) error {
	parts := strings.SplitN(roleARN, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || !partitionPattern.MatchString(parts[1]) || parts[2] != "iam" ||
		parts[3] != "" || !accountPattern.MatchString(parts[4]) || !strings.HasPrefix(parts[5], "role/") || len(parts[5]) < 6 {
		return &ARNError{Input: roleARN, Reason: "want a role ARN: arn:aws:iam::ACCOUNT:role/NAME"}
	}
	return nil
}

// DynamoDB returns a DynamoDB client for the table's region. With a role, the client recovers
// once from credentials the service rejects (see credcache.RecoverRejected).
func (ca *CrossAccount) DynamoDB(optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	if ca.Credentials != nil {
		optFns = append([]func(*dynamodb.Options){func(o *dynamodb.Options) {
			o.APIOptions = append(o.APIOptions, credcache.RecoverRejected(ca.Credentials))
		}}, optFns...)
	}
	return dynamodb.NewFromConfig(ca.Config, optFns...)
}

// NewStore returns a Store on the table, through a client from DynamoDB(): the table's ARN
// is set first, opts follow (the key pairs are required, as for New).
func (ca *CrossAccount) NewStore(opts ...Option) (*Store, error) {
	return New(ca.DynamoDB(), append([]Option{WithTableName(ca.Table.String())}, opts...)...)
}
