package credcache_test

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore/credcache"
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

// roleSTS is the test kit's STS emulator with one role that the returned client may assume.
func roleSTS(t *testing.T) (emu *dynamostoretest.STS, client *sts.Client, role string, app dynamostoretest.Principal) {
	t.Helper()
	emu = dynamostoretest.NewSTS()
	t.Cleanup(emu.Close)
	app = emu.AddPrincipal(dynamostoretest.Principal{ARN: "arn:aws:iam::" + dynamostoretest.UsageAccount + ":role/app"})
	role = "arn:aws:iam::" + dynamostoretest.TableAccount + ":role/sessions"
	emu.AddRole(dynamostoretest.Role{ARN: role, Trusted: []string{app.ARN}, MaxSessionDuration: 12 * time.Hour})
	return emu, stsClient(emu, app), role, app
}

// stsClient is an STS client on the emulator, signing as p, without retries of its own (the
// cache retries).
func stsClient(emu *dynamostoretest.STS, p dynamostoretest.Principal) *sts.Client {
	return sts.New(sts.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(emu.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(p.AccessKeyID, p.SecretAccessKey, ""),
		RetryMaxAttempts: 1,
	})
}

// assumeRole is credcache.AssumeRole on roleSTS's emulator; the cache is closed at cleanup.
func assumeRole(t *testing.T, optFns ...func(*credcache.AssumeRoleOptions)) (*dynamostoretest.STS, *credcache.Cache, string) {
	t.Helper()
	emu, client, role, _ := roleSTS(t)
	c, err := credcache.AssumeRole(client, role, optFns...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return emu, c, role
}

// stsRole is a role of the emulator that trusts principal and requires externalID.
func stsRole(arn, principal, externalID string) dynamostoretest.Role {
	return dynamostoretest.Role{ARN: arn, Trusted: []string{principal}, ExternalID: externalID}
}
