package main

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/dynamostore/dynamostore"
)

// CROSS-ACCOUNT.md's hardening for a shared table is a dynamodb:LeadingKeys condition on the
// role's item statement. Run check without -key-prefix against it and every item call is
// denied with AWS's usual "no identity-based policy allows" answer, although the actions are
// all in the policy. check then prints, as "the exact fix", a put-role-policy command that
// REPLACES the policy dynamostore-sessions with one unconditional statement: pasting it makes
// the probe pass and silently removes the LeadingKeys condition (and any other statement of
// that policy, such as a KMS grant). A fix line must never be a whole-policy replacement that
// can loosen a policy check has not seen.
func TestItemDenialFixNeverReplacesThePolicy(t *testing.T) {
	const tableARN = "arn:aws:dynamodb:us-east-1:444455556666:table/sessions"
	table, err := dynamostore.ParseTableARN(tableARN)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c := &checker{
		o:     checkOptions{tableARN: tableARN, roleARN: "arn:aws:iam::444455556666:role/dynamostore-sessions", partitionKey: "id", keyPrefix: "session#"},
		r:     &reporter{w: &out},
		table: table,
	}
	denied := &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "User: arn:aws:sts::444455556666:assumed-role/dynamostore-sessions/dynamostore-check " +
		"is not authorized to perform: dynamodb:PutItem on resource: " + tableARN + " because no identity-based policy allows the dynamodb:PutItem action"}
	p := &probe{c: c, rec: &recorder{partitionKey: "id", items: map[string]bool{}}, prefix: "session#", explained: map[string]string{}}
	p.report("save-new", 0, failed("Save", &dynamostore.OpError{Op: "PutItem", Table: tableARN, Err: denied}))
	t.Log(out.String())
	if strings.Contains(out.String(), "put-role-policy") && !strings.Contains(out.String(), "LeadingKeys\"") {
		t.Errorf("the fix replaces the role's policy with one that has no dynamodb:LeadingKeys condition:\n%s", out.String())
	}
}

// create-table with a table ARN of another account (the table account's ARN, run by mistake
// with the usage account's credentials) creates the table in the wrong account first, and only
// then compares accounts and asks the operator to delete it (createtable.go). The account of
// the credentials can be known before any write (sts:GetCallerIdentity), so a mismatch must
// stop before CreateTable. Here one fake server answers STS and DynamoDB for account
// 111111111111 while the ARN names 444455556666.
func TestCreateTableWrongAccountCreatesNothing(t *testing.T) {
	var mu sync.Mutex
	var ops []string
	created := false
	const arnHere = "arn:aws:dynamodb:us-east-1:111111111111:table/sessions"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		target := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
		if target == "" { // STS, Query protocol
			form, _ := url.ParseQuery(string(body))
			mu.Lock()
			ops = append(ops, "sts:"+form.Get("Action"))
			mu.Unlock()
			w.Header().Set("Content-Type", "text/xml")
			fmt.Fprint(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>`+
				`<Arn>arn:aws:iam::111111111111:user/ops</Arn><UserId>AIDAEXAMPLE</UserId><Account>111111111111</Account>`+
				`</GetCallerIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`)
			return
		}
		mu.Lock()
		ops = append(ops, target)
		if target == "CreateTable" {
			created = true
		}
		exists := created
		mu.Unlock()
		table := `{"TableName":"sessions","TableStatus":"ACTIVE","TableArn":"` + arnHere + `",` +
			`"KeySchema":[{"AttributeName":"id","KeyType":"HASH"}],"AttributeDefinitions":[{"AttributeName":"id","AttributeType":"S"}]}`
		status, answer := http.StatusOK, `{}`
		switch {
		case target == "DescribeTable" && !exists:
			status, answer = http.StatusBadRequest, `{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"Requested resource not found"}`
		case target == "DescribeTable":
			answer = `{"Table":` + table + `}`
		case target == "CreateTable":
			answer = `{"TableDescription":` + table + `}`
		case target == "DescribeTimeToLive":
			answer = `{"TimeToLiveDescription":{"TimeToLiveStatus":"ENABLED","AttributeName":"expires"}}`
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(answer))), 10))
		w.WriteHeader(status)
		fmt.Fprint(w, answer)
	}))
	defer srv.Close()
	isolateAWS(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secretsecretsecret")
	t.Setenv("AWS_ENDPOINT_URL_STS", srv.URL)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", srv.URL)

	r := runCmd(t, context.Background(), "create-table", "arn:aws:dynamodb:us-east-1:444455556666:table/sessions")
	if r.code == exitOK {
		t.Errorf("create-table succeeded for another account's ARN")
	}
	mu.Lock()
	defer mu.Unlock()
	if created {
		t.Errorf("create-table created the table in account 111111111111 although the ARN names 444455556666 (calls %v)", ops)
	}
}
