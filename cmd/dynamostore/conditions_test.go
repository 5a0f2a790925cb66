package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dynamostore/dynamostore/dynamostoretest"
)

// These tests run check against the test kit's gateway, which evaluates IAM policies with
// their conditions as DynamoDB does: under docs/iam.md's tightest policy check passes, and
// under that policy made narrower in one way, check fails where the store would, with the
// fix; the printed fix, applied, makes it pass.

// docsTableARN is the table ARN that docs/iam.md's policies name.
const docsTableARN = "arn:aws:dynamodb:us-east-1:444455556666:table/dynamostore-sessions"

// tightestPolicyJSON returns docs/iam.md's tightest policy, as printed there, for the table
// tableARN and the key prefix prefix.
func tightestPolicyJSON(t *testing.T, tableARN, prefix string) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "iam.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "<!-- tightest-policy")
	if !ok {
		t.Fatal("docs/iam.md has no tightest-policy marker")
	}
	_, after, ok = strings.Cut(after, "```json\n")
	body, _, ok2 := strings.Cut(after, "```")
	if !ok || !ok2 || !strings.Contains(body, docsTableARN) || !strings.Contains(body, `"session#*"`) {
		t.Fatal("docs/iam.md's tightest policy is not where it was, or names another table or prefix")
	}
	body = strings.ReplaceAll(body, docsTableARN, tableARN)
	return strings.ReplaceAll(body, `"session#*"`, `"`+prefix+`*"`)
}

func parsePolicy(t *testing.T, doc string) dynamostoretest.Policy {
	t.Helper()
	p, err := dynamostoretest.ParsePolicy([]byte(doc))
	if err != nil {
		t.Fatalf("policy %s: %v", doc, err)
	}
	return p
}

// newTableFixture is the cross-account set-up for a new table whose ARN the options need.
func newTableFixture(t *testing.T, opts func(tableARN string) dynamostoretest.CrossAccountOptions) *fixture {
	t.Helper()
	ddb := dynamostoretest.Client(t)
	table := dynamostoretest.NewTable(t, ddb)
	return startFixture(t, ddb, table, opts("arn:aws:dynamodb:us-east-1:"+dynamostoretest.TableAccount+":table/"+table))
}

// newPolicyFixture is the set-up whose role has the policy doc (built from the table ARN).
func newPolicyFixture(t *testing.T, doc func(tableARN string) string) *fixture {
	t.Helper()
	return newTableFixture(t, func(tableARN string) dynamostoretest.CrossAccountOptions {
		p := parsePolicy(t, doc(tableARN))
		return dynamostoretest.CrossAccountOptions{Policy: &p}
	})
}

// setRolePolicy replaces the role's permission policy, as put-role-policy does.
func (f *fixture) setRolePolicy(t *testing.T, doc string) {
	t.Helper()
	f.STS.AddRole(dynamostoretest.Role{ARN: f.RoleARN, Trusted: []string{f.App.ARN}, ExternalID: f.ExternalID, Policy: parsePolicy(t, doc)})
}

// applyPrinted replaces, in the policy doc, the first match of pattern with what check
// printed for it: the fix, as an operator would paste it.
func applyPrinted(t *testing.T, doc, printed, pattern string) string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	fix := re.FindString(printed)
	if fix == "" {
		t.Fatalf("check printed no %s", pattern)
	}
	if !re.MatchString(doc) {
		t.Fatalf("the policy has no %s", pattern)
	}
	done := false
	return re.ReplaceAllStringFunc(doc, func(s string) string {
		if done {
			return s
		}
		done = true
		return fix
	})
}

// wantAllProbeSteps checks that every step of the store's calls, and the cleanup, passed.
func wantAllProbeSteps(t *testing.T, r result) {
	t.Helper()
	for _, step := range append(probeSteps, "cleanup") {
		wantStatus(t, r.stdout, step, "PASS")
	}
}

// Under docs/iam.md's tightest policy, check passes: the store's calls meet every condition
// (only DescribeTable and DescribeTimeToLive, which the policy does not grant, are SKIPs), and
// the gateway refused none of the store's calls.
func TestCheckPassesUnderTheTightestPolicy(t *testing.T) {
	f := newPolicyFixture(t, func(arn string) string { return tightestPolicyJSON(t, arn, "session#") })
	r := f.check(t)
	wantCode(t, r, exitOK)
	wantStatus(t, r.stdout, "table", "SKIP")
	wantStatus(t, r.stdout, "ttl", "SKIP")
	wantAllProbeSteps(t, r)
	n := 6 + len(probeSteps) // table-arn, role-arn, credentials, assume-role, table, ttl, the probe, cleanup
	wantContains(t, r.stdout, fmt.Sprintf("OK: %d of %d steps passed, 2 skipped", n-1, n+1))
	if got := f.Gateway.Stats().Rejected; got["AccessDeniedException"] != 2 || len(got) != 1 {
		t.Errorf("the gateway rejected %v: want only DescribeTable and DescribeTimeToLive", got)
	}
	if left := f.items(t); len(left) != 0 {
		t.Errorf("items left in the table: %v", left)
	}
}

// The tightest policy confined to another prefix refuses the store's first write: check
// fails at save-new with the call (its key under session#) and the LeadingKeys fix, and
// passes when either half of the fix is applied: -key-prefix set to the policy's prefix, or
// the printed LeadingKeys condition pasted into the policy.
func TestCheckLeadingKeysFix(t *testing.T) {
	var doc string
	f := newPolicyFixture(t, func(arn string) string { doc = tightestPolicyJSON(t, arn, "other#"); return doc })
	r := f.check(t)
	wantCode(t, r, exitFail)
	wantStatus(t, r.stdout, "save-new", "FAIL")
	failed := stepBlock(r.stdout, "save-new")
	wantContains(t, failed,
		"Save failed: the role may not call dynamodb:PutItem as the store sends it (AWS: no identity-based policy allows the dynamodb:PutItem action): "+
			"on a session item, key session#<hash>, ReturnValues NONE, attributes data, expires, id",
		"AWS does not say which condition refused it",
		`- a dynamodb:LeadingKeys condition admits the store's keys: "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["session#*"]}`,
		`(or, if the application's WithKeyPrefix is not "session#", run check with -key-prefix set to it)`,
		"docs/iam.md's tightest policy")

	r = f.check(t, "-key-prefix", "other#")
	wantCode(t, r, exitOK)
	wantAllProbeSteps(t, r)
	wantContains(t, stepLine(r.stdout, "kv-set"), "under other#dynamostore-check#")

	f.setRolePolicy(t, applyPrinted(t, doc, failed, `"dynamodb:LeadingKeys": \[[^\]]*\]`))
	r = f.check(t)
	wantCode(t, r, exitOK)
	wantAllProbeSteps(t, r)
	if left := f.items(t); len(left) != 0 {
		t.Errorf("items left in the table: %v", left)
	}
}

// A policy whose dynamodb:ReturnValues allows only NONE lets every session call through but
// refuses Login's UpdateItem of the user's item, which asks for ALL_NEW: the session steps
// pass and login fails with the ReturnValues fix, marked as the likely cause (the earlier
// UpdateItems had NONE). The old probe, with calls of its own and no ReturnValues, passed
// under this policy, although Login fails. The printed condition, pasted, makes check pass.
func TestCheckReturnValuesFix(t *testing.T) {
	var doc string
	f := newPolicyFixture(t, func(arn string) string {
		doc = strings.Replace(tightestPolicyJSON(t, arn, "session#"), `"dynamodb:ReturnValues": ["NONE", "ALL_NEW", "ALL_OLD"]`, `"dynamodb:ReturnValues": ["NONE"]`, 1)
		return doc
	})
	if !strings.Contains(doc, `["NONE"]`) {
		t.Fatal("docs/iam.md's ReturnValues condition changed: update this test")
	}
	r := f.check(t)
	wantCode(t, r, exitFail)
	for _, step := range []string{"save-new", "reload", "save-changed", "regenerate", "kv-set", "kv-get", "kv-remove", "delete", "cleanup"} {
		wantStatus(t, r.stdout, step, "PASS")
	}
	wantStatus(t, r.stdout, "login", "FAIL")
	wantContains(t, stepBlock(r.stdout, "login"),
		"Login failed: the role may not call dynamodb:UpdateItem as the store sends it",
		"on the probe user's item, key session#user#<hash>, ReturnValues ALL_NEW, attributes expires, id, sessions",
		"dynamodb:UpdateItem calls were allowed earlier in this run (step save-changed), so the likely cause is a condition on what this one has and they had not:",
		`- a dynamodb:ReturnValues condition admits ALL_NEW: "StringEqualsIfExists": {"dynamodb:ReturnValues": ["NONE", "ALL_NEW", "ALL_OLD"]}`,
		"<- likely: this call has ReturnValues ALL_NEW; the dynamodb:UpdateItem calls allowed had NONE")
	wantStatus(t, r.stdout, "login-again", "SKIP")
	if left := f.items(t); len(left) != 0 {
		t.Errorf("items left in the table: %v", left)
	}

	f.setRolePolicy(t, applyPrinted(t, doc, stepBlock(r.stdout, "login"), `"dynamodb:ReturnValues": \[[^\]]*\]`))
	r = f.check(t)
	wantCode(t, r, exitOK)
	wantAllProbeSteps(t, r)
}

// A policy whose dynamodb:Select allows only ALL_ATTRIBUTES refuses every GetItem of the
// store, which has a projection: the write passes, the reload fails with the Select fix, and
// the printed condition, pasted, makes check pass.
func TestCheckSelectFix(t *testing.T) {
	var doc string
	f := newPolicyFixture(t, func(arn string) string {
		doc = strings.Replace(tightestPolicyJSON(t, arn, "session#"), `"dynamodb:Select": "SPECIFIC_ATTRIBUTES"`, `"dynamodb:Select": "ALL_ATTRIBUTES"`, 1)
		return doc
	})
	r := f.check(t)
	wantCode(t, r, exitFail)
	wantStatus(t, r.stdout, "save-new", "PASS")
	wantStatus(t, r.stdout, "reload", "FAIL")
	wantContains(t, stepBlock(r.stdout, "reload"),
		"Store.Get failed: the role may not call dynamodb:GetItem as the store sends it",
		"with a ProjectionExpression (so dynamodb:Select is SPECIFIC_ATTRIBUTES)",
		`- a dynamodb:Select condition admits reads with a projection: "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"}`,
		"<- likely: every GetItem of the store has a projection")
	wantStatus(t, r.stdout, "cleanup", "PASS")

	f.setRolePolicy(t, applyPrinted(t, doc, stepBlock(r.stdout, "reload"), `"dynamodb:Select": "[A-Z_]+"`))
	r = f.check(t)
	wantCode(t, r, exitOK)
	wantAllProbeSteps(t, r)
}

// directARN is the application's principal when it calls the table with its own credentials.
const directARN = "arn:aws:iam::" + dynamostoretest.UsageAccount + ":role/dynamostore-direct"

// useDirectPrincipal makes a principal with the identity policy p the environment's
// credentials, and returns check's command line without a role.
func (f *fixture) useDirectPrincipal(t *testing.T, p dynamostoretest.Policy) []string {
	t.Helper()
	pr := f.STS.AddPrincipal(dynamostoretest.Principal{ARN: directARN, Policy: p})
	t.Setenv("AWS_ACCESS_KEY_ID", pr.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", pr.SecretAccessKey)
	return []string{"check", "-table-arn", f.TableARN}
}

// Without -role-arn, check uses the usage account's credentials directly, as
// NewCrossAccount(base, tableARN, "") does: with the table's resource-based policy admitting
// the usage account and an identity policy that is docs/iam.md's tightest, it passes and says
// that both policies must allow; an identity policy confined to another prefix fails with the
// identity policy's fix, naming the resource-based policy too; a resource-based policy that
// does not name the principal fails with the statement to add, which, added, makes it pass.
func TestCheckWithoutRole(t *testing.T) {
	t.Run("pass", func(t *testing.T) {
		f := newFixture(t, dynamostoretest.CrossAccountOptions{}) // a resource policy for the usage account
		identity := parsePolicy(t, tightestPolicyJSON(t, f.TableARN, "session#"))
		identity.Actions, identity.Resources = []string{"dynamodb:DescribeTable"}, []string{f.TableARN}
		r := runCmd(t, t.Context(), f.useDirectPrincipal(t, identity)...)
		wantCode(t, r, exitOK)
		for _, step := range []string{"table-arn", "credentials", "table", "key-schema"} {
			wantStatus(t, r.stdout, step, "PASS")
		}
		wantAllProbeSteps(t, r)
		if stepLine(r.stdout, "role-arn") != "" || stepLine(r.stdout, "assume-role") != "" {
			t.Error("a role step without a role")
		}
		wantContains(t, stepLine(r.stdout, "credentials"), "with no role (-role-arn and TABLE_ROLE_ARN unset)")
		wantContains(t, r.stdout, "the store can use table "+f.TableARN+
			" with no role: the table's resource-based policy and your identity policy must both allow each of its calls, and they did")
		if st := f.STS.Stats(); st.Issued != 0 {
			t.Errorf("STS issued %d credentials without a role", st.Issued)
		}
		if left := f.items(t); len(left) != 0 {
			t.Errorf("items left in the table: %v", left)
		}
	})

	t.Run("identity policy refuses", func(t *testing.T) {
		f := newFixture(t, dynamostoretest.CrossAccountOptions{})
		r := runCmd(t, t.Context(), f.useDirectPrincipal(t, parsePolicy(t, tightestPolicyJSON(t, f.TableARN, "other#")))...)
		wantCode(t, r, exitFail)
		wantStatus(t, r.stdout, "save-new", "FAIL")
		wantContains(t, stepBlock(r.stdout, "save-new"),
			directARN+" may not call dynamodb:PutItem as the store sends it (AWS: no identity-based policy allows the dynamodb:PutItem action)",
			"in the usage account, the identity policy of "+directARN+" must allow this call (docs/iam.md, mode 2)",
			`"dynamodb:LeadingKeys": ["session#*"]`,
			"the table's resource-based policy must allow the same call: with no role, it and your identity policy must both allow each call",
			"aws iam list-role-policies --role-name dynamostore-direct")
	})

	t.Run("resource policy refuses", func(t *testing.T) {
		var original string
		f := newTableFixture(t, func(tableARN string) dynamostoretest.CrossAccountOptions {
			original = `{"Sid": "OtherApp", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::` + dynamostoretest.UsageAccount + `:role/other-app"}, ` +
				`"Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"], "Resource": "` + tableARN + `"}`
			p := parsePolicy(t, `{"Version": "2012-10-17", "Statement": [`+original+`]}`)
			return dynamostoretest.CrossAccountOptions{ResourcePolicy: &p}
		})
		args := f.useDirectPrincipal(t, dynamostoretest.Policy{Actions: allActions, Resources: []string{f.TableARN}})
		r := runCmd(t, t.Context(), args...)
		wantCode(t, r, exitFail)
		wantStatus(t, r.stdout, "table", "SKIP")
		wantContains(t, stepBlock(r.stdout, "table"), "to your identity policy and to the table's resource-based policy")
		wantStatus(t, r.stdout, "save-new", "FAIL")
		block := stepBlock(r.stdout, "save-new")
		wantContains(t, block,
			"(AWS: no resource-based policy allows the dynamodb:PutItem action)",
			"in the table account, the table's resource-based policy must allow this call to "+directARN+" (docs/iam.md, mode 2)",
			"aws dynamodb get-resource-policy --resource-arn "+f.TableARN,
			"your identity policy in the usage account must allow the same call: with no role, the table's resource-based policy and your identity policy must both allow each call")

		// Add the printed statement to the table's resource policy, keeping the other one.
		statement := regexp.MustCompile(`\{"Sid": "DynamostoreSessions".*\}`).FindString(block)
		if statement == "" {
			t.Fatal("check printed no statement for the resource policy")
		}
		fixed := parsePolicy(t, `{"Version": "2012-10-17", "Statement": [`+original+`, `+statement+`]}`)
		gw, err := dynamostoretest.NewGateway(dynamostoretest.Endpoint(t), f.STS, dynamostoretest.GatewayOptions{Region: f.Region, ResourcePolicy: &fixed})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(gw.Close)
		t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", gw.URL)
		r = runCmd(t, t.Context(), args...)
		wantCode(t, r, exitOK)
		wantAllProbeSteps(t, r)
		if left := f.items(t); len(left) != 0 {
			t.Errorf("items left in the table: %v", left)
		}
	})
}

// A call the store only logs when it fails (the REMOVE that tidies the user's item after a
// revocation or a logout) does not fail its step, since the store does not fail either, but
// check notes it under the step, with the call as the store sent it.
func TestCheckNotesRefusedTidying(t *testing.T) {
	f := newPolicyFixture(t, func(arn string) string {
		doc := tightestPolicyJSON(t, arn, "session#")
		deny := `{"Sid": "NoTidying", "Effect": "Deny", "Action": "dynamodb:UpdateItem", "Resource": "` + arn + `", "Condition": {` +
			`"ForAnyValue:StringEquals": {"dynamodb:Attributes": ["sessions"]}, "StringEquals": {"dynamodb:ReturnValues": "NONE"}}},`
		return strings.Replace(doc, `"Statement": [`, `"Statement": [`+deny, 1)
	})
	r := f.check(t)
	wantCode(t, r, exitOK)
	wantAllProbeSteps(t, r)
	for _, step := range []string{"revoke-session", "delete"} {
		wantContains(t, stepBlock(r.stdout, step), "(the store logged a refused dynamodb:UpdateItem: on the probe user's item, key session#user#<hash>, "+
			"ReturnValues NONE, attributes id, sessions, which only tidies, so the step passed")
	}
}
