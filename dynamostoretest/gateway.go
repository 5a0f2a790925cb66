package dynamostoretest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dynamostore/dynamostore/internal/sigv4"
)

// GatewayOptions configures NewGateway.
type GatewayOptions struct {
	// Region is the region of the tables behind the gateway. Default: us-east-1.
	Region string
	// Account owns the tables behind the gateway; table names in requests resolve to table
	// ARNs in this account for the policy check. Default: TableAccount.
	Account string
}

// GatewayStats counts what the gateway did.
type GatewayStats struct {
	Forwarded int64            // requests passed to DynamoDB Local
	Rejected  map[string]int64 // rejections by error code
}

// Gateway is a reverse proxy in front of DynamoDB Local that does what DynamoDB Local does
// not: it verifies every request's SigV4 signature against the keys that the STS emulator
// issued (or its principals' long-term keys), rejects expired, unknown, revoked and badly
// signed credentials, and enforces the signer's DynamoDB policy, answering with DynamoDB's
// own error shapes (ExpiredTokenException, UnrecognizedClientException,
// InvalidSignatureException, AccessDeniedException, ...). Point a DynamoDB client at URL.
type Gateway struct {
	// URL is the gateway's endpoint.
	URL string

	server *httptest.Server
	sts    *STS
	proxy  *httputil.ReverseProxy
	opts   GatewayOptions

	forwarded atomic.Int64
	mu        sync.Mutex
	rejected  map[string]int64
}

// NewGateway starts a gateway on a loopback port that forwards to upstream (DynamoDB Local's
// endpoint) and trusts the credentials of sts. Close stops it.
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
	g := &Gateway{sts: sts, opts: opts, proxy: httputil.NewSingleHostReverseProxy(target), rejected: map[string]int64{}}
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
	if err := sigv4.Verify(r, body, auth, who.secret, "dynamodb", g.sts.now()); err != nil {
		return &ddbError{"InvalidSignatureException", err.Error()}
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	if !ok {
		return &ddbError{"UnknownOperationException", ""}
	}
	action := "dynamodb:" + op
	resource := g.resource(body)
	if !who.policy.Allows(action, resource) {
		return &ddbError{"AccessDeniedException", fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action", who.arn, action, resource, action)}
	}
	return nil
}

// resource returns the table ARN a request acts on.
func (g *Gateway) resource(body []byte) string {
	var req struct{ TableName string }
	_ = json.Unmarshal(body, &req)
	switch {
	case strings.HasPrefix(req.TableName, "arn:"):
		return req.TableName
	case req.TableName == "":
		return fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/*", g.opts.Region, g.opts.Account)
	}
	return fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", g.opts.Region, g.opts.Account, req.TableName)
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
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(payload)
}
