package dynamostoretest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/dynamostore/dynamostore"
)

var shared struct {
	once     sync.Once
	endpoint string
	err      error
}

// Endpoint returns the URL of a DynamoDB Local for tests: $DYNAMODB_ENDPOINT when it is set,
// else one DynamoDB Local started for the whole test binary on first use (it stops when the
// binary exits). When DynamoDB Local is not installed the test is skipped with instructions,
// except under CI=true, where it fails: CI must never skip the storage tests.
func Endpoint(t testing.TB) string {
	t.Helper()
	if ep := os.Getenv("DYNAMODB_ENDPOINT"); ep != "" {
		return ep
	}
	shared.once.Do(func() {
		l, err := StartLocal(context.Background(), LocalOptions{})
		if err != nil {
			shared.err = err
			return
		}
		shared.endpoint = l.Endpoint
	})
	if shared.err != nil {
		if errors.Is(shared.err, ErrNotInstalled) && !InCI() {
			t.Skipf("skipping: %v", shared.err)
		}
		t.Fatalf("DynamoDB Local is required: %v", shared.err)
	}
	return shared.endpoint
}

// InCI reports whether the CI environment variable is set to a true value.
func InCI() bool {
	switch strings.ToLower(os.Getenv("CI")) {
	case "", "0", "false", "no":
		return false
	}
	return true
}

// Client returns a DynamoDB client for Endpoint(t).
func Client(t testing.TB, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	t.Helper()
	return NewClient(Endpoint(t), optFns...)
}

var unsafeTableChars = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// NewTable creates a session table with a name unique to this test (so tests can run in
// parallel) using dynamostore.CreateTable, and deletes it when the test ends.
func NewTable(t testing.TB, client *dynamodb.Client) string {
	t.Helper()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	base := unsafeTableChars.ReplaceAllString(t.Name(), "-")
	if len(base) > 200 {
		base = base[:200]
	}
	name := "t-" + base + "-" + hex.EncodeToString(suffix)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := dynamostore.CreateTable(ctx, client, name); err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: &name})
	})
	return name
}
