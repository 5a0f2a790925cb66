package dynamostoretest

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/dynamostore/dynamostore"
)

// SessionTableActions are the actions CROSS-ACCOUNT.md grants the table role.
var SessionTableActions = []string{"dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:DeleteItem"}

// CrossAccountOptions configures StartCrossAccount.
type CrossAccountOptions struct {
	// Actions the role's policy allows on the table, without conditions. Default:
	// SessionTableActions. Policy, when set, replaces this policy.
	Actions []string
	// Policy is the role's whole identity-based policy, for example one of ParsePolicy
	// with dynamodb:LeadingKeys or dynamodb:Attributes conditions. Default: Actions on the
	// table.
	Policy *Policy
	// ResourcePolicy is the table's resource-based policy (GatewayOptions.ResourcePolicy).
	// Default: the policy of docs/iam.md's mode 2 with the usage account as principal
	// (which delegates to that account's identity-based policies), allowing Actions on the
	// table. A pointer to an empty Policy stands for a table without a resource policy.
	ResourcePolicy *Policy
	// ExternalID the role requires. Default: "dynamostore-example".
	ExternalID string
	// Region of the table. Default: us-east-1.
	Region string
}

// CrossAccount is a local copy of the set-up in CROSS-ACCOUNT.md: an application principal in
// UsageAccount, a role in TableAccount that trusts it (with an ExternalId) and may use one
// table, an STS emulator that issues the role's credentials, and a gateway that checks them in
// front of DynamoDB Local.
type CrossAccount struct {
	STS        *STS
	Gateway    *Gateway
	App        Principal // the application's own identity, in UsageAccount
	RoleARN    string    // the table role, in TableAccount
	TableARN   string
	ExternalID string
	Region     string
}

// StartCrossAccount sets up the two accounts in front of the DynamoDB Local at endpoint, for an
// existing table. It returns a *PolicyError for a Policy or ResourcePolicy that fails
// Validate, for a Policy statement with a Principal, and for a ResourcePolicy statement
// without one. Close stops the STS emulator and the gateway.
func StartCrossAccount(endpoint, table string, opts CrossAccountOptions) (*CrossAccount, error) {
	if opts.Actions == nil {
		opts.Actions = SessionTableActions
	}
	if opts.Policy != nil {
		if err := opts.Policy.Validate(); err != nil {
			return nil, err
		}
		for i, st := range opts.Policy.Statements {
			if len(st.Principals) > 0 {
				// IAM refuses an identity-based policy with a Principal.
				return nil, &PolicyError{Statement: i, Message: "an identity-based policy's statement must not have a Principal"}
			}
		}
	}
	if opts.ExternalID == "" {
		opts.ExternalID = "dynamostore-example"
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	x := &CrossAccount{
		STS:        NewSTS(),
		RoleARN:    "arn:aws:iam::" + TableAccount + ":role/dynamostore-sessions",
		TableARN:   fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", opts.Region, TableAccount, table),
		ExternalID: opts.ExternalID,
		Region:     opts.Region,
	}
	x.STS.SetRegion(opts.Region)
	x.App = x.STS.AddPrincipal(Principal{ARN: "arn:aws:iam::" + UsageAccount + ":role/dynamostore-app"})
	policy := Policy{Actions: opts.Actions, Resources: []string{x.TableARN}}
	if opts.Policy != nil {
		policy = *opts.Policy
	}
	x.STS.AddRole(Role{
		ARN:        x.RoleARN,
		Trusted:    []string{x.App.ARN},
		ExternalID: opts.ExternalID,
		Policy:     policy,
	})
	resourcePolicy := opts.ResourcePolicy
	if resourcePolicy == nil {
		resourcePolicy = &Policy{Statements: []Statement{{
			Sid: "UsageAccountThroughItsOwnPolicies", Effect: Allow, Principals: []string{UsageAccount},
			Actions: opts.Actions, Resources: []string{x.TableARN},
		}}}
	}
	gw, err := NewGateway(endpoint, x.STS, GatewayOptions{Region: opts.Region, Account: TableAccount, ResourcePolicy: resourcePolicy})
	if err != nil {
		x.STS.Close()
		return nil, err
	}
	x.Gateway = gw
	return x, nil
}

// Close stops the gateway and the STS emulator.
func (x *CrossAccount) Close() {
	x.Gateway.Close()
	x.STS.Close()
}

// BaseConfig is the application's own AWS configuration in UsageAccount: what
// config.LoadDefaultConfig would give it in production.
func (x *CrossAccount) BaseConfig() aws.Config {
	return aws.Config{
		Region:      x.Region,
		Credentials: credentials.NewStaticCredentialsProvider(x.App.AccessKeyID, x.App.SecretAccessKey, ""),
	}
}

// Options points dynamostore.NewCrossAccount's STS client at the emulator and passes the
// ExternalId; opts follow (the cache's windows, a Logger).
func (x *CrossAccount) Options(opts ...func(*dynamostore.CrossAccountOptions)) func(*dynamostore.CrossAccountOptions) {
	return func(o *dynamostore.CrossAccountOptions) {
		o.STS = append(o.STS, func(so *sts.Options) { so.BaseEndpoint = aws.String(x.STS.URL) })
		o.ExternalID = x.ExternalID
		for _, fn := range opts {
			fn(o)
		}
	}
}

// ViaGateway points a DynamoDB client at the gateway.
func (x *CrossAccount) ViaGateway(o *dynamodb.Options) { o.BaseEndpoint = aws.String(x.Gateway.URL) }

// Connect is dynamostore.NewCrossAccount with this set-up: the application's base
// configuration, the table ARN and the role. It returns the set-up and a DynamoDB client that
// goes through the gateway.
func (x *CrossAccount) Connect(opts ...func(*dynamostore.CrossAccountOptions)) (*dynamostore.CrossAccount, *dynamodb.Client, error) {
	ca, err := dynamostore.NewCrossAccount(x.BaseConfig(), x.TableARN, x.RoleARN, x.Options(opts...))
	if err != nil {
		return nil, nil, err
	}
	return ca, ca.DynamoDB(x.ViaGateway), nil
}
