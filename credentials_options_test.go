package dynamostore_test

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
)

// syncBuffer is a log destination that the renewal goroutine and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// roleSTS is an STS emulator with one role that the returned client may assume.
func roleSTS(t *testing.T) (*dynamostoretest.STS, *sts.Client, string) {
	t.Helper()
	emu := dynamostoretest.NewSTS()
	t.Cleanup(emu.Close)
	app := emu.AddPrincipal(dynamostoretest.Principal{ARN: "arn:aws:iam::" + dynamostoretest.UsageAccount + ":role/app"})
	role := "arn:aws:iam::" + dynamostoretest.TableAccount + ":role/sessions"
	emu.AddRole(dynamostoretest.Role{ARN: role, Trusted: []string{app.ARN}, MaxSessionDuration: 12 * time.Hour})
	client := sts.New(sts.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(emu.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(app.AccessKeyID, app.SecretAccessKey, ""),
		RetryMaxAttempts: 1,
	})
	return emu, client, role
}

// Every out-of-range value is replaced with a warning that names the option; none panics,
// and each still gives working credentials.
func TestCredentialsOptionsOutOfRangeAreReplaced(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		set  func(*dynamostore.CredentialsOptions)
		warn string // option named in the warning
	}{
		"negative RetryBaseDelay": {func(o *dynamostore.CredentialsOptions) { o.RetryBaseDelay = -time.Second }, "RetryBaseDelay"},
		"negative RetryMaxDelay":  {func(o *dynamostore.CredentialsOptions) { o.RetryMaxDelay = -time.Second }, "RetryMaxDelay"},
		"tiny RetryBaseDelay":     {func(o *dynamostore.CredentialsOptions) { o.RetryBaseDelay = time.Nanosecond }, "RetryBaseDelay"},
		"max below base": {func(o *dynamostore.CredentialsOptions) {
			o.RetryBaseDelay, o.RetryMaxDelay = time.Second, 20*time.Millisecond
		}, "RetryMaxDelay"},
		"negative NonRecoverableDelay": {func(o *dynamostore.CredentialsOptions) { o.NonRecoverableDelay = -1 }, "NonRecoverableDelay"},
		"negative Timeout":             {func(o *dynamostore.CredentialsOptions) { o.Timeout = -time.Second }, "Timeout"},
		"negative RenewBefore":         {func(o *dynamostore.CredentialsOptions) { o.RenewBefore = -time.Minute }, "RenewBefore"},
		"negative MinRemaining":        {func(o *dynamostore.CredentialsOptions) { o.MinRemaining = -time.Minute }, "MinRemaining"},
		"Duration below STS's minimum": {func(o *dynamostore.CredentialsOptions) { o.Duration = time.Minute }, "Duration"},
		"Duration above STS's maximum": {func(o *dynamostore.CredentialsOptions) { o.Duration = 24 * time.Hour }, "Duration"},
		"negative Duration":            {func(o *dynamostore.CredentialsOptions) { o.Duration = -time.Hour }, "Duration"},
		"NaN Jitter":                   {func(o *dynamostore.CredentialsOptions) { o.Jitter = math.NaN() }, "Jitter"},
		"negative Jitter":              {func(o *dynamostore.CredentialsOptions) { o.Jitter = -2 }, "Jitter"},
		"Jitter above 1":               {func(o *dynamostore.CredentialsOptions) { o.Jitter = 7 }, "Jitter"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, client, role := roleSTS(t)
			var logs syncBuffer
			creds := dynamostore.NewAssumeRoleCredentials(client, role, c.set, func(o *dynamostore.CredentialsOptions) {
				o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			})
			assert.Contains(t, logs.String(), "option="+c.warn, "a warning names the option")
			got, err := creds.Retrieve(context.Background())
			require.NoError(t, err)
			assert.NotEmpty(t, got.AccessKeyID)
		})
	}
}

// Negative delays used to panic (rand.Int64N) in the renewal goroutine at the first STS
// failure, killing the process during an outage. Now the failures are backed off.
func TestNegativeDelaysDuringAnOutageDoNotPanicOrSpin(t *testing.T) {
	t.Parallel()
	emu, client, role := roleSTS(t)
	emu.FailNext("ServiceUnavailable", -1)
	creds := dynamostore.NewAssumeRoleCredentials(client, role, func(o *dynamostore.CredentialsOptions) {
		o.RetryBaseDelay, o.RetryMaxDelay, o.NonRecoverableDelay = -time.Second, -time.Second, -time.Second
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	creds.KeepWarm(ctx)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		_, err := creds.Retrieve(context.Background())
		assert.Error(t, err)
		time.Sleep(5 * time.Millisecond)
	}
	calls := emu.Stats().Calls
	t.Logf("%d STS calls in 2 s of outage", calls)
	// Backoff from the defaults for a one-hour lifetime: 1 s, doubling, jittered by half.
	assert.LessOrEqual(t, calls, int64(6), "backed off, not a loop")
	emu.ClearFaults()
}

// A MinRemaining at or above the granted lifetime used to throw every AssumeRole answer away
// as "too soon" and call STS again and again (27-29 calls in 2 s). Now the margin shrinks to
// a quarter of what STS granted, and the credentials are used.
func TestMarginsLargerThanTheGrantedLifetime(t *testing.T) {
	t.Parallel()
	emu, client, role := roleSTS(t)
	emu.SetLifetime(2 * time.Second)
	creds := dynamostore.NewAssumeRoleCredentials(client, role, func(o *dynamostore.CredentialsOptions) {
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
	assert.LessOrEqual(t, st.AssumeRoleCalls, int64(5))
	assert.GreaterOrEqual(t, st.AssumeRoleCalls, int64(2), "and renewal still happens")
	assert.Zero(t, st.Waits)
}

// Credentials that arrive already expired (a wrong clock) are reported as a non-recoverable
// error naming the cause, and STS is not asked again in a loop.
func TestCredentialsExpiredOnArrival(t *testing.T) {
	t.Parallel()
	_, client, role := roleSTS(t)
	creds := dynamostore.NewAssumeRoleCredentials(client, role, func(o *dynamostore.CredentialsOptions) {
		o.Clock = func() time.Time { return time.Now().Add(2 * time.Hour) }
		o.NonRecoverableDelay = time.Second
	})
	_, err := creds.Retrieve(context.Background())
	var renewalErr *dynamostore.RenewalError
	require.ErrorAs(t, err, &renewalErr)
	assert.True(t, renewalErr.NonRecoverable)
	assert.Contains(t, err.Error(), "check the clock")
	for range 50 {
		_, _ = creds.Retrieve(context.Background())
	}
	assert.EqualValues(t, 1, creds.Stats().AssumeRoleCalls, "answered from memory")
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
	emu, client, role := roleSTS(t)
	emu.SetLifetime(time.Hour)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	set := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	creds := dynamostore.NewAssumeRoleCredentials(client, role, func(o *dynamostore.CredentialsOptions) {
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
