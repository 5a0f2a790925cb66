package main

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynamostore/dynamostore/credcache"
)

// recordedCall is one item call of the probe's store, with the parameters that IAM condition
// keys test: the key (dynamodb:LeadingKeys), ReturnValues (dynamodb:ReturnValues), the
// projection (dynamodb:Select) and the top-level attribute names (dynamodb:Attributes).
type recordedCall struct {
	step         string
	op           string // GetItem, PutItem, UpdateItem or DeleteItem
	key          string
	returnValues string   // for writes: NONE when not set, as DynamoDB reads it
	projection   bool     // a ProjectionExpression
	attributes   []string // sorted
	code         string   // the AWS error code, "" when the call succeeded
}

func (c *recordedCall) action() string { return "dynamodb:" + c.op }

// allowed reports whether IAM allowed the call: it succeeded, or DynamoDB evaluated it.
func (c *recordedCall) allowed() bool {
	return c.code == "" || c.code == "ConditionalCheckFailedException"
}

// signature identifies the call's parameters, to explain a refusal once.
func (c *recordedCall) signature(prefix string) string {
	return strings.Join([]string{c.op, keyShape(c.key, prefix), c.returnValues, strings.Join(c.attributes, ",")}, "|")
}

// describe tells the call's parameters, as the store sent them.
func (c *recordedCall) describe(prefix string) string {
	if c.key == "" {
		return "check did not see the call's parameters"
	}
	parts := []string{"on " + keyWhat(c.key, prefix) + ", key " + keyShape(c.key, prefix)}
	if c.op == "GetItem" {
		if c.projection {
			parts = append(parts, "with a ProjectionExpression (so dynamodb:Select is SPECIFIC_ATTRIBUTES)")
		} else {
			parts = append(parts, "without a projection (so dynamodb:Select is ALL_ATTRIBUTES)")
		}
	} else {
		parts = append(parts, "ReturnValues "+c.returnValues)
	}
	return strings.Join(parts, ", ") + ", attributes " + strings.Join(c.attributes, ", ")
}

// Kinds of item keys.
const (
	kindSession = iota
	kindUser
	kindKV
)

func keyKind(key, prefix string) int {
	switch {
	case strings.HasPrefix(key, prefix+"user#"):
		return kindUser
	case strings.HasPrefix(key, prefix+kvNamespace+"#"):
		return kindKV
	}
	return kindSession
}

// keyShape is a key with its hash elided: session#<hash>, session#user#<hash>.
func keyShape(key, prefix string) string {
	if !strings.HasPrefix(key, prefix) {
		return key
	}
	switch keyKind(key, prefix) {
	case kindUser:
		return prefix + "user#<hash>"
	case kindKV:
		return prefix + kvNamespace + "#<hash>"
	}
	return prefix + "<hash>"
}

func keyWhat(key, prefix string) string {
	switch keyKind(key, prefix) {
	case kindUser:
		return "the probe user's item"
	case kindKV:
		return "the KV view's item"
	}
	return "a session item"
}

// recorder keeps the probe's calls and the keys of the items they may have left.
type recorder struct {
	partitionKey string
	mu           sync.Mutex
	step         string
	calls        []recordedCall
	items        map[string]bool // key: an item may be there
	order        []string        // the keys of items, in the order of their first write
}

// begin starts a step and returns the mark of its first call.
func (rec *recorder) begin(step string) int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.step = step
	return len(rec.calls)
}

func (rec *recorder) add(c recordedCall, err error) {
	c.code, _ = apiError(err)
	if err != nil && c.code == "" {
		c.code = "error"
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	c.step = rec.step
	rec.calls = append(rec.calls, c)
}

// wrote records that an item may be under key, or that it is gone, and returns what was
// recorded before.
func (rec *recorder) wrote(key string, present bool) (was bool) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	was, seen := rec.items[key]
	if !seen && present {
		rec.order = append(rec.order, key)
	}
	if present || was {
		rec.items[key] = present
	}
	return was
}

// refused returns the call since mark that DynamoDB refused with AccessDeniedException,
// preferring one of op; nil if there is none.
func (rec *recorder) refused(mark int, op string) *recordedCall {
	calls := rec.refusals(mark)
	for i := range calls {
		if calls[i].op == op {
			return &calls[i]
		}
	}
	if len(calls) > 0 {
		return &calls[0]
	}
	return nil
}

// refusals returns the calls since mark that DynamoDB refused with AccessDeniedException.
func (rec *recorder) refusals(mark int) []recordedCall {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []recordedCall
	for _, c := range rec.calls[mark:] {
		if c.code == "AccessDeniedException" {
			out = append(out, c)
		}
	}
	return out
}

// allowedCalls returns the calls of op that IAM allowed.
func (rec *recorder) allowedCalls(op string) []recordedCall {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []recordedCall
	for _, c := range rec.calls {
		if c.op == op && c.allowed() {
			out = append(out, c)
		}
	}
	return out
}

// remaining returns the keys of the items that may still be in the table.
func (rec *recorder) remaining() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []string
	for _, k := range rec.order {
		if rec.items[k] {
			out = append(out, k)
		}
	}
	return out
}

// deleteItem makes the store's DeleteItem (no ReturnValues) on key, recorded as the
// cleanup's.
func (rec *recorder) deleteItem(ctx context.Context, client *dynamodb.Client, table, key string) error {
	rec.begin("cleanup")
	w := &recordingClient{inner: client, rec: rec}
	_, err := w.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(table),
		Key:       map[string]types.AttributeValue{rec.partitionKey: &types.AttributeValueMemberS{Value: key}},
	})
	return err
}

// recordingClient is the probe store's dynamostore.ItemAPI: it passes every call to the
// DynamoDB client and records it.
type recordingClient struct {
	inner *dynamodb.Client
	rec   *recorder
}

func (w *recordingClient) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	out, err := w.inner.GetItem(ctx, in, optFns...)
	c := recordedCall{op: "GetItem", key: w.key(in.Key), projection: aws.ToString(in.ProjectionExpression) != ""}
	c.attributes = attributeNames(in.Key, in.ExpressionAttributeNames, in.ProjectionExpression)
	w.rec.add(c, err)
	return out, err
}

func (w *recordingClient) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	key := w.key(in.Item)
	was := w.rec.wrote(key, true) // before the call: an interrupted write may land
	out, err := w.inner.PutItem(ctx, in, optFns...)
	if refused(err) {
		w.rec.wrote(key, was) // DynamoDB refused it before writing anything
	}
	c := recordedCall{op: "PutItem", key: key, returnValues: returnValues(in.ReturnValues)}
	c.attributes = attributeNames(in.Item, in.ExpressionAttributeNames, in.ConditionExpression)
	w.rec.add(c, err)
	return out, err
}

func (w *recordingClient) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	out, err := w.inner.UpdateItem(ctx, in, optFns...)
	c := recordedCall{op: "UpdateItem", key: w.key(in.Key), returnValues: returnValues(in.ReturnValues)}
	c.attributes = attributeNames(in.Key, in.ExpressionAttributeNames, in.UpdateExpression, in.ConditionExpression)
	w.rec.add(c, err)
	return out, err
}

func (w *recordingClient) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	out, err := w.inner.DeleteItem(ctx, in, optFns...)
	key := w.key(in.Key)
	c := recordedCall{op: "DeleteItem", key: key, returnValues: returnValues(in.ReturnValues)}
	c.attributes = attributeNames(in.Key, in.ExpressionAttributeNames, in.ConditionExpression)
	w.rec.add(c, err)
	if err == nil {
		w.rec.wrote(key, false)
	}
	return out, err
}

// refused reports whether err proves that DynamoDB did not apply a write: it refused the
// request before acting on it. Any other error (a timeout, a lost answer) leaves the outcome
// open, since the SDK may have retried a write that was applied.
func refused(err error) bool {
	switch code, _ := apiError(err); code {
	case "AccessDeniedException", "ResourceNotFoundException", "ValidationException", "UnrecognizedClientException",
		"ExpiredTokenException", "InvalidSignatureException", "MissingAuthenticationTokenException", "IncompleteSignatureException":
		return true
	}
	var renewal *credcache.Error
	return errors.As(err, &renewal) // no credentials: nothing was sent
}

func (w *recordingClient) key(item map[string]types.AttributeValue) string {
	if s, ok := item[w.rec.partitionKey].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func returnValues(v types.ReturnValue) string {
	if v == "" {
		return string(types.ReturnValueNone)
	}
	return string(v)
}

// namePattern finds the #name placeholders of an expression.
var namePattern = regexp.MustCompile(`#[A-Za-z0-9_]+`)

// attributeNames returns the top-level attribute names of a request, as dynamodb:Attributes
// has them: those of the key or item, and of each expression's paths (their first element;
// the store names every attribute with a #placeholder).
func attributeNames(item map[string]types.AttributeValue, names map[string]string, exprs ...*string) []string {
	set := map[string]bool{}
	for name := range item {
		set[name] = true
	}
	for _, e := range exprs {
		expr := aws.ToString(e)
		for _, m := range namePattern.FindAllStringIndex(expr, -1) {
			before := strings.TrimRight(expr[:m[0]], " \t\r\n")
			if strings.HasSuffix(before, ".") {
				continue // a nested path element
			}
			if name, ok := names[expr[m[0]:m[1]]]; ok {
				set[name] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for name := range set {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}
