package dynamostoretest

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// request builds an evaluation request with these condition keys present (by any case of
// their names) and those unknown; any other key is absent.
func request(action, resource string, keys map[string][]string, unknown ...string) *evalRequest {
	lower := map[string][]string{}
	for k, v := range keys {
		lower[strings.ToLower(k)] = v
	}
	return &evalRequest{action: action, resource: resource, keys: func(key string) ([]string, keyState) {
		for _, u := range unknown {
			if strings.EqualFold(u, key) {
				return nil, keyUnknown
			}
		}
		if v, ok := lower[key]; ok {
			return v, keyPresent
		}
		return nil, keyAbsent
	}}
}

const testTable = "arn:aws:dynamodb:us-east-1:444455556666:table/t"

// Each operator and qualifier, on a present, absent, empty and unknown key, in an Allow and
// in a Deny statement, as the IAM User Guide describes them.
func TestConditionOperators(t *testing.T) {
	attrs := map[string][]string{"dynamodb:Attributes": {"id", "data"}}
	one := func(key, value string) map[string][]string { return map[string][]string{key: {value}} }
	none := map[string][]string{}
	empty := map[string][]string{"dynamodb:Attributes": {}}
	cases := []struct {
		name     string
		operator string
		key      string
		values   []string
		keys     map[string][]string
		unknown  string
		allow    bool // the condition holds in an Allow statement
		deny     bool // the condition holds in a Deny statement
	}{
		{"StringEquals match", "StringEquals", "dynamodb:ReturnValues", []string{"NONE", "ALL_OLD"}, one("dynamodb:ReturnValues", "ALL_OLD"), "", true, true},
		{"StringEquals is case-sensitive", "StringEquals", "dynamodb:ReturnValues", []string{"none"}, one("dynamodb:ReturnValues", "NONE"), "", false, false},
		{"StringEquals on an absent key", "StringEquals", "dynamodb:ReturnValues", []string{"NONE"}, none, "", false, false},
		{"StringEqualsIfExists on an absent key", "StringEqualsIfExists", "dynamodb:Select", []string{"SPECIFIC_ATTRIBUTES"}, none, "", true, true},
		{"StringEqualsIfExists on a present key", "StringEqualsIfExists", "dynamodb:Select", []string{"SPECIFIC_ATTRIBUTES"}, one("dynamodb:Select", "ALL_ATTRIBUTES"), "", false, false},
		{"StringNotEquals: none of the values", "StringNotEquals", "dynamodb:ReturnValues", []string{"ALL_OLD", "ALL_NEW"}, one("dynamodb:ReturnValues", "NONE"), "", true, true},
		{"StringNotEquals: one of the values (NOR)", "StringNotEquals", "dynamodb:ReturnValues", []string{"ALL_OLD", "ALL_NEW"}, one("dynamodb:ReturnValues", "ALL_NEW"), "", false, false},
		{"StringNotEquals on an absent key is true", "StringNotEquals", "dynamodb:ReturnValues", []string{"ALL_NEW"}, none, "", true, true},
		{"StringNotEqualsIfExists on an absent key", "StringNotEqualsIfExists", "dynamodb:ReturnValues", []string{"ALL_NEW"}, none, "", true, true},
		{"StringEqualsIgnoreCase", "StringEqualsIgnoreCase", "dynamodb:ReturnValues", []string{"all_new"}, one("dynamodb:ReturnValues", "ALL_NEW"), "", true, true},
		{"StringEqualsIgnoreCase on an absent key", "StringEqualsIgnoreCase", "dynamodb:ReturnValues", []string{"all_new"}, none, "", false, false},
		{"StringNotEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "dynamodb:ReturnValues", []string{"all_new"}, one("dynamodb:ReturnValues", "ALL_NEW"), "", false, false},
		{"StringNotEqualsIgnoreCase other", "StringNotEqualsIgnoreCase", "dynamodb:ReturnValues", []string{"all_new"}, one("dynamodb:ReturnValues", "NONE"), "", true, true},
		{"StringLike *", "StringLike", "dynamodb:LeadingKeys", []string{"session#*"}, one("dynamodb:LeadingKeys", "session#abc"), "", true, true},
		{"StringLike ?", "StringLike", "dynamodb:LeadingKeys", []string{"user#??"}, one("dynamodb:LeadingKeys", "user#ab"), "", true, true},
		{"StringLike ? is one character", "StringLike", "dynamodb:LeadingKeys", []string{"user#??"}, one("dynamodb:LeadingKeys", "user#abc"), "", false, false},
		{"StringLike no wildcard is exact", "StringLike", "dynamodb:LeadingKeys", []string{"session#"}, one("dynamodb:LeadingKeys", "session#abc"), "", false, false},
		{"StringLike on an absent key", "StringLike", "dynamodb:LeadingKeys", []string{"*"}, none, "", false, false},
		{"StringNotLike", "StringNotLike", "dynamodb:LeadingKeys", []string{"admin#*"}, one("dynamodb:LeadingKeys", "session#abc"), "", true, true},
		{"StringNotLike matching", "StringNotLike", "dynamodb:LeadingKeys", []string{"admin#*", "session#*"}, one("dynamodb:LeadingKeys", "session#abc"), "", false, false},
		{"StringNotLike on an absent key", "StringNotLike", "dynamodb:LeadingKeys", []string{"admin#*"}, none, "", true, true},
		{"StringLikeIfExists on an absent key", "StringLikeIfExists", "dynamodb:LeadingKeys", []string{"x*"}, none, "", true, true},
		{"ArnLike", "ArnLike", "aws:PrincipalArn", []string{"arn:aws:iam::*:role/app-*"}, one("aws:PrincipalArn", "arn:aws:iam::111122223333:role/app-web"), "", true, true},
		{"ArnLike segments", "ArnLike", "aws:PrincipalArn", []string{"arn:aws:iam::*:role/app-*"}, one("aws:PrincipalArn", "arn:aws:iam::111122223333:user/app-web"), "", false, false},
		{"ArnEquals", "ArnEquals", "aws:PrincipalArn", []string{"arn:aws:iam::111122223333:role/app"}, one("aws:PrincipalArn", "arn:aws:iam::111122223333:role/app"), "", true, true},
		{"ArnNotLike", "ArnNotLike", "aws:PrincipalArn", []string{"arn:aws:iam::*:role/admin"}, one("aws:PrincipalArn", "arn:aws:iam::111122223333:role/app"), "", true, true},
		{"Null true on an absent key", "Null", "dynamodb:ReturnConsumedCapacity", []string{"true"}, none, "", true, true},
		{"Null true on a present key", "Null", "dynamodb:ReturnConsumedCapacity", []string{"true"}, one("dynamodb:ReturnConsumedCapacity", "TOTAL"), "", false, false},
		{"Null false on a present key", "Null", "dynamodb:ReturnConsumedCapacity", []string{"false"}, one("dynamodb:ReturnConsumedCapacity", "TOTAL"), "", true, true},
		{"Null false on an empty set", "Null", "dynamodb:Attributes", []string{"false"}, empty, "", false, false},
		{"Bool", "Bool", "dynamodb:FullTableScan", []string{"true"}, one("dynamodb:FullTableScan", "true"), "", true, true},
		{"Bool false", "Bool", "dynamodb:FullTableScan", []string{"false"}, one("dynamodb:FullTableScan", "true"), "", false, false},
		{"Bool on an absent key", "Bool", "dynamodb:FullTableScan", []string{"false"}, none, "", false, false},
		{"BoolIfExists on an absent key", "BoolIfExists", "dynamodb:FullTableScan", []string{"false"}, none, "", true, true},
		{"ForAllValues subset", "ForAllValues:StringEquals", "dynamodb:Attributes", []string{"id", "data", "expires"}, attrs, "", true, true},
		{"ForAllValues not a subset", "ForAllValues:StringEquals", "dynamodb:Attributes", []string{"id"}, attrs, "", false, false},
		{"ForAllValues on an absent key", "ForAllValues:StringEquals", "dynamodb:Attributes", []string{"id"}, none, "", true, true},
		{"ForAllValues on an empty set", "ForAllValues:StringEquals", "dynamodb:Attributes", []string{"id"}, empty, "", true, true},
		{"ForAllValues:StringLike", "ForAllValues:StringLike", "dynamodb:LeadingKeys", []string{"session#*"}, map[string][]string{"dynamodb:LeadingKeys": {"session#a", "session#b"}}, "", true, true},
		{"ForAllValues:StringLike one outside", "ForAllValues:StringLike", "dynamodb:LeadingKeys", []string{"session#*"}, map[string][]string{"dynamodb:LeadingKeys": {"session#a", "user#b"}}, "", false, false},
		{"ForAllValues:StringNotEquals none listed", "ForAllValues:StringNotEquals", "dynamodb:Attributes", []string{"secret"}, attrs, "", true, true},
		{"ForAllValues:StringNotEquals one listed", "ForAllValues:StringNotEquals", "dynamodb:Attributes", []string{"data"}, attrs, "", false, false},
		{"ForAllValues:StringNotEquals absent", "ForAllValues:StringNotEquals", "dynamodb:Attributes", []string{"data"}, none, "", true, true},
		{"ForAnyValue overlap", "ForAnyValue:StringEquals", "dynamodb:Attributes", []string{"data", "secret"}, attrs, "", true, true},
		{"ForAnyValue no overlap", "ForAnyValue:StringEquals", "dynamodb:Attributes", []string{"secret"}, attrs, "", false, false},
		{"ForAnyValue on an absent key", "ForAnyValue:StringEquals", "dynamodb:Attributes", []string{"id"}, none, "", false, false},
		{"ForAnyValue on an empty set", "ForAnyValue:StringEquals", "dynamodb:Attributes", []string{"id"}, empty, "", false, false},
		{"ForAnyValue IfExists on an absent key", "ForAnyValue:StringEqualsIfExists", "dynamodb:Attributes", []string{"id"}, none, "", true, true},
		{"ForAnyValue:StringNotEquals one unlisted", "ForAnyValue:StringNotEquals", "dynamodb:Attributes", []string{"id"}, attrs, "", true, true},
		{"ForAnyValue:StringNotEquals all listed", "ForAnyValue:StringNotEquals", "dynamodb:Attributes", []string{"id", "data"}, attrs, "", false, false},
		{"ForAnyValue:StringNotEquals absent", "ForAnyValue:StringNotEquals", "dynamodb:Attributes", []string{"id"}, none, "", false, false},
		{"ForAnyValue:StringLike", "ForAnyValue:StringLike", "dynamodb:Attributes", []string{"da*"}, attrs, "", true, true},
		{"ForAnyValue:StringNotLike", "ForAnyValue:StringNotLike", "dynamodb:Attributes", []string{"*a*"}, attrs, "", true, true},
		{"ForAllValues:StringEqualsIgnoreCase", "ForAllValues:StringEqualsIgnoreCase", "dynamodb:Attributes", []string{"ID", "DATA"}, attrs, "", true, true},
		// A plain operator on several values of a multivalued key: no documented outcome, so
		// an Allow needs every value, a Deny any.
		{"plain operator on a set", "StringEquals", "dynamodb:Attributes", []string{"data"}, attrs, "", false, true},
		{"plain negated operator on a set", "StringNotEquals", "dynamodb:Attributes", []string{"data"}, attrs, "", false, true},
		{"plain operator on a one-value set", "StringEquals", "dynamodb:LeadingKeys", []string{"k"}, one("dynamodb:LeadingKeys", "k"), "", true, true},
		// A key AWS sets but the kit could not compute: never allows, always denies.
		{"unknown key", "ForAllValues:StringLike", "dynamodb:LeadingKeys", []string{"*"}, none, "dynamodb:LeadingKeys", false, true},
		{"unknown key with IfExists", "StringEqualsIfExists", "dynamodb:Attributes", []string{"x"}, none, "dynamodb:Attributes", false, true},
		{"unknown key with Null", "Null", "dynamodb:Attributes", []string{"true"}, none, "dynamodb:Attributes", false, true},
		{"key names are case-insensitive", "StringEquals", "DynamoDB:returnvalues", []string{"NONE"}, one("dynamodb:ReturnValues", "NONE"), "", true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Condition{Operator: tc.operator, Key: tc.key, Values: tc.values}
			if err := c.validate(); err != nil {
				t.Fatal(err)
			}
			var unknown []string
			if tc.unknown != "" {
				unknown = append(unknown, tc.unknown)
			}
			r := request("dynamodb:GetItem", testTable, tc.keys, unknown...)
			if got := c.holds(r, false); got != tc.allow {
				t.Errorf("in an Allow: %v, want %v", got, tc.allow)
			}
			if got := c.holds(r, true); got != tc.deny {
				t.Errorf("in a Deny: %v, want %v", got, tc.deny)
			}
		})
	}
}

func mustParse(t *testing.T, doc string) Policy {
	t.Helper()
	p, err := ParsePolicy([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Keys and operators of one block are ANDed, the values of one key ORed; a Deny wins; an
// action matches case-insensitively, with wildcards; NotAction and NotResource invert.
func TestPolicyEvaluation(t *testing.T) {
	p := mustParse(t, `{
		"Version": "2012-10-17",
		"Statement": [
			{"Sid": "Items", "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:?utItem", "DynamoDB:update*"],
			 "Resource": "arn:aws:dynamodb:*:444455556666:table/t",
			 "Condition": {
				"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["a#*", "b#*"], "dynamodb:Attributes": ["id", "d*"]},
				"StringEqualsIfExists": {"dynamodb:ReturnValues": ["NONE", "UPDATED_NEW"]}
			 }},
			{"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*",
			 "Condition": {"ForAnyValue:StringEquals": {"dynamodb:Attributes": "secret"}}},
			{"Effect": "Allow", "NotAction": ["dynamodb:Delete*", "dynamodb:*Item"], "NotResource": "arn:aws:dynamodb:*:*:table/private"}
		]
	}`)
	allowed := func(action, resource string, keys map[string][]string) bool {
		v := p.evaluate(request(action, resource, keys), false)
		return v.allow && !v.deny
	}
	keys := func(leading, rv string, attrs ...string) map[string][]string {
		m := map[string][]string{"dynamodb:LeadingKeys": {leading}, "dynamodb:Attributes": attrs}
		if rv != "" {
			m["dynamodb:ReturnValues"] = []string{rv}
		}
		return m
	}
	cases := []struct {
		name, action, resource string
		keys                   map[string][]string
		want                   bool
	}{
		{"all conditions hold", "dynamodb:GetItem", testTable, keys("a#1", "", "id", "data"), true},
		{"second value of a key", "dynamodb:PutItem", testTable, keys("b#1", "NONE", "id", "data"), true},
		{"action case and wildcard", "dynamodb:UpdateItem", testTable, keys("a#1", "UPDATED_NEW", "id"), true},
		{"one key fails", "dynamodb:GetItem", testTable, keys("c#1", "", "id"), false},
		{"other key fails", "dynamodb:GetItem", testTable, keys("a#1", "", "id", "other"), false},
		{"other operator fails", "dynamodb:UpdateItem", testTable, keys("a#1", "ALL_NEW", "id"), false},
		{"? is one character", "dynamodb:OutputItem", testTable, keys("a#1", "", "id"), false},
		{"explicit deny wins", "dynamodb:GetItem", testTable, keys("a#1", "", "id", "secret"), false},
		{"other table", "dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:444455556666:table/u", keys("a#1", "", "id"), false},
		{"NotAction", "dynamodb:DescribeTable", testTable, nil, true},
		{"NotAction excludes", "dynamodb:DeleteTable", testTable, nil, false},
		{"NotResource excludes", "dynamodb:DescribeTable", "arn:aws:dynamodb:us-east-1:444455556666:table/private", nil, false},
	}
	for _, tc := range cases {
		if got := allowed(tc.action, tc.resource, tc.keys); got != tc.want {
			t.Errorf("%s: allowed %v, want %v", tc.name, got, tc.want)
		}
	}
	// The short form is one Allow statement without conditions, and Allows treats every
	// condition key as unknown.
	short := Policy{Actions: []string{"dynamodb:GetItem"}, Resources: []string{testTable}}
	if !short.Allows("dynamodb:GetItem", testTable) || short.Allows("dynamodb:PutItem", testTable) || short.Allows("dynamodb:GetItem", testTable+"x") {
		t.Error("short form")
	}
	if (Policy{Actions: []string{"dynamodb:*"}}).Allows("dynamodb:GetItem", testTable) {
		t.Error("a short form without Resources allows nothing")
	}
	if p.Allows("dynamodb:GetItem", testTable) {
		t.Error("Allows must not pass a statement whose conditions it cannot evaluate")
	}
	// A statement Validate refuses never allows, and denies everything unless it is an Allow.
	broken := Policy{Actions: []string{"dynamodb:GetItem"}, Resources: []string{"*"}, Statements: []Statement{{Effect: "deny", Actions: []string{"dynamodb:DeleteTable"}}}}
	if broken.Validate() == nil || broken.Allows("dynamodb:GetItem", testTable) {
		t.Error("an unreadable Deny statement must deny")
	}
	broken.Statements[0].Effect = Allow
	if !broken.Allows("dynamodb:GetItem", testTable) || broken.Allows("dynamodb:DeleteTable", testTable) {
		t.Error("an unreadable Allow statement must be ignored")
	}
	if p.Allows("dynamodb:DescribeTable", testTable) {
		t.Error("Allows: the conditional Deny on dynamodb:* must count, as its conditions are unknown")
	}
	if !(Policy{Statements: p.Statements[2:]}).Allows("dynamodb:DescribeTable", testTable) {
		t.Error("Allows: a statement without conditions")
	}
}

// Resource ARNs match with IAM's wildcards: within a segment, and beyond the colons only for
// a * that ends a segment.
func TestResourceWildcards(t *testing.T) {
	cases := []struct {
		pattern, resource string
		want              bool
	}{
		{"*", testTable, true},
		{"arn:aws:dynamodb:*", testTable, true},
		{"arn:aws:dynamodb:*:*:table/*", testTable, true},
		{"arn:aws:dynamodb:us-east-?:444455556666:table/t", testTable, true},
		{"arn:aws:dynamodb:us-*-1:444455556666:table/t", testTable, true},
		{"arn:aws:dynamodb:us*1:table/t", testTable, false}, // * inside a segment stops at a colon
		{"arn:aws:dynamodb:us-east-1:444455556666:table/t", testTable + "/index/i", false},
		{"arn:aws:dynamodb:us-east-1:444455556666:table/t*", testTable + "/index/i", true},
		{"arn:aws:dynamodb:us-east-1:444455556666:table/t/index/*", testTable + "/index/i", true},
		{"arn:aws:dynamodb:us-east-1:444455556666:table/T", testTable, false}, // case-sensitive
	}
	for _, tc := range cases {
		if got := resourceMatch(tc.pattern, tc.resource); got != tc.want {
			t.Errorf("%s ~ %s: %v, want %v", tc.pattern, tc.resource, got, tc.want)
		}
	}
}

// Resource-based statements match their Principal: anyone, an account (delegating), a user,
// a role and its sessions, or a session.
func TestPrincipalMatching(t *testing.T) {
	session := principalInfo{arn: "arn:aws:sts::111122223333:assumed-role/app/s1", account: "111122223333", role: "arn:aws:iam::111122223333:role/path/app"}
	user := principalInfo{arn: "arn:aws:iam::111122223333:user/u", account: "111122223333"}
	cases := []struct {
		principal      string
		who            principalInfo
		matched, viaAc bool
	}{
		{"*", session, true, false},
		{"111122223333", session, true, true},
		{"arn:aws:iam::111122223333:root", user, true, true},
		{"arn:aws:iam::111122223333:role/app", session, true, false}, // any path: AWS keys roles by ID
		{"arn:aws:iam::111122223333:role/other", session, false, false},
		{"arn:aws:iam::999988887777:role/app", session, false, false},
		{"arn:aws:sts::111122223333:assumed-role/app/s1", session, true, false},
		{"arn:aws:sts::111122223333:assumed-role/app/s2", session, false, false},
		{"arn:aws:iam::111122223333:user/u", user, true, false},
		{"arn:aws:iam::111122223333:user/v", user, false, false},
		{"999988887777", user, false, false},
	}
	for _, tc := range cases {
		m, a := Statement{Principals: []string{tc.principal}}.matchesPrincipal(tc.who)
		if m != tc.matched || a != tc.viaAc {
			t.Errorf("%s for %s: (%v, %v), want (%v, %v)", tc.principal, tc.who.arn, m, a, tc.matched, tc.viaAc)
		}
	}
}

// ParsePolicy reads IAM's forms and refuses, with a *PolicyError, what IAM refuses and what
// the kit does not evaluate.
func TestParsePolicy(t *testing.T) {
	p := mustParse(t, `{"Statement": {"Effect": "Deny", "Action": "dynamodb:DeleteTable", "Resource": "*",
		"Condition": {"Bool": {"dynamodb:FullTableScan": true}, "StringEquals": {"aws:PrincipalAccount": 111122223333}}}}`)
	if len(p.Statements) != 1 || p.Statements[0].Effect != Deny || !slices.Equal(p.Statements[0].Actions, []string{"dynamodb:DeleteTable"}) {
		t.Fatalf("%+v", p)
	}
	for _, c := range p.Statements[0].Conditions {
		if want := map[string]string{"Bool": "true", "StringEquals": "111122223333"}[c.Operator]; !slices.Equal(c.Values, []string{want}) {
			t.Errorf("%s: values %q, want %q", c.Operator, c.Values, want)
		}
	}
	p = mustParse(t, `{"Version": "2008-10-17", "Id": "x", "Statement": [{"Sid": "a", "Effect": "Allow",
		"Principal": {"AWS": ["arn:aws:iam::111122223333:role/app", "111122223333"]}, "Action": ["dynamodb:GetItem"],
		"Resource": ["arn:aws:dynamodb:us-east-1:444455556666:table/t"], "Condition": {"StringLike": {"dynamodb:LeadingKeys": "${literal}"}}}]}`)
	if got := p.Statements[0].Principals; len(got) != 2 {
		t.Errorf("principals %q", got)
	}

	valid := `"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"`
	bad := []struct{ name, doc, want string }{
		{"not JSON", `{`, "unexpected end of JSON input"},
		{"not JSON either", `{"a" 1}`, "Malformed JSON"},
		{"not an object", `[]`, "Start of structure"},
		{"unknown top-level member", `{"Version": "2012-10-17", "Statements": []}`, `unknown member "Statements"`},
		{"member case", `{"statement": {` + valid + `}}`, `unknown member "statement"`},
		{"no Statement", `{"Version": "2012-10-17"}`, "Statement is missing"},
		{"empty Statement", `{"Statement": []}`, "Statement is empty"},
		{"bad Version", `{"Version": "2020-01-01", "Statement": {` + valid + `}}`, "Version must be"},
		{"duplicate member", `{"Statement": {` + valid + `, "Effect": "Deny"}}`, "Duplicate member"},
		{"unknown statement member", `{"Statement": {` + valid + `, "Conditions": {}}}`, `unknown member "Conditions"`},
		{"lower-case effect", `{"Statement": {"Effect": "allow", "Action": "dynamodb:GetItem", "Resource": "*"}}`, "Effect must be"},
		{"no Effect", `{"Statement": {"Action": "dynamodb:GetItem", "Resource": "*"}}`, "Effect must be"},
		{"no Action", `{"Statement": {"Effect": "Allow", "Resource": "*"}}`, "exactly one of Action and NotAction"},
		{"Action and NotAction", `{"Statement": {` + valid + `, "NotAction": "dynamodb:PutItem"}}`, "exactly one of Action and NotAction"},
		{"no Resource", `{"Statement": {"Effect": "Allow", "Action": "dynamodb:GetItem"}}`, "exactly one of Resource and NotResource"},
		{"empty Action list", `{"Statement": {"Effect": "Allow", "Action": [], "Resource": "*"}}`, "non-empty array"},
		{"bad action", `{"Statement": {"Effect": "Allow", "Action": "GetItem", "Resource": "*"}}`, "not service:action"},
		{"bad resource", `{"Statement": {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "table/t"}}`, "not an ARN"},
		{"NotPrincipal", `{"Statement": {` + valid + `, "NotPrincipal": {"AWS": "111122223333"}}}`, "NotPrincipal is not supported"},
		{"service principal", `{"Statement": {` + valid + `, "Principal": {"Service": "lambda.amazonaws.com"}}}`, `principal type "Service" is not supported`},
		{"wildcard principal", `{"Statement": {` + valid + `, "Principal": {"AWS": "arn:aws:iam::111122223333:role/*"}}}`, "wildcards are not allowed"},
		{"bad principal", `{"Statement": {` + valid + `, "Principal": {"AWS": "app"}}}`, "is not *, an account ID"},
		{"unsupported operator", `{"Statement": {` + valid + `, "Condition": {"NumericLessThan": {"dynamodb:Attributes": "1"}}}}`, `condition operator "NumericLessThan" is not supported`},
		{"misspelt operator", `{"Statement": {` + valid + `, "Condition": {"StringEqual": {"dynamodb:Attributes": "a"}}}}`, `condition operator "StringEqual" is not supported`},
		{"operator case", `{"Statement": {` + valid + `, "Condition": {"stringequals": {"dynamodb:Attributes": "a"}}}}`, `condition operator "stringequals" is not supported`},
		{"unknown qualifier", `{"Statement": {` + valid + `, "Condition": {"ForEachValue:StringEquals": {"dynamodb:Attributes": "a"}}}}`, "is not supported"},
		{"qualified Null", `{"Statement": {` + valid + `, "Condition": {"ForAllValues:Null": {"dynamodb:Attributes": "true"}}}}`, "Null takes no qualifier"},
		{"NullIfExists", `{"Statement": {` + valid + `, "Condition": {"NullIfExists": {"dynamodb:Attributes": "true"}}}}`, "Null takes no qualifier"},
		{"unsupported key", `{"Statement": {` + valid + `, "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}}`, "is not supported"},
		{"unknown key", `{"Statement": {` + valid + `, "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}}}`, `condition key "aws:SourceVpce" is not supported`},
		{"Bool value", `{"Statement": {` + valid + `, "Condition": {"Bool": {"dynamodb:FullTableScan": "yes"}}}}`, "is not true or false"},
		{"object value", `{"Statement": {` + valid + `, "Condition": {"StringEquals": {"dynamodb:Select": {"a": 1}}}}}`, "a value must be"},
		{"empty values", `{"Statement": {` + valid + `, "Condition": {"StringEquals": {"dynamodb:Select": []}}}}`, "a value must be"},
		{"empty operator block", `{"Statement": {` + valid + `, "Condition": {"StringEquals": {}}}}`, "must hold an object"},
		{"policy variable", `{"Version": "2012-10-17", "Statement": {` + valid + `, "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": "${aws:userid}"}}}}`, "policy variables are not supported"},
		{"character outside IAM's set", `{"Statement": {` + valid + `, "Sid": "été€"}}`, "is not allowed in a policy document"},
	}
	for _, tc := range bad {
		_, err := ParsePolicy([]byte(tc.doc))
		var pe *PolicyError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want a *PolicyError containing %q", tc.name, err, tc.want)
		}
	}
}

// The top-level attribute names of DynamoDB expressions, for dynamodb:Attributes.
func TestExpressionAttributes(t *testing.T) {
	names := map[string]string{"#s": "sessions", "#h": "handle", "#k": "keys", "#e": "expires", "#d": "data", "#n": "secret", "#l": "list"}
	cases := []struct {
		kind, expr string
		want       []string // nil: an error
	}{
		{"update", "SET #s.#h = :v, #e = :e", []string{"expires", "sessions"}},
		{"update", "SET #d = :d, #e = :e REMOVE #w", nil}, // #w undefined
		{"update", "set a = :a remove b, c.d[3] add e :one delete f :set", []string{"a", "b", "c", "e", "f"}},
		{"update", "SET #l = list_append(if_not_exists(#l, :empty), :new), n = n + :one, m = :x - o", []string{"list", "m", "n", "o"}},
		{"update", "SET #d = if_not_exists(#n.x, :v)", []string{"data", "secret"}},
		{"update", "REMOVE #s.#h.#k.#n", []string{"sessions"}},
		{"update", "SET a = :a SETX b = :b", nil},
		{"update", "SET = :a", nil},
		{"update", "", nil},
		{"condition", "attribute_exists(#s) AND (attribute_not_exists(#e) OR #e <= :e)", []string{"expires", "sessions"}},
		{"condition", "attribute_exists(#k) AND #e > :now AND attribute_not_exists(#n) AND begins_with(#d, :h)", []string{"data", "expires", "keys", "secret"}},
		{"condition", "NOT a BETWEEN :lo AND :hi OR b IN (:x, c, :y) AND size(d.e) >= :n", []string{"a", "b", "c", "d"}},
		{"condition", "contains(tags, :t) and attribute_type(x[0], :s) or #s.#h <> :v", []string{"sessions", "tags", "x"}},
		{"condition", "a = :a b", nil},
		{"condition", "attribute_exists(:v)", nil},
		{"condition", "a BETWEEN :x", nil},
		{"condition", "(a = :a", nil},
		{"condition", "a ! :b", nil},
		{"condition", "and = :a", nil},
		{"projection", "#d, expires, #s.#h[2].x", []string{"data", "expires", "sessions"}},
		{"projection", "a,", nil},
		{"projection", "#x", nil},
	}
	for _, tc := range cases {
		out := map[string]bool{}
		err := exprAttributes(tc.kind, tc.expr, names, out)
		if tc.want == nil {
			if err == nil {
				t.Errorf("%s %q: no error", tc.kind, tc.expr)
			}
			continue
		}
		var got []string
		for n := range out {
			got = append(got, n)
		}
		slices.Sort(got)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s %q: %q, %v; want %q", tc.kind, tc.expr, got, err, tc.want)
		}
	}
}

// FuzzParsePolicy: ParsePolicy never panics, what it accepts is valid, and evaluating it
// never panics.
func FuzzParsePolicy(f *testing.F) {
	f.Add(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:*","Resource":"*","Condition":{"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["a*"]}}}]}`)
	f.Add(`{"Statement":{"Effect":"Deny","NotAction":["dynamodb:Get?tem"],"NotResource":"arn:aws:dynamodb:*:*:table/x","Principal":"*","Condition":{"Null":{"dynamodb:Select":"true"},"ForAnyValue:StringNotEqualsIfExists":{"dynamodb:Attributes":[1,true]}}}}`)
	f.Add(`{"Version":"2008-10-17","Id":"i","Statement":[{"Sid":"s","Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::111122223333:role/r"]},"Action":["dynamodb:GetItem"],"Resource":["arn:aws:dynamodb:us-east-1:444455556666:table/t*"]}]}`)
	f.Add(`{"Statement":[{"Effect":"Allow","Action":"x:y","Resource":"*","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:*:*:*:*:*"}}}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		p, err := ParsePolicy([]byte(doc))
		if err != nil {
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *PolicyError", err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted %q, which Validate refuses: %v", doc, err)
		}
		r := request("dynamodb:GetItem", testTable, map[string][]string{"dynamodb:Attributes": {"id", "x"}, "dynamodb:LeadingKeys": {"a#1"}}, "dynamodb:Select")
		r.who = principalInfo{arn: "arn:aws:iam::111122223333:user/u", account: "111122223333"}
		p.evaluate(r, false)
		p.evaluate(r, true)
		p.Allows("dynamodb:PutItem", testTable)
	})
}
