package dynamostore_test

import (
	"os"
	"strings"
	"testing"
)

// CHANGELOG.md was written before the metrics, the dynamostore command and the vulnerability
// check landed, and its Unreleased section still lists none of them.
func TestChangelogListsTheRelease(t *testing.T) {
	b, err := os.ReadFile("CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"WithMeterProvider", "cmd/dynamostore", "examples/otel", "govulncheck"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("CHANGELOG.md does not mention %s", want)
		}
	}
}
