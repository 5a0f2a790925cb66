package dynamostoretest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynamostore/dynamostore/internal/sigv4"
)

// Account IDs the test kit uses for its two simulated accounts.
const (
	UsageAccount = "111122223333" // where the application runs
	TableAccount = "444455556666" // where the table and its role live
)

// Principal is a caller with long-term keys, such as an IAM user or the application's role.
type Principal struct {
	ARN             string // arn:aws:iam::111122223333:user/app
	AccessKeyID     string
	SecretAccessKey string
	// Policy is the principal's identity-based policy, which the gateway evaluates when the
	// principal signs DynamoDB requests itself (resource-based policy mode, no AssumeRole).
	Policy Policy
}

// Account returns the account ID in the principal's ARN.
func (p Principal) Account() string { return arnAccount(p.ARN) }

// Role is an IAM role that principals may assume.
type Role struct {
	ARN string // arn:aws:iam::444455556666:role/sessions
	// Trusted lists who may assume the role: principal ARNs, or account IDs (or
	// arn:aws:iam::ACCOUNT:root), which trust every principal of that account.
	Trusted []string
	// ExternalID, when set, must be passed by every AssumeRole call.
	ExternalID string
	// MaxSessionDuration caps DurationSeconds. Default: one hour.
	MaxSessionDuration time.Duration
	// Policy is the role's identity-based (permission) policy, which the gateway evaluates
	// for the role's credentials.
	Policy Policy

	id string // the unique ID AWS gives a role (AROA...)
}

func (r *Role) trusts(caller string) bool {
	account := arnAccount(caller)
	for _, t := range r.Trusted {
		if t == caller || t == account || t == "arn:aws:iam::"+account+":root" {
			return true
		}
	}
	return false
}

// Issued is a set of temporary credentials issued by the STS emulator.
type Issued struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
	AssumedRoleARN  string // arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION
	Role            *Role
	Revoked         bool
}

// STSStats counts the emulator's AssumeRole calls.
type STSStats struct {
	Calls  int64 // requests received
	Issued int64 // credentials issued
	Failed int64 // requests answered with an error
	// FailedByCode counts the errors by code, to tell why calls failed.
	FailedByCode map[string]int64
	MaxInFlight  int64 // most requests handled at once
}

// STS is a local AWS STS that speaks AssumeRole exactly as AWS does (awsQuery request, XML
// answer and errors), checks each caller's SigV4 signature, applies the roles' trust rules,
// ExternalIds and maximum durations, and validates parameters with AWS's constraints and
// messages. Point an STS client at URL with sts.Options.BaseEndpoint.
type STS struct {
	// URL is the emulator's endpoint.
	URL    string
	server *httptest.Server

	mu         sync.Mutex
	principals map[string]*Principal // by access key ID
	roles      map[string]*Role      // by ARN
	issued     map[string]*Issued    // by access key ID
	failedBy   map[string]int64
	region     string
	lifetime   time.Duration
	latency    time.Duration
	failCode   string
	failCount  int // <0: until cleared
	outageFrom time.Time
	outageTo   time.Time
	now        func() time.Time

	calls, issuedN, failed, inFlight, maxInFlight atomic.Int64
}

// NewSTS starts an STS emulator on a loopback port. Close stops it.
func NewSTS() *STS {
	s := &STS{
		principals: map[string]*Principal{},
		roles:      map[string]*Role{},
		issued:     map[string]*Issued{},
		failedBy:   map[string]int64{},
		region:     "us-east-1",
		now:        time.Now,
	}
	s.server = httptest.NewServer(s)
	s.URL = s.server.URL
	return s
}

// Close stops the emulator.
func (s *STS) Close() { s.server.Close() }

// AddPrincipal registers a caller. Empty keys are generated; the completed principal is returned.
func (s *STS) AddPrincipal(p Principal) Principal {
	if p.AccessKeyID == "" {
		p.AccessKeyID = "AKIA" + randomKeyID()
	}
	if p.SecretAccessKey == "" {
		p.SecretAccessKey = randomSecret()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.principals[p.AccessKeyID] = &p
	return p
}

// AddRole registers a role.
func (s *STS) AddRole(r Role) {
	if r.MaxSessionDuration == 0 {
		r.MaxSessionDuration = time.Hour
	}
	r.id = randomKeyID() + "X"
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roles[r.ARN] = &r
}

// SetRegion sets the region the emulator serves (default us-east-1, where STS's global
// endpoint signs): as AWS does, it rejects requests signed for any other region.
func (s *STS) SetRegion(region string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.region = region
}

// SetLifetime makes issued credentials live d, whatever DurationSeconds asked for (STS's own
// minimum is 15 minutes; tests need seconds). Zero restores the requested duration.
func (s *STS) SetLifetime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lifetime = d
}

// SetLatency delays every answer by d.
func (s *STS) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// FailNext answers the next n requests (all of them while n < 0, until ClearFaults) with the
// AWS error code, for example Throttling, AccessDenied, InternalFailure or RegionDisabledException.
func (s *STS) FailNext(code string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failCode, s.failCount = code, n
}

// Outage answers 503 ServiceUnavailable to every request between from and to.
func (s *STS) Outage(from, to time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outageFrom, s.outageTo = from, to
}

// ClearFaults removes injected errors, outages and latency.
func (s *STS) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failCode, s.failCount, s.latency = "", 0, 0
	s.outageFrom, s.outageTo = time.Time{}, time.Time{}
}

// Revoke invalidates issued credentials: the gateway rejects them from now on.
func (s *STS) Revoke(accessKeyID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.issued[accessKeyID]; ok {
		c.Revoked = true
	}
}

// Expire makes issued credentials expire now: the gateway answers ExpiredTokenException.
func (s *STS) Expire(accessKeyID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.issued[accessKeyID]; ok {
		c.Expiration = s.now()
	}
}

// IssuedARNs returns the assumed-role ARNs of every credential issued so far.
func (s *STS) IssuedARNs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	arns := make([]string, 0, len(s.issued))
	for _, c := range s.issued {
		arns = append(arns, c.AssumedRoleARN)
	}
	return arns
}

// Stats returns the call counts.
func (s *STS) Stats() STSStats {
	s.mu.Lock()
	byCode := make(map[string]int64, len(s.failedBy))
	for k, v := range s.failedBy {
		byCode[k] = v
	}
	s.mu.Unlock()
	return STSStats{Calls: s.calls.Load(), Issued: s.issuedN.Load(), Failed: s.failed.Load(), MaxInFlight: s.maxInFlight.Load(), FailedByCode: byCode}
}

// caller is whoever signed a request: a principal, or temporary credentials.
type caller struct {
	arn, secret string
	policy      Policy
	issued      *Issued
	role        string // for temporary credentials, the ARN of their role
}

// lookup finds the signer of a request by access key ID.
func (s *STS) lookup(accessKeyID string) (caller, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.principals[accessKeyID]; ok {
		return caller{arn: p.ARN, secret: p.SecretAccessKey, policy: p.Policy}, true
	}
	if c, ok := s.issued[accessKeyID]; ok {
		copied := *c
		return caller{arn: c.AssumedRoleARN, secret: c.SecretAccessKey, policy: c.Role.Policy, issued: &copied, role: c.Role.ARN}, true
	}
	return caller{}, false
}

type stsError struct {
	status  int
	code    string
	message string
}

var stsFaults = map[string]int{
	"Throttling": 400, "ValidationError": 400, "MalformedPolicyDocument": 400, "PackedPolicyTooLarge": 400,
	"AccessDenied": 403, "RegionDisabledException": 403, "ExpiredToken": 403, "InvalidClientTokenId": 403,
	"InternalFailure": 500, "ServiceUnavailable": 503,
}

// ServeHTTP answers an AssumeRole request: injected faults first (latency, outage, error),
// then the caller's signature, the parameters, the role's trust rule and ExternalId, and the
// duration limits, each failure in STS's XML error form.
func (s *STS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.maxInFlight.Load()
		if n <= m || s.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	result, err := s.handle(r)
	if err != nil {
		s.failed.Add(1)
		s.mu.Lock()
		s.failedBy[err.code]++
		s.mu.Unlock()
		writeSTSError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", requestID())
	_, _ = io.WriteString(w, result)
}

func (s *STS) handle(r *http.Request) (string, *stsError) {
	s.mu.Lock()
	latency, now := s.latency, s.now()
	outage := !now.Before(s.outageFrom) && now.Before(s.outageTo)
	fault := ""
	if s.failCount != 0 {
		fault = s.failCode
		if s.failCount > 0 {
			s.failCount--
		}
	}
	s.mu.Unlock()
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return "", &stsError{503, "ServiceUnavailable", "request cancelled"}
		}
	}
	if outage {
		return "", &stsError{503, "ServiceUnavailable", "Service Unavailable"}
	}
	if fault != "" {
		status, ok := stsFaults[fault]
		if !ok {
			status = 400
		}
		return "", &stsError{status, fault, "injected fault: " + fault}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return "", &stsError{400, "InvalidRequest", "cannot read body"}
	}
	who, stsErr := s.authenticate(r, body, "sts")
	if stsErr != nil {
		return "", stsErr
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return "", &stsError{400, "MalformedQueryString", "the request body is not form-encoded"}
	}
	if action := form.Get("Action"); action != "AssumeRole" {
		return "", &stsError{400, "InvalidAction", fmt.Sprintf("Could not find operation %s for version %s", action, form.Get("Version"))}
	}
	if v := form.Get("Version"); v != "2011-06-15" {
		return "", &stsError{400, "InvalidAction", fmt.Sprintf("Could not find operation AssumeRole for version %s", v)}
	}
	in, stsErr := parseAssumeRole(form)
	if stsErr != nil {
		return "", stsErr
	}
	return s.assumeRole(who, in)
}

// authenticate checks the signature of a request and returns its signer.
func (s *STS) authenticate(r *http.Request, body []byte, service string) (caller, *stsError) {
	auth, err := sigv4.ParseAuthorization(r.Header.Get("Authorization"))
	if err == sigv4.ErrMissing {
		return caller{}, &stsError{400, "MissingAuthenticationToken", "Request is missing Authentication Token"}
	}
	if err != nil {
		return caller{}, &stsError{400, "IncompleteSignature", err.Error()}
	}
	who, ok := s.lookup(auth.AccessKeyID)
	if !ok || (who.issued != nil && (who.issued.Revoked || r.Header.Get("X-Amz-Security-Token") != who.issued.SessionToken)) {
		return caller{}, &stsError{403, "InvalidClientTokenId", "The security token included in the request is invalid."}
	}
	if who.issued != nil && !s.now().Before(who.issued.Expiration) {
		return caller{}, &stsError{403, "ExpiredToken", "The security token included in the request is expired"}
	}
	s.mu.Lock()
	region := s.region
	s.mu.Unlock()
	if e := scopeError(auth, region, service); e != "" {
		return caller{}, &stsError{403, "SignatureDoesNotMatch", e}
	}
	if err := sigv4.Verify(r, body, auth, who.secret, service, s.now()); err != nil {
		return caller{}, &stsError{403, "SignatureDoesNotMatch", err.Error()}
	}
	return who, nil
}

type assumeRoleInput struct {
	roleARN, sessionName, externalID, sourceIdentity string
	duration                                         time.Duration
}

var (
	sessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]*$`)
	externalIDPattern  = regexp.MustCompile(`^[\w+=,.@:/-]*$`)
	serialPattern      = regexp.MustCompile(`^[\w+=/:,.@-]*$`)
	tokenCodePattern   = regexp.MustCompile(`^[\d]*$`)
	policyPattern      = regexp.MustCompile(`^[\x{0009}\x{000A}\x{000D}\x{0020}-\x{00FF}]+$`)
	tagPattern         = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
)

// parseAssumeRole validates the parameters as STS does, with its messages.
func parseAssumeRole(form url.Values) (assumeRoleInput, *stsError) {
	var problems []string
	check := func(ok bool, value, member, constraint string) {
		if !ok {
			problems = append(problems, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: %s", value, member, constraint))
		}
	}
	length := func(field, member string, min, max int) string {
		v := form.Get(field)
		if _, present := form[field]; present || min > 0 {
			check(len(v) >= min, v, member, fmt.Sprintf("Member must have length greater than or equal to %d", min))
			check(len(v) <= max, v, member, fmt.Sprintf("Member must have length less than or equal to %d", max))
		}
		return v
	}
	pattern := func(v, member string, re *regexp.Regexp, shown string) {
		check(re.MatchString(v), v, member, "Member must satisfy regular expression pattern: "+shown)
	}
	in := assumeRoleInput{duration: time.Hour}
	in.roleARN = length("RoleArn", "roleArn", 20, 2048)
	in.sessionName = length("RoleSessionName", "roleSessionName", 2, 64)
	pattern(in.sessionName, "roleSessionName", sessionNamePattern, `[\w+=,.@-]*`)
	if _, ok := form["DurationSeconds"]; ok {
		d, err := strconv.Atoi(form.Get("DurationSeconds"))
		check(err == nil && d >= 900, form.Get("DurationSeconds"), "durationSeconds", "Member must have value greater than or equal to 900")
		check(err == nil && d <= 43200, form.Get("DurationSeconds"), "durationSeconds", "Member must have value less than or equal to 43200")
		in.duration = time.Duration(d) * time.Second
	}
	if _, ok := form["ExternalId"]; ok {
		in.externalID = length("ExternalId", "externalId", 2, 1224)
		pattern(in.externalID, "externalId", externalIDPattern, `[\w+=,.@:\/-]*`)
	}
	if _, ok := form["SourceIdentity"]; ok {
		in.sourceIdentity = length("SourceIdentity", "sourceIdentity", 2, 64)
		pattern(in.sourceIdentity, "sourceIdentity", sessionNamePattern, `[\w+=,.@-]*`)
		check(!strings.HasPrefix(in.sourceIdentity, "aws:"), in.sourceIdentity, "sourceIdentity", "Member must not start with aws:")
	}
	if _, ok := form["SerialNumber"]; ok {
		pattern(length("SerialNumber", "serialNumber", 9, 256), "serialNumber", serialPattern, `[\w+=/:,.@-]*`)
	}
	if _, ok := form["TokenCode"]; ok {
		pattern(length("TokenCode", "tokenCode", 6, 6), "tokenCode", tokenCodePattern, `[\d]*`)
	}
	if _, ok := form["Policy"]; ok {
		pattern(length("Policy", "policy", 1, 2048), "policy", policyPattern, `[\u0009\u000A\u000D\u0020-\u00FF]+`)
	}
	members := func(format string) int {
		n := 0
		for {
			if _, ok := form[fmt.Sprintf(format, n+1)]; !ok {
				return n
			}
			n++
		}
	}
	limit := func(n int, member string, max int) {
		check(n <= max, strconv.Itoa(n), member, fmt.Sprintf("Member must have length less than or equal to %d", max))
	}
	limit(members("PolicyArns.member.%d.arn"), "policyArns", 10)
	limit(members("TransitiveTagKeys.member.%d"), "transitiveTagKeys", 50)
	tags := members("Tags.member.%d.Key")
	limit(tags, "tags", 50)
	for i := 1; i <= tags; i++ {
		k, v := form.Get(fmt.Sprintf("Tags.member.%d.Key", i)), form.Get(fmt.Sprintf("Tags.member.%d.Value", i))
		check(len(k) >= 1 && len(k) <= 128 && tagPattern.MatchString(k), k, fmt.Sprintf("tags.%d.member.key", i), "Member must have length between 1 and 128 and satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+")
		check(len(v) <= 256 && tagPattern.MatchString(v), v, fmt.Sprintf("tags.%d.member.value", i), "Member must have length less than or equal to 256 and satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*")
	}
	if len(problems) > 0 {
		noun := "error"
		if len(problems) > 1 {
			noun = "errors"
		}
		return in, &stsError{400, "ValidationError", fmt.Sprintf("%d validation %s detected: %s", len(problems), noun, strings.Join(problems, "; "))}
	}
	return in, nil
}

func (s *STS) assumeRole(who caller, in assumeRoleInput) (string, *stsError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	role, ok := s.roles[in.roleARN]
	denied := &stsError{403, "AccessDenied", fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", who.arn, in.roleARN)}
	if !ok || !role.trusts(who.arn) || (role.ExternalID != "" && role.ExternalID != in.externalID) {
		return "", denied
	}
	if in.duration > role.MaxSessionDuration {
		return "", &stsError{400, "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."}
	}
	if who.issued != nil && in.duration > time.Hour {
		return "", &stsError{400, "ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."}
	}
	lifetime := in.duration
	if s.lifetime > 0 {
		lifetime = s.lifetime
	}
	roleName := in.roleARN[strings.LastIndex(in.roleARN, "/")+1:]
	creds := &Issued{
		AccessKeyID:     "ASIA" + randomKeyID(),
		SecretAccessKey: randomSecret(),
		SessionToken:    randomToken(),
		Expiration:      s.now().Add(lifetime).UTC(),
		AssumedRoleARN:  fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", arnAccount(in.roleARN), roleName, in.sessionName),
		Role:            role,
	}
	s.issued[creds.AccessKeyID] = creds
	s.issuedN.Add(1)
	var b strings.Builder
	b.WriteString(`<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">` + "\n  <AssumeRoleResult>\n")
	if in.sourceIdentity != "" {
		b.WriteString("    <SourceIdentity>" + xmlText(in.sourceIdentity) + "</SourceIdentity>\n")
	}
	fmt.Fprintf(&b, "    <AssumedRoleUser>\n      <AssumedRoleId>AROA%s:%s</AssumedRoleId>\n      <Arn>%s</Arn>\n    </AssumedRoleUser>\n",
		role.id, xmlText(in.sessionName), xmlText(creds.AssumedRoleARN))
	// AWS sends whole seconds. A lifetime set by a test (seconds long) gets milliseconds too,
	// which the format allows, so that "3 seconds" means 3 seconds and not 2 to 3.
	layout := "2006-01-02T15:04:05Z"
	if s.lifetime > 0 {
		layout = "2006-01-02T15:04:05.000Z"
	}
	fmt.Fprintf(&b, "    <Credentials>\n      <AccessKeyId>%s</AccessKeyId>\n      <SecretAccessKey>%s</SecretAccessKey>\n      <SessionToken>%s</SessionToken>\n      <Expiration>%s</Expiration>\n    </Credentials>\n",
		creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken, creds.Expiration.Format(layout))
	fmt.Fprintf(&b, "    <PackedPolicySize>6</PackedPolicySize>\n  </AssumeRoleResult>\n  <ResponseMetadata>\n    <RequestId>%s</RequestId>\n  </ResponseMetadata>\n</AssumeRoleResponse>\n", requestID())
	return b.String(), nil
}

func writeSTSError(w http.ResponseWriter, e *stsError) {
	kind := "Sender"
	if e.status >= 500 {
		kind = "Receiver"
	}
	id := requestID()
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", id)
	w.WriteHeader(e.status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>%s</Type>
    <Code>%s</Code>
    <Message>%s</Message>
  </Error>
  <RequestId>%s</RequestId>
</ErrorResponse>
`, kind, e.code, xmlText(e.message), id)
}

func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func arnAccount(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}

const keyIDAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

func randomKeyID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = keyIDAlphabet[int(b[i])%len(keyIDAlphabet)]
	}
	return string(b)
}

func randomSecret() string {
	b := make([]byte, 30)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b) // 40 characters
}

func randomToken() string {
	b := make([]byte, 96)
	_, _ = rand.Read(b)
	return "FwoGZXIvYXdzE" + base64.StdEncoding.EncodeToString(b)
}

func requestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
