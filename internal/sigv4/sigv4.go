// Package sigv4 verifies AWS Signature Version 4 on incoming HTTP requests, for the test kit's
// STS emulator and DynamoDB gateway. It recomputes the signature from the request as AWS
// does: the canonical request over the signed headers and the payload hash, the string to
// sign, and the HMAC chain of the secret key.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const algorithm = "AWS4-HMAC-SHA256"

// MaxSkew is how far a request's X-Amz-Date may be from the server's clock.
const MaxSkew = 15 * time.Minute

// Authorization is a parsed Authorization header.
type Authorization struct {
	AccessKeyID   string
	Date          string // yyyymmdd of the credential scope
	Region        string
	Service       string
	SignedHeaders []string
	Signature     string
}

// Errors, in the order AWS checks them.
var (
	ErrMissing   = errors.New("request is missing Authentication Token")
	ErrMalformed = errors.New("malformed Authorization header")
)

// SignatureError means the signature does not match; the message follows AWS's.
type SignatureError struct{ Detail string }

func (e *SignatureError) Error() string {
	return "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details." + e.Detail
}

// SkewError means X-Amz-Date is too far from now.
type SkewError struct {
	Signed, Now time.Time
}

func (e *SkewError) Error() string {
	return fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 15 min.)",
		e.Signed.UTC().Format("20060102T150405Z"), e.Now.Add(-MaxSkew).UTC().Format("20060102T150405Z"), e.Now.UTC().Format("20060102T150405Z"))
}

// ParseAuthorization parses `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
// SignedHeaders=a;b, Signature=hex`.
func ParseAuthorization(header string) (*Authorization, error) {
	if header == "" {
		return nil, ErrMissing
	}
	rest, ok := strings.CutPrefix(header, algorithm+" ")
	if !ok {
		return nil, fmt.Errorf("%w: algorithm is not %s", ErrMalformed, algorithm)
	}
	a := &Authorization{}
	seen := map[string]bool{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || seen[k] {
			return nil, fmt.Errorf("%w: bad component %q", ErrMalformed, part)
		}
		seen[k] = true
		switch k {
		case "Credential":
			scope := strings.Split(v, "/")
			if len(scope) != 5 || scope[4] != "aws4_request" || scope[0] == "" || len(scope[1]) != 8 {
				return nil, fmt.Errorf("%w: bad credential scope", ErrMalformed)
			}
			a.AccessKeyID, a.Date, a.Region, a.Service = scope[0], scope[1], scope[2], scope[3]
		case "SignedHeaders":
			a.SignedHeaders = strings.Split(v, ";")
		case "Signature":
			if len(v) != 64 {
				return nil, fmt.Errorf("%w: bad signature length", ErrMalformed)
			}
			a.Signature = v
		default:
			return nil, fmt.Errorf("%w: unknown component %q", ErrMalformed, k)
		}
	}
	if a.AccessKeyID == "" || len(a.SignedHeaders) == 0 || a.Signature == "" {
		return nil, fmt.Errorf("%w: Credential, SignedHeaders and Signature are required", ErrMalformed)
	}
	if !sort.StringsAreSorted(a.SignedHeaders) || !contains(a.SignedHeaders, "host") {
		return nil, fmt.Errorf("%w: SignedHeaders must be sorted and include host", ErrMalformed)
	}
	return a, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Verify checks r's signature with secret. body is the request body, already read.
// service is the expected signing name ("sts", "dynamodb"); now is the server's clock.
func Verify(r *http.Request, body []byte, a *Authorization, secret, service string, now time.Time) error {
	if a.Service != service {
		return &SignatureError{Detail: fmt.Sprintf(" (credential scope names service %q, not %q)", a.Service, service)}
	}
	amzDate := r.Header.Get("X-Amz-Date")
	signed, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil {
		return fmt.Errorf("%w: X-Amz-Date %q", ErrMalformed, amzDate)
	}
	if signed.Format("20060102") != a.Date {
		return &SignatureError{Detail: " (credential scope date differs from X-Amz-Date)"}
	}
	if d := now.Sub(signed); d > MaxSkew || d < -MaxSkew {
		return &SkewError{Signed: signed, Now: now}
	}
	payload := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(payload[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != payloadHash {
		return &SignatureError{Detail: " (X-Amz-Content-Sha256 does not match the body)"}
	}
	canonical := canonicalRequest(r, a.SignedHeaders, payloadHash)
	sum := sha256.Sum256([]byte(canonical))
	scope := strings.Join([]string{a.Date, a.Region, a.Service, "aws4_request"}, "/")
	stringToSign := algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	key := hmacSHA256([]byte("AWS4"+secret), a.Date)
	key = hmacSHA256(key, a.Region)
	key = hmacSHA256(key, a.Service)
	key = hmacSHA256(key, "aws4_request")
	want := hex.EncodeToString(hmacSHA256(key, stringToSign))
	if !hmac.Equal([]byte(want), []byte(a.Signature)) {
		return &SignatureError{}
	}
	return nil
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func canonicalRequest(r *http.Request, signedHeaders []string, payloadHash string) string {
	var b strings.Builder
	b.WriteString(r.Method + "\n")
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b.WriteString(path + "\n")
	b.WriteString(canonicalQuery(r.URL.Query()) + "\n")
	for _, h := range signedHeaders {
		b.WriteString(h + ":" + headerValue(r, h) + "\n")
	}
	b.WriteString("\n" + strings.Join(signedHeaders, ";") + "\n" + payloadHash)
	return b.String()
}

// canonicalQuery sorts parameters by their encoded names, then encoded values, as SigV4
// requires: "%AE" sorts before "0" although the raw byte 0xAE sorts after it.
func canonicalQuery(q url.Values) string {
	var parts []string
	for k, vals := range q {
		for _, v := range vals {
			parts = append(parts, escape(k)+"="+escape(v))
		}
	}
	sort.Slice(parts, func(i, j int) bool {
		ki, vi, _ := strings.Cut(parts[i], "=")
		kj, vj, _ := strings.Cut(parts[j], "=")
		if ki != kj {
			return ki < kj
		}
		return vi < vj
	})
	return strings.Join(parts, "&")
}

func escape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// headerValue returns a header as signed: Go's server moves Host and Content-Length out of
// the header map, and multiple values join with commas. Like the SDK's signer, it collapses
// runs of ASCII spaces only (not tabs or other Unicode spaces), then trims white space at
// both ends.
func headerValue(r *http.Request, name string) string {
	switch name {
	case "host":
		if r.Host == "" { // a client-side request
			return r.URL.Host
		}
		return r.Host
	case "content-length":
		return strconv.FormatInt(r.ContentLength, 10)
	}
	vals := r.Header.Values(name)
	out := make([]string, len(vals))
	for i, v := range vals {
		for strings.Contains(v, "  ") {
			v = strings.ReplaceAll(v, "  ", " ")
		}
		out[i] = strings.TrimSpace(v)
	}
	return strings.Join(out, ",")
}
