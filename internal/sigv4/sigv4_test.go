package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

var creds = aws.Credentials{AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "secret/key+example", SessionToken: "token"}

// signed returns a request signed by the SDK's own signer.
func signed(t testing.TB, body []byte, query, header string, at time.Time) *http.Request {
	u := "http://127.0.0.1:8000/"
	if query != "" {
		u += "?" + query
	}
	r, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("build request for %q: %v", u, err)
	}
	r.Header.Set("X-Amz-Target", "DynamoDB_20120810.GetItem")
	if header != "" {
		r.Header.Set("X-Custom", header)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "dynamodb", "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	return r
}

func verify(r *http.Request, body []byte, secret string, now time.Time) error {
	a, err := ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	return Verify(r, body, a, secret, "dynamodb", now)
}

func TestVerifyAgreesWithTheSDKSigner(t *testing.T) {
	now := time.Now()
	body := []byte(`{"TableName":"sessions"}`)
	r := signed(t, body, "a=1&b=two words", "  spaced   value ", now)
	if err := verify(r, body, creds.SecretAccessKey, now); err != nil {
		t.Fatalf("a request signed by the SDK does not verify: %v", err)
	}
	var sigErr *SignatureError
	if err := verify(r, []byte(`{"TableName":"other"}`), creds.SecretAccessKey, now); !errors.As(err, &sigErr) {
		t.Errorf("a changed body verifies: %v", err)
	}
	if err := verify(r, body, "wrong", now); !errors.As(err, &sigErr) {
		t.Errorf("a wrong secret verifies: %v", err)
	}
	var skew *SkewError
	if err := verify(r, body, creds.SecretAccessKey, now.Add(20*time.Minute)); !errors.As(err, &skew) {
		t.Errorf("a stale signature verifies: %v", err)
	}
	r.Header.Set("X-Amz-Target", "DynamoDB_20120810.DeleteItem")
	if err := verify(r, body, creds.SecretAccessKey, now); !errors.As(err, &sigErr) {
		t.Errorf("a changed signed header verifies: %v", err)
	}
	if _, err := ParseAuthorization(""); !errors.Is(err, ErrMissing) {
		t.Errorf("missing header: %v", err)
	}
}

// Found by FuzzSignVerify: parameters sort by their encoded names.
func TestQuerySortsByEncodedNames(t *testing.T) {
	now := time.Now()
	r := signed(t, []byte("0"), "0&\xae", "0", now)
	if err := verify(r, []byte("0"), creds.SecretAccessKey, now); err != nil {
		t.Fatal(err)
	}
	if got := canonicalQuery(url.Values{"0": {""}, "\xae": {""}, "a": {"2", "10"}}); got != "%AE=&0=&a=10&a=2" {
		t.Fatalf("canonical query %q", got)
	}
}

// Found by FuzzSignVerify: only ASCII spaces collapse inside a header value.
func TestHeaderValuesCollapseASCIISpacesOnly(t *testing.T) {
	now := time.Now()
	for _, v := range []string{"0\u20000", "a  \u2000  b", "\ttab\t  x"} {
		r := signed(t, nil, "", v, now)
		if err := verify(r, nil, creds.SecretAccessKey, now); err != nil {
			t.Errorf("header %q: %v", v, err)
		}
	}
}

// FuzzSignVerify: whatever the body, query and header value, what the SDK signs verifies.
func FuzzSignVerify(f *testing.F) {
	f.Add([]byte(`{"TableName":"sessions"}`), "a=1", "value")
	f.Add([]byte{}, "", "")
	f.Add([]byte{0, 1, 2}, "x=%20y&x=a", "  a  b ")
	f.Fuzz(func(t *testing.T, body []byte, query, header string) {
		if _, err := url.ParseQuery(query); err != nil || strings.ContainsAny(header, "\r\n\x00") {
			return
		}
		if _, err := url.Parse("http://127.0.0.1:8000/?" + query); err != nil {
			return // not a request anyone could send
		}
		for _, c := range header {
			if c < 0x20 || c == 0x7f {
				return
			}
		}
		now := time.Now()
		r := signed(t, body, query, header, now)
		if err := verify(r, body, creds.SecretAccessKey, now); err != nil {
			t.Fatalf("body %q query %q header %q: %v", body, query, header, err)
		}
	})
}

// FuzzParseAuthorization: no panic, and what parses is complete.
func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("a", 64))
	f.Add("AWS4-HMAC-SHA256 Credential=/////")
	f.Add("")
	f.Fuzz(func(t *testing.T, header string) {
		a, err := ParseAuthorization(header)
		if err != nil {
			return
		}
		if a.AccessKeyID == "" || len(a.Signature) != 64 || len(a.Date) != 8 || len(a.SignedHeaders) == 0 {
			t.Fatalf("incomplete parse of %q: %+v", header, a)
		}
	})
}
