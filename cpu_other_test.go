//go:build !unix

package dynamostore_test

import "testing"

// reportCPU reports nothing where getrusage is missing; ns/op remains.
func reportCPU(*testing.B) func() { return func() {} }
