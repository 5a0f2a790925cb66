package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
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
	// Credentials is the assume-role provider, nil without a role.
	Credentials *Credentials
}

// CrossAccountOptions configures NewCrossAccount.
type CrossAccountOptions struct {
	// Credentials configures the assume-role credentials.
	Credentials []func(*CredentialsOptions)
	// STS configures the STS client in the caller's account (its endpoint, for example).
	// Its own retries are turned off: the credentials retry with backoff.
	STS []func(*sts.Options)
}

// NewCrossAccount builds the AWS configuration for the table tableARN. With a roleARN, the
// Config's credentials assume that role (from base's credentials) and renew in the background;
// without one ("", the resource-based policy mode) the caller's own credentials sign, and the
// table ARN in WithTableName routes requests to the table's account. It returns an *ARNError
// for a bad table ARN or role ARN. It makes no AWS call.
func NewCrossAccount(base aws.Config, tableARN, roleARN string, optFns ...func(*CrossAccountOptions)) (*CrossAccount, error) {
	table, err := ParseTableARN(tableARN)
	if err != nil {
		return nil, err
	}
	var o CrossAccountOptions
	for _, fn := range optFns {
		fn(&o)
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
	stsRegion := base.Region
	if stsRegion == "" {
		stsRegion = table.Region
	}
	stsClient := sts.NewFromConfig(base, append([]func(*sts.Options){func(so *sts.Options) {
		so.Region = stsRegion
		so.RetryMaxAttempts = 1
	}}, o.STS...)...)
	ca.Credentials = NewAssumeRoleCredentials(stsClient, roleARN, o.Credentials...)
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
// once from credentials the service rejects (see RecoverRejectedCredentials).
func (ca *CrossAccount) DynamoDB(optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	if ca.Credentials != nil {
		optFns = append([]func(*dynamodb.Options){func(o *dynamodb.Options) {
			o.APIOptions = append(o.APIOptions, RecoverRejectedCredentials(ca.Credentials))
		}}, optFns...)
	}
	return dynamodb.NewFromConfig(ca.Config, optFns...)
}

// NewStore returns a Store on the table, through a client from DynamoDB(): the table's ARN
// is set first, opts follow (the key pairs are required, as for New).
func (ca *CrossAccount) NewStore(opts ...Option) (*Store, error) {
	return New(ca.DynamoDB(), append([]Option{WithTableName(ca.Table.String())}, opts...)...)
}

// rejectedCredentialCodes are the answers of AWS services to expired or unknown session keys.
// The SDK never retries them, and its cache never drops the keys.
var rejectedCredentialCodes = map[string]bool{
	"ExpiredTokenException":       true, // DynamoDB
	"ExpiredToken":                true, // STS, S3, SNS, ...
	"UnrecognizedClientException": true, // DynamoDB
	"InvalidClientTokenId":        true, // STS, SNS, ...
}

// RecoverRejectedCredentials returns an SDK API option (for Options.APIOptions of any service
// client) that recovers from one rejection of the credentials (ExpiredTokenException,
// UnrecognizedClientException and their equivalents): it drops the rejected key from creds if
// it is still the current one, waits for the renewal, and sends the request again, once.
// It runs inside each retry attempt, before signing, so the second try is signed afresh.
func RecoverRejectedCredentials(creds *Credentials) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Finalize.Insert(&recoverMiddleware{creds: creds}, "ResolveAuthScheme", middleware.Before)
	}
}

type recoverMiddleware struct{ creds *Credentials }

func (*recoverMiddleware) ID() string { return "dynamostore.RecoverRejectedCredentials" }

func (m *recoverMiddleware) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	out, md, err := next.HandleFinalize(ctx, in)
	var apiErr smithy.APIError
	if err == nil || !errors.As(err, &apiErr) || !rejectedCredentialCodes[apiErr.ErrorCode()] {
		return out, md, err
	}
	req, ok := in.Request.(*smithyhttp.Request)
	if !ok {
		return out, md, err
	}
	keyID := signingKeyID(req.Header.Get("Authorization"))
	if keyID == "" {
		return out, md, err
	}
	m.creds.Invalidate(keyID) // a no-op if another request already did it
	if rewindErr := req.RewindStream(); rewindErr != nil {
		return out, md, fmt.Errorf("%w (and the request could not be replayed: %v)", err, rewindErr)
	}
	return next.HandleFinalize(ctx, in)
}

// signingKeyID returns the access key ID in a SigV4 Authorization header.
func signingKeyID(authorization string) string {
	_, rest, ok := strings.Cut(authorization, "Credential=")
	if !ok {
		return ""
	}
	keyID, _, _ := strings.Cut(rest, "/")
	return keyID
}
