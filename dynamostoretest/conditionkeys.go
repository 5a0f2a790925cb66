package dynamostoretest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// This file computes the condition keys of a DynamoDB request from its body, as the DynamoDB
// Developer Guide describes them (specifying-conditions.html, "Using IAM policy conditions for
// fine-grained access control"):
//
//   - dynamodb:LeadingKeys "represents the first key attribute of a table, in other words, the
//     partition key": the partition key value of the item a GetItem, UpdateItem or DeleteItem
//     names in Key, or a PutItem writes in Item, as its wire text (a number's digits, a
//     binary's base64). The gateway learns the table's partition key with its own
//     DescribeTable to DynamoDB Local.
//   - dynamodb:Attributes "represents a list of the attribute names in a request": the
//     top-level names of Key or Item, of the ProjectionExpression, UpdateExpression and
//     ConditionExpression (#names resolved), and of the legacy AttributesToGet,
//     AttributeUpdates and Expected. Key attributes are included, which is why the guide asks
//     policies that use this key to list the key attributes.
//   - dynamodb:Select: for a read, the Select parameter, which "always has a value
//     (ALL_ATTRIBUTES, unless otherwise specified)": a GetItem has SPECIFIC_ATTRIBUTES with a
//     ProjectionExpression or AttributesToGet and ALL_ATTRIBUTES without; a Query or Scan its
//     Select, or the default DynamoDB applies (SPECIFIC_ATTRIBUTES with a projection,
//     ALL_PROJECTED_ATTRIBUTES on an index, ALL_ATTRIBUTES otherwise). Writes have none.
//   - dynamodb:ReturnValues: for PutItem, UpdateItem and DeleteItem, the ReturnValues
//     parameter, which "always has a value (NONE unless otherwise specified)" (the guide's
//     example 3 tests it with StringEquals on UpdateItem); reads have none.
//   - dynamodb:ReturnConsumedCapacity: the parameter when the request has it.
//   - dynamodb:EnclosingOperation, dynamodb:FullTableScan: set by AWS only inside
//     transactions and for PartiQL statements, which the kit does not analyse.
//   - aws:PrincipalArn (a role's ARN for its sessions), aws:PrincipalAccount,
//     aws:RequestedRegion.
//
// Where AWS sets a key the kit does not compute (LeadingKeys and Attributes of a Query, Scan,
// batch, transaction or PartiQL statement, for example), the key is unknown: a condition on
// it never lets an Allow apply and always lets a Deny apply.

// itemOperations are the single-item calls whose keys the gateway computes in full.
var itemOperations = map[string]bool{"GetItem": true, "PutItem": true, "UpdateItem": true, "DeleteItem": true}

// dataOperations are the calls AWS evaluates the dynamodb: item condition keys for.
var dataOperations = map[string]bool{
	"GetItem": true, "PutItem": true, "UpdateItem": true, "DeleteItem": true, "Query": true, "Scan": true,
	"BatchGetItem": true, "BatchWriteItem": true, "TransactGetItems": true, "TransactWriteItems": true,
	"ConditionCheckItem": true, "ExecuteStatement": true, "BatchExecuteStatement": true, "ExecuteTransaction": true,
}

// conditionKeys returns the lookup of the request's condition keys. table is the name of the
// table a single-table request acts on.
func (g *Gateway) conditionKeys(ctx context.Context, who caller, accessKeyID, op, table string, body []byte) func(string) ([]string, keyState) {
	var req map[string]json.RawMessage
	_ = json.Unmarshal(body, &req) // the body passed checkJSON and resources
	for member, raw := range req {
		if string(raw) == "null" {
			delete(req, member) // DynamoDB reads a null member as an absent one
		}
	}
	str := func(member string) (string, bool) {
		var s string
		if raw, ok := req[member]; !ok || json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	}
	principalARN := who.arn
	if who.role != "" {
		principalARN = who.role // aws:PrincipalArn is the role's ARN for its sessions
	}
	var (
		leading, attributes         []string
		leadingDone, attributesDone bool
		leadingOK, attributesOK     bool
	)
	return func(key string) ([]string, keyState) {
		switch key {
		case "aws:principalarn":
			return []string{principalARN}, keyPresent
		case "aws:principalaccount":
			return []string{arnAccount(who.arn)}, keyPresent
		case "aws:requestedregion":
			return []string{g.opts.Region}, keyPresent
		case "dynamodb:returnconsumedcapacity":
			if s, ok := str("ReturnConsumedCapacity"); ok {
				return []string{s}, keyPresent
			}
			if _, ok := req["ReturnConsumedCapacity"]; ok {
				return nil, keyUnknown // present but not a string: DynamoDB rejects it
			}
			return nil, keyAbsent
		}
		if !dataOperations[op] {
			return nil, keyAbsent
		}
		switch key {
		case "dynamodb:leadingkeys":
			if !itemOperations[op] {
				return nil, keyUnknown
			}
			if !leadingDone {
				leadingDone = true
				leading, leadingOK = g.leadingKeys(ctx, accessKeyID, op, table, req)
			}
			if !leadingOK {
				return nil, keyUnknown
			}
			return leading, keyPresent
		case "dynamodb:attributes":
			if !itemOperations[op] {
				return nil, keyUnknown
			}
			if !attributesDone {
				attributesDone = true
				attributes, attributesOK = requestAttributes(op, req)
			}
			if !attributesOK {
				return nil, keyUnknown
			}
			return attributes, keyPresent
		case "dynamodb:select":
			return selectKey(op, req)
		case "dynamodb:returnvalues":
			switch op {
			case "PutItem", "UpdateItem", "DeleteItem":
				if s, ok := str("ReturnValues"); ok {
					return []string{s}, keyPresent
				}
				if _, ok := req["ReturnValues"]; ok {
					return nil, keyUnknown
				}
				return []string{"NONE"}, keyPresent
			case "GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems":
				return nil, keyAbsent
			}
			return nil, keyUnknown
		case "dynamodb:enclosingoperation", "dynamodb:fulltablescan":
			if itemOperations[op] || op == "Query" || op == "Scan" || op == "BatchGetItem" || op == "BatchWriteItem" {
				return nil, keyAbsent
			}
			return nil, keyUnknown
		}
		return nil, keyUnknown
	}
}

// selectKey is dynamodb:Select.
func selectKey(op string, req map[string]json.RawMessage) ([]string, keyState) {
	// A projection is a ProjectionExpression or AttributesToGet that is not empty; anything
	// else in them makes the key unknown (DynamoDB refuses it).
	var expr string
	var names []string
	if raw, ok := req["ProjectionExpression"]; ok && (json.Unmarshal(raw, &expr) != nil || expr == "") {
		return nil, keyUnknown
	}
	if raw, ok := req["AttributesToGet"]; ok && (json.Unmarshal(raw, &names) != nil || len(names) == 0) {
		return nil, keyUnknown
	}
	projected := expr != "" || len(names) > 0
	switch op {
	case "GetItem":
		if projected {
			return []string{"SPECIFIC_ATTRIBUTES"}, keyPresent
		}
		return []string{"ALL_ATTRIBUTES"}, keyPresent
	case "Query", "Scan":
		if raw, ok := req["Select"]; ok {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				return nil, keyUnknown
			}
			return []string{s}, keyPresent
		}
		switch {
		case projected:
			return []string{"SPECIFIC_ATTRIBUTES"}, keyPresent
		case req["IndexName"] != nil:
			return []string{"ALL_PROJECTED_ATTRIBUTES"}, keyPresent
		}
		return []string{"ALL_ATTRIBUTES"}, keyPresent
	case "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems":
		return nil, keyAbsent
	}
	return nil, keyUnknown
}

// requestAttributes is dynamodb:Attributes for a single-item call; ok is false when the
// request cannot be read (DynamoDB would refuse it).
func requestAttributes(op string, req map[string]json.RawMessage) ([]string, bool) {
	out := map[string]bool{}
	addKeys := func(member string) bool {
		raw, ok := req[member]
		if !ok {
			return true
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil {
			return false
		}
		for name := range m {
			out[name] = true
		}
		return true
	}
	var names map[string]string
	if raw, ok := req["ExpressionAttributeNames"]; ok && json.Unmarshal(raw, &names) != nil {
		return nil, false
	}
	expression := func(member, kind string) bool {
		raw, ok := req[member]
		if !ok {
			return true
		}
		var expr string
		if json.Unmarshal(raw, &expr) != nil {
			return false
		}
		return exprAttributes(kind, expr, names, out) == nil
	}
	item := "Key"
	if op == "PutItem" {
		item = "Item"
	}
	ok := addKeys(item) && addKeys("AttributeUpdates") && addKeys("Expected") &&
		expression("ProjectionExpression", "projection") && expression("ConditionExpression", "condition") &&
		expression("UpdateExpression", "update")
	if raw, present := req["AttributesToGet"]; ok && present {
		var list []string
		ok = json.Unmarshal(raw, &list) == nil
		for _, name := range list {
			out[name] = true
		}
	}
	if !ok {
		return nil, false
	}
	list := make([]string, 0, len(out))
	for name := range out {
		list = append(list, name)
	}
	return list, true
}

// leadingKeys is dynamodb:LeadingKeys for a single-item call: the partition key value of Key
// (Item for PutItem) as its wire text. ok is false when it cannot be known: the table's key
// schema is unavailable, or the value is missing or not of the key's type.
func (g *Gateway) leadingKeys(ctx context.Context, accessKeyID, op, table string, req map[string]json.RawMessage) ([]string, bool) {
	name, typ, ok := g.partitionKey(ctx, accessKeyID, table)
	if !ok {
		return nil, false
	}
	member := "Key"
	if op == "PutItem" {
		member = "Item"
	}
	var item map[string]map[string]json.RawMessage
	if json.Unmarshal(req[member], &item) != nil {
		return nil, false
	}
	value, present := item[name]
	if !present || len(value) != 1 {
		return nil, false
	}
	var s string
	if raw, ok := value[typ]; !ok || json.Unmarshal(raw, &s) != nil {
		return nil, false
	}
	return []string{s}, true
}

// keySchema is a table's partition key: its attribute name and type (S, N or B).
type keySchema struct{ name, typ string }

// partitionKey returns a table's partition key, from the gateway's cache or from a
// DescribeTable sent to DynamoDB Local (which checks no signature; the request is signed with
// the caller's access key ID, so that a DynamoDB Local without -sharedDb looks in the
// caller's database).
func (g *Gateway) partitionKey(ctx context.Context, accessKeyID, table string) (name, typ string, ok bool) {
	g.mu.Lock()
	ks, cached := g.schemas[table]
	g.mu.Unlock()
	if cached {
		return ks.name, ks.typ, true
	}
	body, _ := json.Marshal(map[string]string{"TableName": table})
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.upstream.String(), bytes.NewReader(body))
	if err != nil {
		return "", "", false
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.DescribeTable")
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: accessKeyID, SecretAccessKey: "dynamostoretest-gateway"}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "dynamodb", g.opts.Region, time.Now()); err != nil {
		return "", "", false
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return "", "", false
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return "", "", false
	}
	var out struct {
		Table struct {
			KeySchema []struct {
				AttributeName, KeyType string
			}
			AttributeDefinitions []struct {
				AttributeName, AttributeType string
			}
		}
	}
	if json.Unmarshal(raw, &out) != nil {
		return "", "", false
	}
	for _, k := range out.Table.KeySchema {
		if k.KeyType != "HASH" {
			continue
		}
		for _, d := range out.Table.AttributeDefinitions {
			if d.AttributeName == k.AttributeName {
				ks = keySchema{name: k.AttributeName, typ: d.AttributeType}
			}
		}
	}
	if ks.name == "" || ks.typ == "" {
		return "", "", false
	}
	g.mu.Lock()
	g.schemas[table] = ks
	g.mu.Unlock()
	return ks.name, ks.typ, true
}

// forgetSchema drops a table's cached key schema, before a request that may change it.
func (g *Gateway) forgetSchema(op string, body []byte) {
	switch op {
	case "CreateTable", "DeleteTable", "UpdateTable":
	default:
		return
	}
	var req map[string]json.RawMessage
	var name string
	if json.Unmarshal(body, &req) != nil || json.Unmarshal(req["TableName"], &name) != nil {
		return
	}
	if i := strings.LastIndex(name, ":table/"); i >= 0 {
		name = name[i+len(":table/"):]
	}
	g.mu.Lock()
	delete(g.schemas, name)
	g.mu.Unlock()
}

// tableName returns the table name of a table (or index) ARN.
func tableName(arn string) string {
	_, rest, ok := strings.Cut(arn, ":table/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}
