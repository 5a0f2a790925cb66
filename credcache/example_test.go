package credcache_test

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/dynamostore/dynamostore/credcache"
)

// A Cache over a provider of your own: the first Retrieve calls it; the following ones are
// answered from memory while the credentials are fresh, and renewed in the background before
// they expire.
func ExampleNew() {
	calls := 0
	provider := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		calls++
		return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret",
			CanExpire: true, Expires: time.Now().Add(time.Hour)}, nil
	})
	creds, err := credcache.New(provider)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer creds.Close()
	for range 3 {
		if _, err := creds.Retrieve(context.Background()); err != nil {
			fmt.Println(err)
			return
		}
	}
	st := creds.Stats()
	fmt.Println("provider calls:", calls, "callers that waited after the first:", st.Waits)
	// Output: provider calls: 1 callers that waited after the first: 0
}

// Options out of range are rejected when the Cache is built, never clamped in silence.
func ExampleNew_invalidOptions() {
	_, err := credcache.New(aws.AnonymousCredentials{}, func(o *credcache.Options) {
		o.Jitter = 2
		o.Timeout = time.Millisecond
	})
	fmt.Println(err)
	// Output:
	// credcache: invalid options: Timeout is 1ms; want at least 100ms, or 0 for the default
	// Jitter is 2; want above 0 and at most 1, or 0 for the default (0.25)
}
