package dynamostoretest

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// CountingSTS wraps an STS client and records when each AssumeRole call ends, so that tests
// and benchmarks can see renewals from outside any credentials provider.
type CountingSTS struct {
	Client stscreds.AssumeRoleAPIClient

	ended atomic.Int64
	mu    sync.Mutex
	ends  []time.Time
}

// AssumeRole calls the wrapped client and records the end of the call.
func (c *CountingSTS) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, o ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	out, err := c.Client.AssumeRole(ctx, in, o...)
	c.mu.Lock()
	c.ends = append(c.ends, time.Now())
	c.mu.Unlock()
	c.ended.Add(1)
	return out, err
}

// Ended returns how many AssumeRole calls have ended.
func (c *CountingSTS) Ended() int64 { return c.ended.Load() }

// EndTimes returns when each AssumeRole call ended, in order.
func (c *CountingSTS) EndTimes() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.ends...)
}

// WaitCounter wraps a credentials provider and counts the Retrieve calls during which an
// AssumeRole call of STS ended: the callers that waited for STS. It measures any provider the
// same way, ours or the SDK's aws.CredentialsCache.
type WaitCounter struct {
	Provider aws.CredentialsProvider
	STS      *CountingSTS

	waits atomic.Int64
}

// Retrieve implements aws.CredentialsProvider.
func (w *WaitCounter) Retrieve(ctx context.Context) (aws.Credentials, error) {
	before := w.STS.Ended()
	creds, err := w.Provider.Retrieve(ctx)
	if w.STS.Ended() != before {
		w.waits.Add(1)
	}
	return creds, err
}

// Waits returns the callers that waited for STS since the last Reset.
func (w *WaitCounter) Waits() int64 { return w.waits.Load() }

// Reset sets the count to zero, for example after the first retrieval.
func (w *WaitCounter) Reset() { w.waits.Store(0) }
