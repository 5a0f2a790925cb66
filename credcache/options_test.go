package credcache_test

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore/credcache"
)

func mustAssumeRole(t *testing.T, client *sts.Client, role string, optFns ...func(*credcache.AssumeRoleOptions)) *credcache.Cache {
	t.Helper()
	c, err := credcache.AssumeRole(client, role, optFns...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// Every out-of-range value is rejected at construction, as the session store's New rejects
// its options, with a *ConfigError that names the option. (They used to be replaced with a
// warning; negative delays had panicked in the renewal goroutine at the first STS failure.)
func TestOptionsOutOfRangeAreRejected(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		set  func(*credcache.AssumeRoleOptions)
		name string // option named in the error
	}{
		"negative RetryBaseDelay": {func(o *credcache.AssumeRoleOptions) { o.RetryBaseDelay = -time.Second }, "RetryBaseDelay"},
		"negative RetryMaxDelay":  {func(o *credcache.AssumeRoleOptions) { o.RetryMaxDelay = -time.Second }, "RetryMaxDelay"},
		"tiny RetryBaseDelay":     {func(o *credcache.AssumeRoleOptions) { o.RetryBaseDelay = time.Nanosecond }, "RetryBaseDelay"},
		"max below base": {func(o *credcache.AssumeRoleOptions) {
			o.RetryBaseDelay, o.RetryMaxDelay = time.Second, 20*time.Millisecond
		}, "RetryMaxDelay"},
		"negative NonRecoverableDelay": {func(o *credcache.AssumeRoleOptions) { o.NonRecoverableDelay = -1 }, "NonRecoverableDelay"},
		"negative Timeout":             {func(o *credcache.AssumeRoleOptions) { o.Timeout = -time.Second }, "Timeout"},
		"negative RenewBefore":         {func(o *credcache.AssumeRoleOptions) { o.RenewBefore = -time.Minute }, "RenewBefore"},
		"negative MinRemaining":        {func(o *credcache.AssumeRoleOptions) { o.MinRemaining = -time.Minute }, "MinRemaining"},
		"Duration below STS's minimum": {func(o *credcache.AssumeRoleOptions) { o.Duration = time.Minute }, "Duration"},
		"Duration above STS's maximum": {func(o *credcache.AssumeRoleOptions) { o.Duration = 24 * time.Hour }, "Duration"},
		"negative Duration":            {func(o *credcache.AssumeRoleOptions) { o.Duration = -time.Hour }, "Duration"},
		"NaN Jitter":                   {func(o *credcache.AssumeRoleOptions) { o.Jitter = math.NaN() }, "Jitter"},
		"negative Jitter":              {func(o *credcache.AssumeRoleOptions) { o.Jitter = -2 }, "Jitter"},
		"Jitter above 1":               {func(o *credcache.AssumeRoleOptions) { o.Jitter = 7 }, "Jitter"},
	}
	cases["malformed RoleSessionName"] = struct {
		set  func(*credcache.AssumeRoleOptions)
		name string
	}{func(o *credcache.AssumeRoleOptions) { o.RoleSessionName = "has spaces" }, "RoleSessionName"}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, client, role, _ := roleSTS(t)
			cache, err := credcache.AssumeRole(client, role, c.set)
			var ce *credcache.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Nil(t, cache)
			assert.Contains(t, err.Error(), c.name, "the error names the option")
			assert.True(t, strings.HasPrefix(err.Error(), "credcache: invalid options: "), err.Error())
		})
	}
	_, client, _, _ := roleSTS(t)
	for _, arn := range []string{"", "sessions", "arn:aws:iam::123:role/x", "arn:aws:iam::111122223333:user/x", "arn:aws:sts::111122223333:role/x"} {
		_, err := credcache.AssumeRole(client, arn)
		var ce *credcache.ConfigError
		assert.ErrorAs(t, err, &ce, "role ARN %q", arn)
	}
	_, err := credcache.New(aws.AnonymousCredentials{}, func(o *credcache.Options) { o.Timeout = -1 })
	var ce *credcache.ConfigError
	assert.ErrorAs(t, err, &ce, "New validates the same options")
}

// A MinRemaining at or above the granted lifetime used to throw every AssumeRole answer away
// as "too soon" and call STS again and again (27-29 calls in 2 s). Now the margin shrinks to
// a quarter of what STS granted, and the credentials are used.
func TestMarginsLargerThanTheGrantedLifetime(t *testing.T) {
	t.Parallel()
	emu, client, role, _ := roleSTS(t)
	emu.SetLifetime(2 * time.Second)
	creds := mustAssumeRole(t, client, role, func(o *credcache.AssumeRoleOptions) {
		o.MinRemaining = time.Hour
		o.RenewBefore = 2 * time.Hour
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	creds.KeepWarm(ctx)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		_, err := creds.Retrieve(context.Background())
		require.NoError(t, err)
		time.Sleep(10 * time.Millisecond)
	}
	st := creds.Stats()
	t.Logf("stats %+v", st)
	assert.Zero(t, st.Failures, "granted credentials are never thrown away")
	// The renewal lead is at most half the lifetime plus a quarter of that as jitter, so calls
	// are at least 0.75 s apart: at most 5 in 3 s, the first included.
	assert.LessOrEqual(t, st.Calls, int64(5))
	assert.GreaterOrEqual(t, st.Calls, int64(2), "and renewal still happens")
	assert.Zero(t, st.Waits)
}

// Credentials that arrive already expired (a wrong clock) are reported as a non-recoverable
// error naming the cause, and STS is not asked again in a loop.
func TestCredentialsExpiredOnArrival(t *testing.T) {
	t.Parallel()
	_, client, role, _ := roleSTS(t)
	creds := mustAssumeRole(t, client, role, func(o *credcache.AssumeRoleOptions) {
		o.Clock = func() time.Time { return time.Now().Add(2 * time.Hour) }
		o.NonRecoverableDelay = time.Second
	})
	_, err := creds.Retrieve(context.Background())
	var renewalErr *credcache.Error
	require.ErrorAs(t, err, &renewalErr)
	assert.True(t, renewalErr.NonRecoverable)
	assert.Contains(t, err.Error(), "check the clock")
	for range 50 {
		_, _ = creds.Retrieve(context.Background())
	}
	assert.EqualValues(t, 1, creds.Stats().Calls, "answered from memory")
	assert.False(t, strings.Contains(err.Error(), "SecretAccessKey"))
}

// Retry delays longer than the lifetime are capped by it, as the margins are: with 2 h on a
// 1 h credential, one transient STS failure at the renewal time used to stop renewal past
// expiry, although STS was healthy again for the last 15 minutes.
func TestRetryDelaysAreCappedByTheLifetime(t *testing.T) {
	t.Parallel()
	for name, delay := range map[string]time.Duration{"defaults": 0, "2h": 2 * time.Hour} {
		t.Run(name, func(t *testing.T) { retryDelayCase(t, delay) })
	}
}

func retryDelayCase(t *testing.T, delay time.Duration) {
	emu, client, role, _ := roleSTS(t)
	emu.SetLifetime(time.Hour)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	set := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	creds := mustAssumeRole(t, client, role, func(o *credcache.AssumeRoleOptions) {
		o.RetryBaseDelay, o.RetryMaxDelay = delay, delay
		o.Clock = clock
	})
	first, err := creds.Retrieve(context.Background())
	require.NoError(t, err)
	renewAt := creds.Stats().RenewAt
	emu.FailNext("ServiceUnavailable", 1) // one blip at the renewal time
	set(renewAt.Add(time.Second))
	_, err = creds.Retrieve(context.Background()) // starts the background renewal, which fails
	require.NoError(t, err)
	require.Eventually(t, func() bool { return creds.Stats().Failures == 1 }, 5*time.Second, 10*time.Millisecond)

	time.Sleep(3 * time.Second)               // the emulator stamps expiries by the real clock
	set(first.Expires.Add(-30 * time.Second)) // 15 minutes of healthy STS later
	_, err = creds.Retrieve(context.Background())
	require.NoError(t, err)
	set(first.Expires.Add(time.Second))
	_, err = creds.Retrieve(context.Background())
	t.Logf("STS calls: %d", emu.Stats().Calls)
	assert.NoError(t, err, "STS was healthy for the last quarter hour of the credentials")
}
