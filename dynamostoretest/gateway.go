package dynamostoretest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/dynamostore/dynamostore/internal/sigv4"
)

// GatewayOptions configures NewGateway.
type GatewayOptions struct {
	// Region is the region of the tables behind the gateway. Default: us-east-1.
	Region string
	// Account owns the tables behind the gateway; table names in requests resolve to table
	// ARNs in this account for the policy check. Default: TableAccount.
	Account string
	// ResourcePolicy is the resource-based policy of the tables behind the gateway (its
	// statements' Resource elements say which tables), as put-resource-policy attaches one
	// to a table; every statement must have a Principal. Nil means the tables have none.
	// As AWS decides: an explicit Deny in it or in the caller's identity-based policy wins;
	// a caller of the gateway's Account needs an Allow in either policy (a statement whose
	// principal is the account itself delegates to the identity-based policy); a caller of
	// another account needs an Allow in both.
	ResourcePolicy *Policy
}

// GatewayStats counts what the gateway did.
type GatewayStats struct {
	Forwarded int64            // requests passed to DynamoDB Local
	Rejected  map[string]int64 // rejections by error code
}

// Gateway is a reverse proxy in front of DynamoDB Local that does what DynamoDB Local does
// not: it verifies every request's SigV4 signature against the keys that the STS emulator
// issued (or its principals' long-term keys), rejects expired, unknown, revoked and badly
// signed credentials, and evaluates the signer's identity-based policy and the tables'
// resource-based policy with their conditions, computing the DynamoDB condition keys
// (dynamodb:LeadingKeys, dynamodb:Attributes, dynamodb:Select, dynamodb:ReturnValues, ...)
// from the request as AWS does. It answers with DynamoDB's own error shapes and messages
// (ExpiredTokenException, UnrecognizedClientException, InvalidSignatureException,
// AccessDeniedException, ...). Point a DynamoDB client at URL.
type Gateway struct {
	// URL is the gateway's endpoint.
	URL string

	server   *httptest.Server
	sts      *STS
	proxy    *httputil.ReverseProxy
	upstream *url.URL
	client   *http.Client // for the gateway's own DescribeTable calls
	opts     GatewayOptions

	forwarded atomic.Int64
	mu        sync.Mutex
	rejected  map[string]int64
	schemas   map[string]keySchema // partition keys, by table name
	// observe, when set (by tests, before the first request), sees each policy check's
	// condition keys.
	observe func(action, resource string, keys func(string) ([]string, keyState))
}

// NewGateway starts a gateway on a loopback port that forwards to upstream (DynamoDB Local's
// endpoint) and trusts the credentials of sts. It returns an error for a bad upstream or a
// resource policy that fails Validate or has a statement without Principal. Close stops it.
func NewGateway(upstream string, sts *STS, opts GatewayOptions) (*Gateway, error) {
	target, err := url.Parse(upstream)
	if err != nil || target.Host == "" {
		return nil, fmt.Errorf("dynamostoretest: bad upstream %q", upstream)
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.Account == "" {
		opts.Account = TableAccount
	}
	if opts.ResourcePolicy != nil {
		if err := validateResourcePolicy(*opts.ResourcePolicy); err != nil {
			return nil, err
		}
	}
	g := &Gateway{sts: sts, opts: opts, proxy: httputil.NewSingleHostReverseProxy(target), upstream: target,
		client: &http.Client{Timeout: 10 * time.Second}, rejected: map[string]int64{}, schemas: map[string]keySchema{}}
	g.server = httptest.NewServer(g)
	g.URL = g.server.URL
	return g, nil
}

// Close stops the gateway.
func (g *Gateway) Close() { g.server.Close() }

// Stats returns the gateway's counts.
func (g *Gateway) Stats() GatewayStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	rejected := make(map[string]int64, len(g.rejected))
	for k, v := range g.rejected {
		rejected[k] = v
	}
	return GatewayStats{Forwarded: g.forwarded.Load(), Rejected: rejected}
}

// ddbError is a DynamoDB error answer.
type ddbError struct {
	code    string // without the namespace
	message string
}

func (e *ddbError) Error() string { return e.code + ": " + e.message }

const coral = "com.amazon.coral.service#"

// ServeHTTP checks a DynamoDB request's signature, credentials and policy and, if all pass,
// forwards it unchanged to DynamoDB Local; otherwise it answers with DynamoDB's error.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		g.reject(w, &ddbError{"SerializationException", "cannot read the request body"})
		return
	}
	if e := g.authorize(r, body); e != nil {
		g.reject(w, e)
		return
	}
	g.forgetSchema(strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810."), body)
	g.forwarded.Add(1)
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	g.proxy.ServeHTTP(w, r)
}

func (g *Gateway) authorize(r *http.Request, body []byte) *ddbError {
	auth, err := sigv4.ParseAuthorization(r.Header.Get("Authorization"))
	switch {
	case errors.Is(err, sigv4.ErrMissing):
		return &ddbError{"MissingAuthenticationTokenException", "Request is missing Authentication Token"}
	case err != nil:
		return &ddbError{"IncompleteSignatureException", err.Error()}
	}
	who, ok := g.sts.lookup(auth.AccessKeyID)
	if !ok {
		return &ddbError{"UnrecognizedClientException", "The security token included in the request is invalid."}
	}
	if who.issued != nil {
		if who.issued.Revoked || r.Header.Get("X-Amz-Security-Token") != who.issued.SessionToken {
			return &ddbError{"UnrecognizedClientException", "The security token included in the request is invalid"}
		}
		if !g.sts.now().Before(who.issued.Expiration) {
			return &ddbError{"ExpiredTokenException", "The security token included in the request is expired"}
		}
	}
	if e := scopeError(auth, g.opts.Region, "dynamodb"); e != "" {
		return &ddbError{"InvalidSignatureException", e}
	}
	if err := sigv4.Verify(r, body, auth, who.secret, "dynamodb", g.sts.now()); err != nil {
		return &ddbError{"InvalidSignatureException", err.Error()}
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	if !ok {
		return &ddbError{"UnknownOperationException", ""}
	}
	action := "dynamodb:" + op
	resources, e := g.resources(op, body)
	if e != nil {
		return e
	}
	for _, resource := range resources {
		keys := g.conditionKeys(r.Context(), who, auth.AccessKeyID, op, tableName(resource), body)
		if g.observe != nil {
			g.observe(action, resource, keys)
		}
		if e := g.decide(who, action, resource, keys); e != nil {
			return e
		}
	}
	return nil
}

// decide evaluates the caller's identity-based policy and the resource-based policy for one
// resource, as AWS does (IAM User Guide, reference_policies_evaluation-logic and
// reference_policies_evaluation-logic-cross-account), with AWS's denial messages.
func (g *Gateway) decide(who caller, action, resource string, keys func(string) ([]string, keyState)) *ddbError {
	r := &evalRequest{action: action, resource: resource, keys: keys,
		who: principalInfo{arn: who.arn, account: arnAccount(who.arn), role: who.role}}
	identity := who.policy.evaluate(r, false)
	var res verdict
	if g.opts.ResourcePolicy != nil {
		res = g.opts.ResourcePolicy.evaluate(r, true)
	}
	denied := func(why string) *ddbError {
		return &ddbError{"AccessDeniedException", fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s %s", who.arn, action, resource, why)}
	}
	noAllow := func(kind string) *ddbError {
		return denied(fmt.Sprintf("because no %s policy allows the %s action", kind, action))
	}
	switch {
	case identity.deny:
		return denied("with an explicit deny in an identity-based policy")
	case res.deny:
		return denied("with an explicit deny in a resource-based policy")
	case r.who.account != g.opts.Account: // cross-account: both must allow
		if !identity.allow {
			return noAllow("identity-based")
		}
		if !res.allow && !res.allowAccount {
			return noAllow("resource-based")
		}
	case !identity.allow && !res.allow:
		// Within the account, a resource-based policy allows by itself, unless its principal
		// is the account (which delegates to the identity-based policies).
		return noAllow("identity-based")
	}
	return nil
}

// validateResourcePolicy checks a resource-based policy: valid, and a Principal in every
// statement.
func validateResourcePolicy(p Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if len(p.Actions) > 0 {
		return &PolicyError{Statement: -1, Message: "a resource-based policy needs statements with a Principal, not the short form (Actions, Resources)"}
	}
	for i, st := range p.Statements {
		if len(st.Principals) == 0 {
			return &PolicyError{Statement: i, Message: "a resource-based policy's statement needs a Principal"}
		}
	}
	return nil
}

// scopeError checks the credential scope's region and service as AWS does, with its messages.
func scopeError(a *sigv4.Authorization, region, service string) string {
	switch {
	case a.Service != service:
		return fmt.Sprintf("Credential should be scoped to correct service: '%s'. ", service)
	case a.Region != region:
		return fmt.Sprintf("Credential should be scoped to a valid region, not '%s'. ", a.Region)
	}
	return ""
}

// resources returns the table ARNs a request acts on. The body is parsed as DynamoDB parses
// it: valid UTF-8 JSON, one object, member names matched exactly (TableName, never tableName),
// and no member named twice, so the check sees the very tables DynamoDB Local will act on.
// Operations whose tables cannot be read from the body (PartiQL, ListTables) need "table/*";
// a Query or Scan with IndexName acts on the index's ARN (TABLE-ARN/index/NAME).
func (g *Gateway) resources(op string, body []byte) ([]string, *ddbError) {
	if msg := checkJSON(body); msg != "" {
		return nil, &ddbError{"SerializationException", msg}
	}
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, &ddbError{"SerializationException", "Start of structure or map found where not expected."}
	}
	tableName := func(raw json.RawMessage, member string) (string, *ddbError) {
		var name string
		if raw == nil || string(raw) == "null" {
			return "", &ddbError{"ValidationException", fmt.Sprintf("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", member)}
		}
		if err := json.Unmarshal(raw, &name); err != nil {
			return "", &ddbError{"SerializationException", fmt.Sprintf("Unexpected value type in payload for %s", member)}
		}
		return name, nil
	}
	var names []string
	switch op {
	case "ListTables", "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction":
		return []string{g.tableARN("*")}, nil
	case "BatchGetItem", "BatchWriteItem":
		var items map[string]json.RawMessage
		if err := json.Unmarshal(req["RequestItems"], &items); err != nil || len(items) == 0 {
			return nil, &ddbError{"ValidationException", "1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: Member must not be null"}
		}
		for name := range items {
			names = append(names, name)
		}
	case "TransactGetItems", "TransactWriteItems":
		// Every level as maps, so member names match exactly (encoding/json would match a
		// struct field case-insensitively).
		var items []map[string]map[string]json.RawMessage
		if err := json.Unmarshal(req["TransactItems"], &items); err != nil || len(items) == 0 {
			return nil, &ddbError{"ValidationException", "1 validation error detected: Value null at 'transactItems' failed to satisfy constraint: Member must not be null"}
		}
		for _, item := range items {
			for kind, action := range item {
				if kind == "" {
					return nil, &ddbError{"SerializationException", "Unexpected field in TransactItems"}
				}
				name, e := tableName(action["TableName"], "transactItems."+strings.ToLower(kind[:1])+kind[1:]+".tableName")
				if e != nil {
					return nil, e
				}
				names = append(names, name)
			}
		}
	default:
		name, e := tableName(req["TableName"], "tableName")
		if e != nil {
			return nil, e
		}
		names = append(names, name)
	}
	arns := make([]string, 0, len(names))
	for _, name := range names {
		arn, e := g.resolveTable(name)
		if e != nil {
			return nil, e
		}
		arns = append(arns, arn)
	}
	if raw, ok := req["IndexName"]; ok && (op == "Query" || op == "Scan") && string(raw) != "null" {
		// A Query or Scan of an index acts on the index's ARN, which a policy on the table
		// alone does not cover.
		var index string
		if err := json.Unmarshal(raw, &index); err != nil {
			return nil, &ddbError{"SerializationException", "Unexpected value type in payload for indexName"}
		}
		arns[0] += "/index/" + index
	}
	return arns, nil
}

// resolveTable returns the ARN of the table DynamoDB Local will act on: a name in the
// gateway's account and region, or an ARN of exactly that account and region (DynamoDB
// Local ignores an ARN's account and region, so any other would reach the wrong table).
func (g *Gateway) resolveTable(name string) (string, *ddbError) {
	if !strings.HasPrefix(name, "arn:") {
		return g.tableARN(name), nil
	}
	parts := strings.SplitN(name, ":", 6)
	if len(parts) != 6 || parts[2] != "dynamodb" || parts[3] != g.opts.Region || parts[4] != g.opts.Account || !strings.HasPrefix(parts[5], "table/") {
		return "", &ddbError{"ResourceNotFoundException", "Requested resource not found"}
	}
	return g.tableARN(strings.TrimPrefix(parts[5], "table/")), nil
}

func (g *Gateway) tableARN(name string) string {
	return fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", g.opts.Region, g.opts.Account, name)
}

// checkJSON returns the message of a SerializationException for a body that DynamoDB's
// parser rejects or could read differently from encoding/json (invalid UTF-8, anything but
// one JSON object, a member named twice in any object), or "" for a good body.
func checkJSON(body []byte) string {
	if !utf8.Valid(body) {
		return "Invalid UTF-8 in the request body"
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type object struct {
		seen map[string]bool
		key  bool // the next string token is a member name
	}
	var stack []*object
	first := true
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "Malformed JSON in the request body"
		}
		if first {
			if d, ok := tok.(json.Delim); !ok || d != '{' {
				return "Start of structure or map found where not expected."
			}
			first = false
		} else if len(stack) == 0 {
			return "Unexpected content after the request object"
		}
		var top *object
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.key {
			if name, ok := tok.(string); ok {
				if top.seen[name] {
					return fmt.Sprintf("Duplicate member %q in the request body", name)
				}
				top.seen[name] = true
				top.key = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			if top != nil && top.seen != nil {
				top.key = true
			}
			stack = append(stack, &object{seen: map[string]bool{}, key: true})
			continue
		case json.Delim('['):
			if top != nil && top.seen != nil {
				top.key = true
			}
			stack = append(stack, &object{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && stack[len(stack)-1].seen != nil {
			stack[len(stack)-1].key = true
		}
	}
	if first {
		return "Empty request body"
	}
	return ""
}

func (g *Gateway) reject(w http.ResponseWriter, e *ddbError) {
	g.mu.Lock()
	g.rejected[e.code]++
	g.mu.Unlock()
	messageKey := "message"
	if e.code == "AccessDeniedException" {
		messageKey = "Message" // DynamoDB capitalizes it for this error
	}
	payload, _ := json.Marshal(map[string]string{"__type": coral + e.code, messageKey: e.message})
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("x-amzn-RequestId", requestID())
	// DynamoDB sends the CRC32 of every body, and the SDK checks it.
	w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(payload)), 10))
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(payload)
}
