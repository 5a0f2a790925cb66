package dynamostoretest_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/dynamostore/dynamostore/dynamostoretest"
)

// Without DynamoDB Local, a test that needs it skips with instructions on a user's machine,
// and fails under CI=true: CI must never skip the storage tests. The test runs itself in a
// child process with DynamoDB Local made unfindable.
func TestMissingDynamoDBLocalFailsUnderCIAndSkipsElsewhere(t *testing.T) {
	if os.Getenv("DYNAMOSTORE_CHILD") == "1" {
		dynamostoretest.Endpoint(t)
		t.Log("DynamoDB Local was found") // never reached when it is missing
		return
	}
	for _, tc := range []struct {
		ci, want string
	}{
		{"true", "--- FAIL"},
		{"", "--- SKIP"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestMissingDynamoDBLocalFailsUnderCIAndSkipsElsewhere$", "-test.v")
		cmd.Env = append(os.Environ(), "DYNAMOSTORE_CHILD=1", "CI="+tc.ci, "DYNAMODB_ENDPOINT=", "DYNAMODB_LOCAL_DIR="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if !strings.Contains(string(out), tc.want) || !strings.Contains(string(out), "not installed") {
			t.Errorf("CI=%q: want %s with the reason, got (%v):\n%s", tc.ci, tc.want, err, out)
		}
		if tc.ci == "true" && err == nil {
			t.Errorf("CI=true: the child test did not fail")
		}
	}
}
