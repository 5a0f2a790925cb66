//go:build !unix

package dynamostore_test

import (
	"testing"
	"time"
)

// reportCPU reports nothing where getrusage is missing; ns/op remains.
func reportCPU(*testing.B) func() { return func() {} }

// cpuTime is zero where getrusage is missing.
func cpuTime() time.Duration { return 0 }
