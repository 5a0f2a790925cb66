package main

import (
	"strings"
	"testing"

	"github.com/dynamostore/dynamostore/internal/snippets"
)

// TestReadmeMetricsSnippetCompiles compiles the README's metrics snippets, which need the
// OpenTelemetry bridge that only this module requires.
func TestReadmeMetricsSnippetCompiles(t *testing.T) {
	env := snippets.Env{
		Imports: map[string]string{
			"dynamostore":       "github.com/dynamostore/dynamostore",
			"smithyotelmetrics": "github.com/aws/smithy-go/metrics/smithyotelmetrics",
			"sdkmetric":         "go.opentelemetry.io/otel/sdk/metric",
			"aws":               "github.com/aws/aws-sdk-go-v2/aws",
		},
		Decls: `var (
	base              aws.Config
	tableARN, roleARN string
	hashKey           []byte
	otelMeterProvider *sdkmetric.MeterProvider
)
`,
	}
	all, err := snippets.FromMarkdown("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var metrics []snippets.Snippet
	for _, s := range all {
		if strings.Contains(s.Code, "smithyotelmetrics.") {
			metrics = append(metrics, s)
		}
	}
	snippets.Check(t, ".", env, metrics)
}
