package dynamostoretest

import (
	"net/url"
	"testing"
	"time"
)

// FuzzParseAssumeRole: the STS parameter validation never panics, and what it accepts meets
// STS's constraints.
func FuzzParseAssumeRole(f *testing.F) {
	f.Add("Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A444455556666%3Arole%2Fx&RoleSessionName=app&DurationSeconds=900")
	f.Add("RoleArn=x&RoleSessionName=a:b&ExternalId=&Tags.member.1.Key=k&Tags.member.1.Value=v&PolicyArns.member.1.arn=p")
	f.Add("DurationSeconds=abc&SourceIdentity=aws:x&TokenCode=12345&SerialNumber=short")
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		in, stsErr := parseAssumeRole(form)
		if stsErr != nil {
			if stsErr.code != "ValidationError" || stsErr.status != 400 {
				t.Fatalf("unexpected error %+v", stsErr)
			}
			return
		}
		if len(in.roleARN) < 20 || len(in.sessionName) < 2 || len(in.sessionName) > 64 ||
			in.duration < 15*time.Minute || in.duration > 12*time.Hour {
			t.Fatalf("accepted %q as %+v", body, in)
		}
	})
}
