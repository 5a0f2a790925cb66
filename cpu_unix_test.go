//go:build unix

package dynamostore_test

import (
	"syscall"
	"testing"
	"time"
)

// reportCPU reports the process's CPU time (user and system, the garbage collector's
// included) per operation as cpu-ns/op, from the call to the returned function's call: on a
// shared machine it moves less than the wall time that ns/op measures.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
