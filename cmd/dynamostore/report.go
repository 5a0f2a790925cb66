package main

import (
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/aws/smithy-go/logging"
)

// reporter prints check's steps, one PASS, SKIP or FAIL line each, with indented fix and
// detail lines, and counts them. Everything it prints goes through redact first.
type reporter struct {
	w                       io.Writer
	secrets                 []string
	passed, skipped, failed int
}

// pass prints "PASS step: detail".
func (r *reporter) pass(step, detail string) {
	r.passed++
	r.line("PASS " + step + ": " + detail)
}

// skip prints "SKIP step: why" and the indented lines more.
func (r *reporter) skip(step, why string, more ...string) {
	r.skipped++
	r.line("SKIP " + step + ": " + why)
	r.indented(more)
}

// fail prints "FAIL step: what", then "  fix: " with the first fix line and the other fix
// lines indented below it.
func (r *reporter) fail(step, what string, fix ...string) {
	r.failed++
	r.line("FAIL " + step + ": " + what)
	if len(fix) > 0 {
		r.line("  fix: " + fix[0])
		for _, l := range fix[1:] {
			r.line("       " + l)
		}
	}
}

// note prints an indented line that belongs to the step printed last.
func (r *reporter) note(text string) { r.line("  " + text) }

func (r *reporter) indented(lines []string) {
	for _, l := range lines {
		r.line("  " + l)
	}
}

func (r *reporter) line(s string) {
	for _, l := range strings.Split(r.redact(s), "\n") {
		fmt.Fprintln(r.w, l)
	}
}

// addSecret makes redact hide s (a secret access key or session token) wherever it appears.
func (r *reporter) addSecret(s string) {
	if len(s) >= 8 {
		r.secrets = append(r.secrets, s)
	}
}

var (
	signaturePattern = regexp.MustCompile(`(?i)(signature=)[0-9a-f]+`)
	tokenPattern     = regexp.MustCompile(`(?i)(x-amz-security-token[:=]\s*)[^\s&,;]+`)
	credentialParam  = regexp.MustCompile(`(?i)(x-amz-credential=|credential=)[^\s&,;]+`)
)

// redact hides every known secret, and anything that looks like a SigV4 signature, session
// token or credential scope, in s. Error messages of AWS services can quote a request (a
// SignatureDoesNotMatch answer quotes its canonical form, security token header included), so
// nothing check prints is trusted to be free of them.
func (r *reporter) redact(s string) string {
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	s = signaturePattern.ReplaceAllString(s, "${1}[redacted]")
	s = tokenPattern.ReplaceAllString(s, "${1}[redacted]")
	return credentialParam.ReplaceAllString(s, "${1}[redacted]")
}

// sdkLogger returns a logger for the SDK's own warnings (such as a response checksum that
// does not match) that writes them to w, redacted by r, rather than to the process's stderr.
func sdkLogger(w io.Writer, r *reporter) logging.Logger {
	return logging.LoggerFunc(func(classification logging.Classification, format string, v ...any) {
		fmt.Fprintf(w, "dynamostore: AWS SDK %s: %s\n", strings.ToLower(string(classification)), r.redact(fmt.Sprintf(format, v...)))
	})
}
