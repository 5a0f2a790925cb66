package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/dynamostore/dynamostore"
)

// callTimeout bounds each AWS call of check, the SDK's retries included.
const callTimeout = 20 * time.Second

// ttlAttribute is the attribute where the store keeps each item's expiry, in epoch seconds.
const ttlAttribute = "expires"

// defaultKeyPrefix is the store's default key prefix (WithKeyPrefix).
const defaultKeyPrefix = "session#"

// checkOptions are check's flags.
type checkOptions struct {
	tableARN, roleARN, externalID, region string
	keyPrefix, partitionKey               string
	// keyPrefixSet is true when -key-prefix was given.
	keyPrefixSet bool
}

// noRole reports whether check runs without a role: the usage account's own credentials
// sign, and the table's resource-based policy must admit them (docs/iam.md, mode 2).
func (o *checkOptions) noRole() bool { return o.roleARN == "" }

// checker runs check's steps in order and reports them.
type checker struct {
	o      checkOptions
	r      *reporter
	table  dynamostore.TableARN
	client *dynamodb.Client // for DescribeTable, DescribeTimeToLive and the cleanup
	ca     *dynamostore.CrossAccount
	stderr io.Writer // the SDK's own warnings
	// stopped names the step after which check stopped, because the steps after it need it
	// or, when interrupted is set, because check was interrupted.
	stopped     string
	interrupted bool
}

// subject names who makes the table's calls, for the step lines: "the role", or the caller
// itself without a role.
func (c *checker) subject() string {
	if c.o.noRole() {
		return "the usage account's credentials"
	}
	return "the role"
}

// grantWhere says where an action is granted, for the SKIP lines.
func (c *checker) grantWhere() string {
	if c.o.noRole() {
		return "to your identity policy and to the table's resource-based policy"
	}
	return "to the role's permission policy"
}

// runCheck parses check's flags, runs the steps and prints the summary. It returns exitOK
// when no step failed.
func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o checkOptions
	fs.StringVar(&o.tableARN, "table-arn", "", "the session table's `ARN`, arn:aws:dynamodb:REGION:ACCOUNT:table/NAME (default: TABLE_ARN)")
	fs.StringVar(&o.roleARN, "role-arn", "", "the `ARN` of the role to assume in the table account (default: TABLE_ROLE_ARN; "+
		"without one, the usage account's credentials call the table themselves, through its resource-based policy)")
	fs.StringVar(&o.externalID, "external-id", "", "the `ExternalId` the role's trust policy requires (default: EXTERNAL_ID)")
	fs.StringVar(&o.region, "region", "", "the usage account's `region`, where STS is called (default: AWS_REGION, else the table's region)")
	fs.StringVar(&o.keyPrefix, "key-prefix", defaultKeyPrefix, "the store's key `prefix`, as set with WithKeyPrefix: check's items go under it, "+
		"as the application's do (what a dynamodb:LeadingKeys condition must admit)")
	fs.StringVar(&o.partitionKey, "partition-key", "id", "the table's hash key `attribute`, as set with WithPartitionKey")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: dynamostore check -table-arn ARN [-role-arn ARN [-external-id ID]] [-key-prefix P] [-region R]

Checks a table in another account the way the store uses it: it assumes the role with the
usage account's credentials (the standard AWS chain: environment, AWS_PROFILE, instance or
task role), or without -role-arn uses those credentials directly (a resource-based policy on
the table), describes the table and its TTL, and then runs a real store (with random keys of
its own) through every call the application's store makes: a new session's Save, a reload,
a changed Save, Regenerate, Login of a probe user from three browsers, UserSessions,
RevokeSession, RevokeUserSessions, the KV view's Set, Get and Remove, and Delete. So it
fails exactly where the store would, whatever conditions the policies have, and each FAIL
names the call that was refused, as the store sent it, and the policy change that lets it
through. Everything it writes expires within an hour and is deleted at the end (the
tombstones of moved sessions and the probe user's item, which the store leaves for TTL, by
a last cleanup step); if a delete is refused, check lists the items that remain. It prints
PASS, SKIP or FAIL per step and exits with status 0 only if no step failed.

`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		if err == errHelp {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "dynamostore: check takes no arguments, got %q\n", fs.Args())
		return exitUsage
	}
	// The environment fills in the flags not given (not as flag defaults, so that -h does
	// not print the ExternalId); -external-id "" overrides EXTERNAL_ID.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, v := range []struct {
		value     *string
		flag, env string
	}{{&o.tableARN, "table-arn", "TABLE_ARN"}, {&o.roleARN, "role-arn", "TABLE_ROLE_ARN"}, {&o.externalID, "external-id", "EXTERNAL_ID"}} {
		if !set[v.flag] {
			*v.value = os.Getenv(v.env)
		}
	}
	o.keyPrefixSet = set["key-prefix"]
	if o.tableARN == "" {
		fmt.Fprint(stderr, "dynamostore: check needs -table-arn (or TABLE_ARN)\n\n")
		fs.Usage()
		return exitUsage
	}
	if o.roleARN == "" && set["external-id"] {
		fmt.Fprintln(stderr, "dynamostore: -external-id goes with -role-arn: without a role there is no trust policy to pass it to")
		return exitUsage
	}
	if o.roleARN == "" {
		o.externalID = "" // EXTERNAL_ID without TABLE_ROLE_ARN: nothing uses it
	}
	if o.partitionKey == "" {
		fmt.Fprintln(stderr, "dynamostore: -partition-key must not be empty")
		return exitUsage
	}

	c := &checker{o: o, r: &reporter{w: stdout}, stderr: stderr}
	c.run(ctx)
	r := c.r
	steps := r.passed + r.skipped + r.failed
	if r.failed == 0 {
		how := "through role " + o.roleARN
		if o.noRole() {
			how = "with no role: the table's resource-based policy and your identity policy must both allow each of its calls, and they did"
		}
		fmt.Fprintf(stdout, "OK: %d of %d steps passed, %d skipped: the store can use table %s %s\n",
			r.passed, steps, r.skipped, c.table, how)
		return exitOK
	}
	stopped := ""
	switch {
	case c.interrupted:
		stopped = fmt.Sprintf("; interrupted during %s", c.stopped)
	case c.stopped != "":
		stopped = fmt.Sprintf("; stopped after %s, which the later steps need", c.stopped)
	}
	fmt.Fprintf(stdout, "FAILED: %d of %d steps failed, %d passed, %d skipped%s: fix the FAIL lines above and run check again\n",
		r.failed, steps, r.passed, r.skipped, stopped)
	return exitFail
}

// run runs the steps, stopping at the first one whose failure makes the rest meaningless.
func (c *checker) run(ctx context.Context) {
	if !c.parseARNs() {
		c.stopped = "the ARNs"
		return
	}
	base, ok := c.loadCredentials(ctx)
	if !ok {
		c.stopped = "credentials"
		return
	}
	ca, ok := c.connect(ctx, base)
	if !ok {
		c.stopped = "assume-role"
		return
	}
	defer ca.Credentials.Close() // nil without a role: Close does nothing
	c.ca = ca
	c.client = ca.DynamoDB()
	if step, ok := c.describeTable(ctx); !ok {
		c.stopped = step
		return
	}
	c.checkTTL(ctx)
	c.probe(ctx)
}

// connect builds the set-up the application builds: with a role, it assumes it (a step);
// without one, the usage account's credentials sign (what NewCrossAccount does with "").
func (c *checker) connect(ctx context.Context, base aws.Config) (*dynamostore.CrossAccount, bool) {
	if !c.o.noRole() {
		return c.assumeRole(ctx, base)
	}
	ca, err := dynamostore.NewCrossAccount(base, c.o.tableARN, "")
	if err != nil { // the table ARN was checked: this is unexpected
		c.r.fail("table-arn", err.Error(), tableARNFix)
		return nil, false
	}
	return ca, true
}

// parseARNs checks both ARNs, reporting a step for each.
func (c *checker) parseARNs() bool {
	ok := true
	table, err := dynamostore.ParseTableARN(c.o.tableARN)
	if err != nil {
		ok = false
		c.failTableARN(err)
	} else {
		c.table = table
		c.r.pass("table-arn", fmt.Sprintf("table %s in account %s, region %s", table.Table, table.Account, table.Region))
	}
	if c.o.noRole() {
		return ok // no role-arn step: the summary says that no role is used
	}
	if what, fix := roleARNProblem(c.o.roleARN); what != "" {
		ok = false
		c.r.fail("role-arn", fmt.Sprintf("%q is not an IAM role ARN: %s", c.o.roleARN, what), fix)
	} else if _, err := dynamostore.NewCrossAccount(aws.Config{}, exampleTableARN, c.o.roleARN); err != nil {
		// NewCrossAccount makes no AWS call: this only validates the role ARN as it will.
		ok = false
		c.r.fail("role-arn", reason(err), roleARNFix)
	} else {
		c.r.pass("role-arn", "role "+c.o.roleARN)
	}
	return ok
}

const (
	exampleTableARN = "arn:aws:dynamodb:us-east-1:444455556666:table/sessions"
	tableARNFix     = "pass the ARN that `aws dynamodb describe-table --table-name NAME --query Table.TableArn --output text` prints in the table account, such as " + exampleTableARN
	roleARNFix      = "pass the role's ARN, such as arn:aws:iam::444455556666:role/dynamostore-sessions: `aws iam get-role --role-name NAME --query Role.Arn --output text` prints it in the table account"
)

func (c *checker) failTableARN(err error) {
	in := c.o.tableARN
	what := reason(err)
	fix := tableARNFix
	if a, perr := arn.Parse(in); perr == nil && a.Service == "iam" {
		what = "it is an IAM ARN"
		fix = "-table-arn and -role-arn look swapped: pass the table's ARN as -table-arn and the role's as -role-arn"
	} else if perr != nil && !strings.Contains(in, ":") {
		what = "it is a table name, not an ARN: check needs the ARN, which names the table's account and region"
	}
	c.r.fail("table-arn", fmt.Sprintf("%q is not a DynamoDB table ARN: %s", in, what), fix)
}

var accountPattern = regexp.MustCompile(`^[0-9]{12}$`)

// roleARNProblem returns what is wrong with a role ARN and how to fix it, or "" when it
// looks right.
func roleARNProblem(s string) (what, fix string) {
	a, err := arn.Parse(s)
	if err != nil {
		return "want arn:aws:iam::ACCOUNT:role/NAME", roleARNFix
	}
	switch {
	case a.Service == "sts" && strings.HasPrefix(a.Resource, "assumed-role/"):
		name, _, _ := strings.Cut(strings.TrimPrefix(a.Resource, "assumed-role/"), "/")
		return "it is the ARN of a session of a role, not of the role",
			fmt.Sprintf("pass arn:%s:iam::%s:role/%s (with the role's path, if it has one)", a.Partition, a.AccountID, name)
	case a.Service == "dynamodb":
		return "it is a DynamoDB ARN", "-table-arn and -role-arn look swapped: pass the table's ARN as -table-arn and the role's as -role-arn"
	case a.Service != "iam":
		return fmt.Sprintf("its service is %q, want iam", a.Service), roleARNFix
	case a.Region != "":
		return fmt.Sprintf("IAM ARNs have no region, this one has %q", a.Region),
			fmt.Sprintf("pass arn:%s:iam::%s:%s", a.Partition, a.AccountID, a.Resource)
	case !accountPattern.MatchString(a.AccountID):
		return fmt.Sprintf("account %q is not 12 digits", a.AccountID), roleARNFix
	case !strings.HasPrefix(a.Resource, "role/") || len(a.Resource) <= len("role/"):
		return fmt.Sprintf("it names %q, not a role (role/NAME)", a.Resource), roleARNFix
	}
	return "", ""
}

// reason returns the reason of an *ARNError, else the error's text.
func reason(err error) string {
	var arnErr *dynamostore.ARNError
	if errors.As(err, &arnErr) {
		return arnErr.Reason
	}
	return err.Error()
}

// loadCredentials loads the usage account's configuration with the standard chain and
// retrieves its credentials once, so that a missing credential is told apart from a refusal
// of the role.
func (c *checker) loadCredentials(ctx context.Context) (aws.Config, bool) {
	opts := []func(*config.LoadOptions) error{config.WithLogger(sdkLogger(c.stderr, c.r))}
	if c.o.region != "" {
		opts = append(opts, config.WithRegion(c.o.region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		c.r.fail("credentials", "cannot load the AWS configuration: "+err.Error(),
			"correct the AWS configuration (AWS_PROFILE, AWS_CONFIG_FILE, ~/.aws/config): `aws configure list` shows what the AWS CLI finds")
		return cfg, false
	}
	if cfg.Credentials == nil {
		c.r.fail("credentials", "the AWS configuration has no credentials", credentialsFix)
		return cfg, false
	}
	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	creds, err := cfg.Credentials.Retrieve(callCtx)
	if err != nil {
		c.r.fail("credentials", "no credentials for the usage account: "+err.Error(), credentialsFix)
		return cfg, false
	}
	c.r.addSecret(creds.SecretAccessKey)
	c.r.addSecret(creds.SessionToken)
	source := creds.Source
	if source == "" {
		source = "the default chain"
	}
	detail := "the usage account's credentials come from " + source
	if c.o.noRole() {
		detail += "; with no role (-role-arn and TABLE_ROLE_ARN unset) they call the table themselves, " +
			"so the table's resource-based policy and your identity policy must both allow each call (docs/iam.md, mode 2)"
	}
	c.r.pass("credentials", detail)
	return cfg, true
}

const credentialsFix = "run check where the application runs (with its instance, task or function role), or give it the usage account's credentials: AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"

// assumeRole builds the cross-account configuration with dynamostore.NewCrossAccount and
// retrieves the role's credentials once.
func (c *checker) assumeRole(ctx context.Context, base aws.Config) (*dynamostore.CrossAccount, bool) {
	ca, err := dynamostore.NewCrossAccount(base, c.o.tableARN, c.o.roleARN, func(o *dynamostore.CrossAccountOptions) {
		o.ExternalID = c.o.externalID
		o.RoleSessionName = "dynamostore-check" // how CloudTrail names this session
		o.Duration = 15 * time.Minute           // STS's minimum: check needs seconds
		o.Timeout = callTimeout
	})
	if err != nil { // the ARNs were checked: this is unexpected
		c.r.fail("assume-role", err.Error(), roleARNFix)
		return nil, false
	}
	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	creds, err := ca.Credentials.Retrieve(callCtx)
	if err != nil {
		c.explainAssumeRole(err)
		return nil, false
	}
	c.r.addSecret(creds.SecretAccessKey)
	c.r.addSecret(creds.SessionToken)
	c.r.pass("assume-role", fmt.Sprintf("assumed %s (its credentials expire at %s)", c.o.roleARN, creds.Expires.UTC().Format(time.RFC3339)))
	return ca, true
}

// deniedPattern reads AWS's AccessDenied messages: who, which action, on what, and why.
var deniedPattern = regexp.MustCompile(`User: (\S+) is not authorized to perform: (\S+) on resource: (\S+?)\.?(?:\s+(?:because|with an) (.*))?$`)

// denial is a parsed AccessDenied message; its fields are "" when the message has no such part.
type denial struct{ caller, action, resource, why string }

func parseDenial(msg string) denial {
	m := deniedPattern.FindStringSubmatch(strings.TrimSpace(msg))
	if m == nil {
		return denial{}
	}
	return denial{caller: m[1], action: m[2], resource: m[3], why: m[4]}
}

// explainAssumeRole reports a failed AssumeRole, telling its likely cause.
func (c *checker) explainAssumeRole(err error) {
	const step = "assume-role"
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		c.r.fail(step, "cannot get an answer from STS: "+err.Error(),
			"check the network path to STS (https://sts.REGION.amazonaws.com, or AWS_ENDPOINT_URL_STS when it is set) and the region, then run check again")
		return
	}
	code, msg := apiErr.ErrorCode(), apiErr.ErrorMessage()
	switch code {
	case "AccessDenied":
		c.explainRoleDenied(msg)
	case "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "IncompleteSignature":
		c.r.fail(step, fmt.Sprintf("STS rejected the usage account's own credentials (%s: %s)", code, msg),
			"renew or correct the usage account's credentials (the access key may be deleted or mistyped, or its session expired), then run check again")
	case "RegionDisabledException":
		c.r.fail(step, fmt.Sprintf("STS is not activated in the usage account's region (%s)", msg),
			"activate it (IAM console, Account settings, Security Token Service regions), or run check with -region us-east-1")
	default:
		c.r.fail(step, fmt.Sprintf("STS answered %s: %s", code, msg), "correct what STS names, then run check again")
	}
}

// explainRoleDenied reports an AccessDenied answer to AssumeRole. STS gives the same answer
// when the role's trust policy does not name the caller, when the ExternalId is missing or
// wrong, and when the role does not exist, so it says which looks likely and gives the
// trust policy statement that admits the caller.
func (c *checker) explainRoleDenied(msg string) {
	const step = "assume-role"
	d := parseDenial(msg)
	who := "the caller"
	if d.caller != "" {
		who = d.caller
	}
	role := c.o.roleARN
	switch {
	case strings.Contains(d.why, "identity-based policy"):
		c.r.fail(step, fmt.Sprintf("STS denied %s the role %s: no policy of the caller in the usage account allows sts:AssumeRole on it", who, role),
			"in the usage account, allow it (step 2 of CROSS-ACCOUNT.md):",
			fmt.Sprintf(`aws iam put-role-policy --role-name %s --policy-name assume-dynamostore-sessions --policy-document '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "%s"}]}'`,
				callerRoleName(d.caller), role))
		return
	case strings.Contains(d.why, "explicit deny"):
		c.r.fail(step, fmt.Sprintf("STS denied %s the role %s: %s", who, role, d.why),
			"remove or narrow the deny it names (a service control policy, a permissions boundary or a policy of the caller), then run check again")
		return
	}
	principal, principalNote := trustPrincipal(d.caller)
	var what, first string
	condition := `"Condition": {"StringEquals": {"sts:ExternalId": "<the value you pass with -external-id>"}}`
	if c.o.externalID == "" {
		what = fmt.Sprintf("STS denied %s the role %s, and no ExternalId was passed: it looks like the role's trust policy requires one "+
			"(CROSS-ACCOUNT.md's does); otherwise the trust policy does not name %s, or the role does not exist", who, role, who)
		first = "pass the ExternalId of the trust policy's sts:ExternalId condition with -external-id (or EXTERNAL_ID); " +
			"if the trust policy has no such condition, add to it, in the table account, this statement (and pass the same ExternalId):"
	} else {
		what = fmt.Sprintf("STS denied %s the role %s with the ExternalId passed: it looks like either the role's trust policy does not name %s, "+
			"or its sts:ExternalId condition holds another value (STS does not say which; the role may also not exist)", who, role, who)
		first = "in the table account, the trust policy of the role must hold this statement, with the ExternalId you pass:"
	}
	fix := []string{first,
		"{",
		`  "Effect": "Allow",`,
		fmt.Sprintf(`  "Principal": {"AWS": "%s"},`, principal),
		`  "Action": "sts:AssumeRole",`,
		"  " + condition,
		"}",
		fmt.Sprintf("see the trust policy with `aws iam get-role --role-name %s --query Role.AssumeRolePolicyDocument`, "+
			"and replace it with `aws iam update-assume-role-policy --role-name %s --policy-document file://trust.json` (keep its other statements)",
			roleName(role), roleName(role)),
	}
	c.r.fail(step, what, fix...)
	if principalNote != "" {
		c.r.note(principalNote)
	}
	if d.caller == "" {
		c.r.note("(STS's answer does not name the caller: `aws sts get-caller-identity` prints it)")
	}
}

// trustPrincipal returns the principal a trust policy names for caller: the role of an
// assumed-role session, else caller itself. The note explains a conversion.
func trustPrincipal(caller string) (principal, note string) {
	if caller == "" {
		return "arn:aws:iam::USAGE_ACCOUNT:role/USAGE_ROLE_NAME", ""
	}
	a, err := arn.Parse(caller)
	if err != nil || a.Service != "sts" || !strings.HasPrefix(a.Resource, "assumed-role/") {
		return caller, ""
	}
	name, _, _ := strings.Cut(strings.TrimPrefix(a.Resource, "assumed-role/"), "/")
	principal = fmt.Sprintf("arn:%s:iam::%s:role/%s", a.Partition, a.AccountID, name)
	return principal, fmt.Sprintf("(%s is a session of the role %s: the trust policy names the role, with its path if it has one)", caller, principal)
}

// callerRoleName returns the role name of a caller ARN, for commands in the usage account.
func callerRoleName(caller string) string {
	if p, _ := trustPrincipal(caller); strings.Contains(p, ":role/") && caller != "" {
		return roleName(p)
	}
	return "USAGE_ROLE_NAME"
}

// roleName returns the name of a role from its ARN (without the path).
func roleName(roleARN string) string {
	return roleARN[strings.LastIndex(roleARN, "/")+1:]
}

// describeTable checks that the table exists and has the key the store needs. It returns
// false, with the step that failed, when the later steps would be meaningless.
func (c *checker) describeTable(ctx context.Context) (string, bool) {
	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	out, err := c.client.DescribeTable(callCtx, &dynamodb.DescribeTableInput{TableName: aws.String(c.table.String())})
	if err != nil {
		code, msg := apiError(err)
		switch code {
		case "ResourceNotFoundException":
			c.failNoTable("table", msg)
			return "table", false
		case "AccessDeniedException":
			c.r.skip("table", c.subject()+" may not call dynamodb:DescribeTable, so check cannot see the table's key schema "+
				"(the store does not need this action; the store's calls below still test the table)",
				fmt.Sprintf("add dynamodb:DescribeTable on %s %s to let check verify the key (CROSS-ACCOUNT.md's policy has it)", c.table, c.grantWhere()))
			return "", true
		}
		c.r.fail("table", "DescribeTable failed: "+describe(err), "correct what DynamoDB names, then run check again")
		return "table", false
	}
	t := out.Table
	switch t.TableStatus {
	case types.TableStatusActive, types.TableStatusUpdating:
	case types.TableStatusCreating:
		c.r.fail("table", fmt.Sprintf("table %s is still being created", c.table.Table),
			fmt.Sprintf("wait for it: aws dynamodb wait table-exists --table-name %s --region %s (in the table account), then run check again", c.table.Table, c.table.Region))
		return "table", false
	default:
		c.r.fail("table", fmt.Sprintf("table %s is %s, not ACTIVE", c.table.Table, t.TableStatus),
			fmt.Sprintf("see why in the table account: aws dynamodb describe-table --table-name %s --region %s", c.table.Table, c.table.Region))
		return "table", false
	}
	c.r.pass("table", fmt.Sprintf("table %s exists (%s)", c.table.Table, t.TableStatus))

	pk := c.o.partitionKey
	found, single := keySchema(t)
	if single != pk || attributeType(t, pk) != types.ScalarAttributeTypeS {
		c.r.fail("key-schema", fmt.Sprintf("the table's key is %s; the store needs a single hash key %s of type S", found, pk),
			fmt.Sprintf("a table's key cannot be changed: create another table in the table account (`dynamostore create-table -region %s NAME`, "+
				"or `%s`), give the role access to it, and use its ARN", c.table.Region, createTableCommand("NAME", c.table.Region)))
		if single != "" && attributeType(t, single) == types.ScalarAttributeTypeS {
			c.r.note(fmt.Sprintf("or, if the application sets dynamostore.WithPartitionKey(%q), run check with -partition-key %s", single, single))
		}
		return "key-schema", false
	}
	c.r.pass("key-schema", fmt.Sprintf("a single hash key %s of type S", pk))
	return "", true
}

// keySchema describes a table's key, such as "pk (HASH, S), sk (RANGE, N)", and returns the
// name of its hash key when it is the only key attribute.
func keySchema(t *types.TableDescription) (found, single string) {
	var parts []string
	for _, k := range t.KeySchema {
		name := aws.ToString(k.AttributeName)
		parts = append(parts, fmt.Sprintf("%s (%s, %s)", name, k.KeyType, attributeType(t, name)))
	}
	if len(t.KeySchema) == 1 && t.KeySchema[0].KeyType == types.KeyTypeHash {
		single = aws.ToString(t.KeySchema[0].AttributeName)
	}
	if len(parts) == 0 {
		return "empty", ""
	}
	return strings.Join(parts, ", "), single
}

func attributeType(t *types.TableDescription, name string) types.ScalarAttributeType {
	for _, d := range t.AttributeDefinitions {
		if aws.ToString(d.AttributeName) == name {
			return d.AttributeType
		}
	}
	return ""
}

func createTableCommand(name, region string) string {
	return fmt.Sprintf("aws dynamodb create-table --table-name %s --attribute-definitions AttributeName=id,AttributeType=S "+
		"--key-schema AttributeName=id,KeyType=HASH --billing-mode PAY_PER_REQUEST --region %s", name, region)
}

func (c *checker) failNoTable(step, msg string) {
	c.r.fail(step, fmt.Sprintf("table %s does not exist in account %s, region %s (DynamoDB: %s)", c.table.Table, c.table.Account, c.table.Region, msg),
		fmt.Sprintf("create it in the table account: `dynamostore create-table -region %s %s`, or `%s` and then `%s`",
			c.table.Region, c.table.Table, createTableCommand(c.table.Table, c.table.Region), ttlCommand(c.table.Table, c.table.Region, "true", ttlAttribute)),
		"(or correct the table ARN, if the table has another name, account or region)")
}

// ttlOn reports whether d says TTL is enabled, or being enabled, on attribute.
func ttlOn(d *types.TimeToLiveDescription, attribute string) bool {
	return d != nil && aws.ToString(d.AttributeName) == attribute &&
		(d.TimeToLiveStatus == types.TimeToLiveStatusEnabled || d.TimeToLiveStatus == types.TimeToLiveStatusEnabling)
}

func ttlCommand(table, region, enabled, attribute string) string {
	return fmt.Sprintf("aws dynamodb update-time-to-live --table-name %s --time-to-live-specification Enabled=%s,AttributeName=%s --region %s",
		table, enabled, attribute, region)
}

// checkTTL checks that TTL is on the expires attribute. A denied DescribeTimeToLive is a SKIP:
// the store does not need it, and CROSS-ACCOUNT.md's policy does not grant it.
func (c *checker) checkTTL(ctx context.Context) {
	const step = "ttl"
	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	out, err := c.client.DescribeTimeToLive(callCtx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(c.table.String())})
	if err != nil {
		if code, _ := apiError(err); code == "AccessDeniedException" {
			c.r.skip(step, c.subject()+" may not call dynamodb:DescribeTimeToLive, so check cannot see whether TTL is on expires. "+
				"The store does not need this action: it refuses expired sessions itself, TTL only removes their items",
				fmt.Sprintf("check by hand, with the table account's credentials: aws dynamodb describe-time-to-live --table-name %s --region %s "+
					"(want TimeToLiveStatus ENABLED and AttributeName expires)", c.table.Table, c.table.Region),
				fmt.Sprintf("or add dynamodb:DescribeTimeToLive on %s %s, and check verifies it", c.table, c.grantWhere()))
			return
		}
		c.r.fail(step, "DescribeTimeToLive failed: "+describe(err), "correct what DynamoDB names, then run check again")
		return
	}
	var status types.TimeToLiveStatus = types.TimeToLiveStatusDisabled
	attr := ""
	if d := out.TimeToLiveDescription; d != nil {
		if d.TimeToLiveStatus != "" {
			status = d.TimeToLiveStatus
		}
		attr = aws.ToString(d.AttributeName)
	}
	on := status == types.TimeToLiveStatusEnabled || status == types.TimeToLiveStatusEnabling
	byHand := "(with the table account's credentials: TTL cannot be changed from another account)"
	switch {
	case on && attr == ttlAttribute:
		c.r.pass(step, fmt.Sprintf("TTL is %s on expires", strings.ToLower(string(status))))
	case on:
		c.r.fail(step, fmt.Sprintf("TTL is on the attribute %s, not on expires, where the store keeps each session's expiry: expired sessions stay in the table", attr),
			ttlCommand(c.table.Table, c.table.Region, "false", attr)+" && "+ttlCommand(c.table.Table, c.table.Region, "true", ttlAttribute),
			"(a table has one TTL attribute, so turn it off on "+attr+" first) "+byHand)
	default:
		c.r.fail(step, fmt.Sprintf("TTL is %s on the table: expired sessions stay in it (the store refuses them, but they are never removed)", strings.ToLower(string(status))),
			ttlCommand(c.table.Table, c.table.Region, "true", ttlAttribute), byHand)
	}
}

// apiError returns the code and message of an AWS error answer, or "" when err is not one.
func apiError(err error) (code, msg string) {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode(), apiErr.ErrorMessage()
	}
	return "", ""
}

// describe returns "Code: message" for an AWS error answer, else the error's text.
func describe(err error) string {
	if code, msg := apiError(err); code != "" {
		return code + ": " + msg
	}
	return err.Error()
}
