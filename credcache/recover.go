package credcache

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// rejectedCodes are the answers of AWS services to expired or unknown session keys. The SDK
// never retries them, and its cache never drops the keys.
var rejectedCodes = map[string]bool{
	"ExpiredTokenException":       true, // DynamoDB
	"ExpiredToken":                true, // STS, S3, SNS, ...
	"UnrecognizedClientException": true, // DynamoDB
	"InvalidClientTokenId":        true, // STS, SNS, ...
}

// RecoverRejected returns an SDK API option (for the APIOptions of any service client's
// Options) that recovers from one rejection of c's credentials (ExpiredTokenException,
// UnrecognizedClientException and their equivalents): it drops the rejected key from c if it
// is still the current one, waits for the renewal, and sends the request again, once. It runs
// inside each retry attempt, before signing, so the second try is signed afresh.
// On a nil *Cache (a CrossAccount without a role) the option adds nothing.
func RecoverRejected(c *Cache) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		if c == nil {
			return nil
		}
		return stack.Finalize.Insert(&recoverMiddleware{cache: c}, "ResolveAuthScheme", middleware.Before)
	}
}

type recoverMiddleware struct{ cache *Cache }

func (*recoverMiddleware) ID() string { return "credcache.RecoverRejected" }

func (m *recoverMiddleware) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	out, md, err := next.HandleFinalize(ctx, in)
	var apiErr smithy.APIError
	if err == nil || !errors.As(err, &apiErr) || !rejectedCodes[apiErr.ErrorCode()] {
		return out, md, err
	}
	req, ok := in.Request.(*smithyhttp.Request)
	if !ok {
		return out, md, err
	}
	keyID := signingKeyID(req.Header.Get("Authorization"))
	if keyID == "" {
		return out, md, err
	}
	m.cache.Invalidate(keyID) // a no-op if another request already did it
	if rewindErr := req.RewindStream(); rewindErr != nil {
		return out, md, fmt.Errorf("%w (and the request could not be replayed: %v)", err, rewindErr)
	}
	return next.HandleFinalize(ctx, in)
}

// signingKeyID returns the access key ID in a SigV4 Authorization header.
func signingKeyID(authorization string) string {
	_, rest, ok := strings.Cut(authorization, "Credential=")
	if !ok {
		return ""
	}
	keyID, _, _ := strings.Cut(rest, "/")
	return keyID
}
