package credcache_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore/credcache"
	"github.com/dynamostore/dynamostore/dynamostoretest"
)

// A wrong ExternalId or an untrusted caller: a clear, typed error naming the role, reported at
// once, and a bounded number of STS calls however many callers ask.
func TestAssumeRoleAccessDenied(t *testing.T) {
	t.Parallel()
	cases := map[string]func(t *testing.T) (*dynamostoretest.STS, *credcache.Cache, string){
		"wrong ExternalId": func(t *testing.T) (*dynamostoretest.STS, *credcache.Cache, string) {
			emu, client, _, app := roleSTS(t)
			role := "arn:aws:iam::" + dynamostoretest.TableAccount + ":role/with-external-id"
			emu.AddRole(stsRole(role, app.ARN, "right-id"))
			c, err := credcache.AssumeRole(client, role, func(o *credcache.AssumeRoleOptions) {
				o.ExternalID = "wrong-id"
				o.NonRecoverableDelay = 500 * time.Millisecond
			})
			require.NoError(t, err)
			return emu, c, role
		},
		"untrusted caller": func(t *testing.T) (*dynamostoretest.STS, *credcache.Cache, string) {
			emu, _, role, _ := roleSTS(t)
			stranger := emu.AddPrincipal(dynamostoretest.Principal{ARN: "arn:aws:iam::999988887777:user/stranger"})
			c, err := credcache.AssumeRole(stsClient(emu, stranger), role, func(o *credcache.AssumeRoleOptions) {
				o.NonRecoverableDelay = 500 * time.Millisecond
			})
			require.NoError(t, err)
			return emu, c, role
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			emu, c, role := mk(t)
			_, err := c.Retrieve(context.Background())
			var cacheErr *credcache.Error
			require.ErrorAs(t, err, &cacheErr)
			assert.True(t, cacheErr.NonRecoverable)
			assert.Equal(t, role, cacheErr.Source)
			assert.True(t, strings.HasPrefix(err.Error(), "credcache: "), err.Error())
			var apiErr smithy.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, "AccessDenied", apiErr.ErrorCode())
			assert.Contains(t, apiErr.ErrorMessage(), "is not authorized to perform: sts:AssumeRole on resource: "+role)

			var wg sync.WaitGroup
			deadline := time.Now().Add(2 * time.Second)
			for range 32 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for time.Now().Before(deadline) {
						_, err := c.Retrieve(context.Background())
						assert.Error(t, err)
						time.Sleep(time.Millisecond)
					}
				}()
			}
			wg.Wait()
			calls := emu.Stats().Calls
			t.Logf("%d STS calls in 2 s of 32 callers", calls)
			assert.LessOrEqual(t, calls, int64(10), "one call per NonRecoverableDelay at most")
		})
	}
}

// Transient failures at start-up are retried after a backoff, not on every call.
func TestTransientFailureAtStartIsRetried(t *testing.T) {
	t.Parallel()
	emu, c, _ := assumeRole(t, func(o *credcache.AssumeRoleOptions) { o.RetryBaseDelay = 200 * time.Millisecond })
	emu.FailNext("Throttling", 1)
	_, err := c.Retrieve(context.Background())
	var cacheErr *credcache.Error
	require.ErrorAs(t, err, &cacheErr)
	assert.False(t, cacheErr.NonRecoverable)
	_, err = c.Retrieve(context.Background())
	require.Error(t, err, "within the backoff the error is answered from memory")
	assert.EqualValues(t, 1, emu.Stats().Calls)
	require.Eventually(t, func() bool { _, err := c.Retrieve(context.Background()); return err == nil }, 2*time.Second, 50*time.Millisecond)
	assert.EqualValues(t, 2, emu.Stats().Calls)
}

// Keep-warm renews without traffic and stops with Close.
func TestKeepWarm(t *testing.T) {
	t.Parallel()
	var events atomic.Int64
	emu, c, _ := assumeRole(t, func(o *credcache.AssumeRoleOptions) { o.OnRenew = func(credcache.Event) { events.Add(1) } })
	emu.SetLifetime(2 * time.Second)
	c.KeepWarm(context.Background())
	require.Eventually(t, func() bool { return c.Stats().Renewals >= 3 }, 8*time.Second, 50*time.Millisecond)
	assert.Zero(t, c.Stats().Waits+c.Stats().InitialWaits, "no caller ever asked")
	require.NoError(t, c.Close())
	time.Sleep(100 * time.Millisecond)
	calls := emu.Stats().Calls
	time.Sleep(2500 * time.Millisecond)
	assert.Equal(t, calls, emu.Stats().Calls, "Close stops it")
	assert.Equal(t, calls, events.Load(), "the hook saw every call")
}

// First callers share one STS call, bounded by their context.
func TestConcurrentFirstCallersShareOneCall(t *testing.T) {
	t.Parallel()
	emu, c, _ := assumeRole(t)
	emu.SetLatency(200 * time.Millisecond)
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Retrieve(context.Background())
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	assert.EqualValues(t, 1, emu.Stats().Calls)
	assert.EqualValues(t, 100, c.Stats().InitialWaits)

	slowEmu, slow, _ := assumeRole(t)
	slowEmu.SetLatency(2 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := slow.Retrieve(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), time.Second, "the caller's context bounds the wait")
}

// Defaults: an hour's duration and a valid, stable session name; no secret in the log.
func TestAssumeRoleDefaultsAndLogs(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	emu, client, role, app := roleSTS(t)
	emu.SetLifetime(0)
	c, err := credcache.AssumeRole(client, role, func(o *credcache.AssumeRoleOptions) { o.Logger = logger })
	require.NoError(t, err)
	got, err := c.Retrieve(context.Background())
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(time.Hour), got.Expires, 5*time.Second, "one hour, STS's default")
	assert.Equal(t, dynamostoretest.TableAccount, got.AccountID)
	emu.FailNext("Throttling", -1)
	c.Invalidate(got.AccessKeyID)
	_, _ = c.Retrieve(context.Background())

	// Each call is logged by the renewing goroutine after it releases the waiting callers.
	require.Eventually(t, func() bool {
		l := logs.String()
		return strings.Contains(l, "credcache: retrieved credentials") && strings.Contains(l, "credcache: retrieval failed") // the dropped credentials are not in service
	}, 5*time.Second, 10*time.Millisecond)
	logged := logs.String()
	assert.Contains(t, logged, "source="+role)
	assert.NotContains(t, logged, "dynamostore")
	assert.Regexp(t, `assumed-role/sessions/credcache-[\w+=,.@-]{1,54}`, fmt.Sprint(emu.IssuedARNs()))
	for _, secret := range []string{got.AccessKeyID, got.SecretAccessKey, got.SessionToken, app.SecretAccessKey, app.AccessKeyID} {
		assert.NotContains(t, logged, secret)
	}
}

// The cache's own Timeout bounds a call of the provider, whatever the caller's context.
func TestTimeoutOfItsOwn(t *testing.T) {
	t.Parallel()
	emu, c, _ := assumeRole(t, func(o *credcache.AssumeRoleOptions) { o.Timeout = 200 * time.Millisecond })
	emu.SetLatency(time.Second)
	start := time.Now()
	_, err := c.Retrieve(context.Background())
	var cacheErr *credcache.Error
	require.ErrorAs(t, err, &cacheErr)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 800*time.Millisecond)
	assert.False(t, cacheErr.NonRecoverable, "a timeout is transient")
}

// expiringProvider is a provider that is not STS: it hands out numbered credentials that
// live lifetime, or fails while failing is set.
type expiringProvider struct {
	lifetime time.Duration
	calls    atomic.Int64
	failing  atomic.Bool
}

var errProviderDown = errors.New("the provider is down")

func (p *expiringProvider) Retrieve(context.Context) (aws.Credentials, error) {
	n := p.calls.Add(1)
	if p.failing.Load() {
		return aws.Credentials{}, errProviderDown
	}
	return aws.Credentials{AccessKeyID: fmt.Sprintf("AKID%d", n), SecretAccessKey: "secret", CanExpire: true,
		Expires: time.Now().Add(p.lifetime), Source: "expiringProvider"}, nil
}

// New wraps any provider: credentials that expire are renewed in the background while the
// callers keep getting the current ones, and no caller waits after the first.
func TestNewRenewsAnExpiringProvider(t *testing.T) {
	t.Parallel()
	p := &expiringProvider{lifetime: 2 * time.Second}
	c, err := credcache.New(p)
	require.NoError(t, err)
	defer c.Close()
	deadline := time.Now().Add(3 * time.Second)
	seen := map[string]bool{}
	for time.Now().Before(deadline) {
		got, err := c.Retrieve(context.Background())
		require.NoError(t, err)
		require.True(t, got.Expires.After(time.Now()), "never expired credentials")
		seen[got.AccessKeyID] = true
		time.Sleep(5 * time.Millisecond)
	}
	st := c.Stats()
	t.Logf("stats %+v, %d distinct keys", st, len(seen))
	assert.GreaterOrEqual(t, st.Renewals, int64(2), "renewed ahead of expiry")
	assert.Zero(t, st.Waits, "no caller waited after the first retrieval")
	assert.EqualValues(t, 1, st.InitialWaits)
	assert.EqualValues(t, 1, st.MaxInFlight)
	assert.Equal(t, int(st.Calls), len(seen), "every call's credentials were served")
}

// A provider that fails: while its last credentials are valid they stay in service; once
// they have expired, the error is typed, names the provider and unwraps to its error; the
// provider is asked with backoff, not by every caller; and the cache recovers on its own.
func TestNewOverAFailingProvider(t *testing.T) {
	t.Parallel()
	p := &expiringProvider{lifetime: 1500 * time.Millisecond}
	c, err := credcache.New(p, func(o *credcache.Options) {
		o.RetryBaseDelay, o.RetryMaxDelay = 50*time.Millisecond, 200*time.Millisecond
	})
	require.NoError(t, err)
	defer c.Close()
	first, err := c.Retrieve(context.Background())
	require.NoError(t, err)
	p.failing.Store(true)
	calls := p.calls.Load()
	var served, failed int
	var lastErr error
	for time.Now().Before(first.Expires.Add(time.Second)) {
		got, err := c.Retrieve(context.Background())
		if err != nil {
			failed++
			lastErr = err
		} else {
			served++
			assert.True(t, got.Expires.After(time.Now().Add(-50*time.Millisecond)), "never expired credentials")
		}
		time.Sleep(2 * time.Millisecond)
	}
	assert.Positive(t, served, "the last good credentials served through the failures")
	require.Positive(t, failed, "and errors once they expired")
	var cacheErr *credcache.Error
	require.ErrorAs(t, lastErr, &cacheErr)
	assert.ErrorIs(t, lastErr, errProviderDown)
	assert.Equal(t, "*credcache_test.expiringProvider", cacheErr.Source)
	assert.False(t, cacheErr.NonRecoverable)
	asked := p.calls.Load() - calls
	t.Logf("%d retrievals served, %d failed, %d calls of the failing provider", served, failed, asked)
	assert.Less(t, asked, int64(30), "backoff, not a call per retrieval")

	p.failing.Store(false)
	require.Eventually(t, func() bool { _, err := c.Retrieve(context.Background()); return err == nil }, 2*time.Second, 20*time.Millisecond)
}

// staticProvider hands out credentials that cannot expire (an access key pair).
type staticProvider struct{ calls atomic.Int64 }

func (p *staticProvider) Retrieve(context.Context) (aws.Credentials, error) {
	p.calls.Add(1)
	return aws.Credentials{AccessKeyID: "AKIDSTATIC", SecretAccessKey: "secret"}, nil
}

// Credentials that cannot expire are retrieved once and passed through: no renewal, no
// expiry gauge, KeepWarm idles; Invalidate makes the next Retrieve ask again.
func TestNewOverCredentialsThatCannotExpire(t *testing.T) {
	t.Parallel()
	p := &staticProvider{}
	c, err := credcache.New(p)
	require.NoError(t, err)
	defer c.Close()
	c.KeepWarm(context.Background())
	require.Eventually(t, func() bool { return p.calls.Load() == 1 }, time.Second, 5*time.Millisecond)
	for range 1000 {
		got, err := c.Retrieve(context.Background())
		require.NoError(t, err)
		assert.False(t, got.CanExpire)
	}
	time.Sleep(200 * time.Millisecond)
	st := c.Stats()
	assert.EqualValues(t, 1, p.calls.Load(), "retrieved once")
	assert.Zero(t, st.Renewals)
	assert.True(t, st.Expires.IsZero() && st.RenewAt.IsZero(), "nothing expires, nothing is due")
	require.True(t, c.Invalidate("AKIDSTATIC"))
	_, err = c.Retrieve(context.Background())
	require.NoError(t, err)
	assert.EqualValues(t, 2, p.calls.Load())
}

// config.LoadDefaultConfig wraps every provider in aws.CredentialsCache, which refreshes only
// at expiry: a renewal through it would get the very credentials being replaced, and callers
// would wait at expiry after all. New invalidates it before each renewal.
func TestNewOverTheSDKsCacheRenewsAheadOfExpiry(t *testing.T) {
	t.Parallel()
	p := &expiringProvider{lifetime: 2 * time.Second}
	c, err := credcache.New(aws.NewCredentialsCache(p))
	require.NoError(t, err)
	defer c.Close()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		got, err := c.Retrieve(context.Background())
		require.NoError(t, err)
		require.True(t, got.Expires.After(time.Now()))
		time.Sleep(5 * time.Millisecond)
	}
	st := c.Stats()
	t.Logf("stats %+v; provider calls %d", st, p.calls.Load())
	assert.GreaterOrEqual(t, st.Renewals, int64(2))
	assert.Equal(t, st.Calls, p.calls.Load(), "every renewal reached the provider")
	assert.Zero(t, st.Waits)
}

// New of a Cache returns it: a cache never wraps a cache. Options cannot apply to it, so
// they are refused rather than dropped in silence.
func TestNewOfACacheReturnsIt(t *testing.T) {
	t.Parallel()
	_, c, _ := assumeRole(t)
	again, err := credcache.New(c)
	require.NoError(t, err)
	assert.Same(t, c, again)
	for name, fn := range map[string]func(*credcache.Options){
		"out of range": func(o *credcache.Options) { o.Jitter = 7 },
		"valid":        func(o *credcache.Options) { o.Logger = slog.Default() },
	} {
		_, err = credcache.New(c, fn)
		var ce *credcache.ConfigError
		assert.ErrorAs(t, err, &ce, name)
	}
	_, err = credcache.New(nil)
	var ce *credcache.ConfigError
	require.ErrorAs(t, err, &ce)
}
