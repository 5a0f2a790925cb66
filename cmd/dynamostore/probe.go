package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/sessions"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/credcache"
)

// The probe runs a real dynamostore.Store on the table, so that check makes exactly the calls
// the application's store makes: the same actions, keys under the same prefix, the same
// ReturnValues, projections and attribute names, which IAM condition keys
// (dynamodb:LeadingKeys, dynamodb:Attributes, dynamodb:ReturnValues, dynamodb:Select) test.
// It drives the store as browsers would, through httptest requests and recorders whose
// Set-Cookie headers it replays, and a recordingClient remembers each call for the report.

const (
	// sessionName is the probe's session name; its cookie is __Host-dynamostore-check.
	sessionName = "dynamostore-check"
	// kvNamespace is the KV view's namespace: the probe's KV item is under
	// <prefix>dynamostore-check#.
	kvNamespace = "dynamostore-check"
	// probeLifetime bounds the life of everything the probe writes: sessions (the cookie's
	// MaxAge), the absolute timeout (and so the probe user's item) and the KV value. If a
	// delete fails, TTL removes what remains.
	probeLifetime = time.Hour
	// stepTimeout bounds each step, the SDK's retries included.
	stepTimeout = 90 * time.Second
	// valueKey is the session value the probe writes and reads back.
	valueKey = "dynamostore-check"
)

// testHookSecret, when set by a test, sees every session ID and cookie value the probe
// handles, to prove that none is printed.
var testHookSecret func(string)

// browser is a cookie jar: it sends its cookies with each request and keeps those the
// responses set, as a browser does.
type browser struct {
	name    string // for the report: "the first browser"
	cookies map[string]string
	handle  string // the session's handle once logged in
	ended   bool   // its session was revoked
}

func newBrowser(name string) *browser { return &browser{name: name, cookies: map[string]string{}} }

func (b *browser) request(ctx context.Context) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://dynamostore-check.invalid/", nil).WithContext(ctx)
	for name, value := range b.cookies {
		r.AddCookie(&http.Cookie{Name: name, Value: value})
	}
	return r
}

// probe is one run of the store's calls.
type probe struct {
	c      *checker
	store  *dynamostore.Store
	rec    *recorder
	prefix string
	cookie string // the session cookie's name
	user   string // the probe user's ID
	first  *browser
	others []*browser // log in as the probe user too
	passed map[string]bool
	// explained maps a refused call's signature to the step whose FAIL gave its fix.
	explained map[string]string
	value     string          // what the first browser's session holds
	loaded    *loadedSession  // the reload's session, which save-changed saves
	kv        *dynamostore.KV // the KV view
	kvValue   string
}

type loadedSession struct {
	r    *http.Request
	sess *sessions.Session
}

// secret makes the reporter hide s (a session ID or cookie value) wherever it appears.
func (p *probe) secret(s string) {
	p.c.r.addSecret(s)
	if testHookSecret != nil && s != "" {
		testHookSecret(s)
	}
}

// receive replays the response's cookies into b, as a browser keeps them.
func (p *probe) receive(b *browser, rec *httptest.ResponseRecorder) {
	for _, ck := range rec.Result().Cookies() {
		p.secret(ck.Value)
		if ck.MaxAge < 0 {
			delete(b.cookies, ck.Name)
		} else {
			b.cookies[ck.Name] = ck.Value
		}
	}
}

// storeError is an error of a store call, which the report explains.
type storeError struct {
	api string // the store's function, such as "Login"
	err error
}

func (e *storeError) Error() string { return e.api + ": " + e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

func failed(api string, err error) error { return &storeError{api: api, err: err} }

// problem is a step's failure that is not an error of a call: the store answered, but not
// as it must.
type problem struct {
	what string
	fix  []string
}

func (e *problem) Error() string { return e.what }

// elsewhere is the fix when the table does not behave as the store left it.
func (p *probe) elsewhere() []string {
	return []string{fmt.Sprintf("make sure nothing else deletes or changes items under the key prefix %q in table %s (another application "+
		"with the same WithKeyPrefix, a script, a TTL far in the past), then run check again", p.prefix, p.c.table.Table)}
}

// probe runs the store's calls, each a step, and then deletes what they left.
func (c *checker) probe(ctx context.Context) {
	p, err := c.newProbe()
	if err != nil {
		c.r.fail("save-new", "cannot build the probe's store: "+err.Error(), "run check again")
		c.stopped = "save-new"
		return
	}
	defer p.cleanup()
	p.run(ctx)
}

func (c *checker) newProbe() (*probe, error) {
	hashKey, blockKey, userID := make([]byte, 32), make([]byte, 32), make([]byte, 8)
	for _, b := range [][]byte{hashKey, blockKey, userID} {
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
	}
	rec := &recorder{partitionKey: c.o.partitionKey, items: map[string]bool{}}
	store, err := dynamostore.New(&recordingClient{inner: c.ca.DynamoDB(), rec: rec},
		dynamostore.WithTableName(c.table.String()),
		dynamostore.WithKeyPairs(hashKey, blockKey),
		dynamostore.WithKeyPrefix(c.o.keyPrefix),
		dynamostore.WithPartitionKey(c.o.partitionKey),
		dynamostore.WithCookieMaxAge(int(probeLifetime/time.Second)),
		dynamostore.WithLifetime(probeLifetime),
		dynamostore.WithAbsoluteTimeout(probeLifetime),
		dynamostore.WithLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		return nil, err
	}
	return &probe{
		c: c, store: store, rec: rec, prefix: c.o.keyPrefix,
		cookie: store.CookieName(sessionName),
		user:   "dynamostore-check-" + hex.EncodeToString(userID),
		first:  newBrowser("the first browser"),
		others: []*browser{newBrowser("the second browser"), newBrowser("the third browser")},
		passed: map[string]bool{}, explained: map[string]string{},
	}, nil
}

// run runs the steps in order. A step whose prerequisite did not pass is a SKIP; a step
// refused by DynamoDB does not stop the others, so that one run finds every refused call.
func (p *probe) run(ctx context.Context) {
	steps := []struct {
		name  string
		needs []string
		fn    func(context.Context) (string, error)
	}{
		{"save-new", nil, p.saveNew},
		{"reload", []string{"save-new"}, p.reload},
		{"save-changed", []string{"reload"}, p.saveChanged},
		{"regenerate", []string{"reload"}, p.regenerate},
		{"login", []string{"reload"}, p.login},
		{"login-again", []string{"login"}, p.loginAgain},
		{"user-sessions", []string{"login"}, p.userSessions},
		{"revoke-session", []string{"login-again"}, p.revokeSession},
		{"revoke-user-sessions", []string{"login-again"}, p.revokeUserSessions},
		{"kv-set", nil, p.kvSet},
		{"kv-get", []string{"kv-set"}, p.kvGet},
		{"kv-remove", []string{"kv-set"}, p.kvRemove},
		{"delete", []string{"reload"}, p.delete},
	}
	for _, st := range steps {
		if ctx.Err() != nil {
			return
		}
		if missing := p.missing(st.needs); missing != "" {
			p.c.r.skip(st.name, fmt.Sprintf("not run: it needs the step %s, which did not pass", missing))
			continue
		}
		mark := p.rec.begin(st.name)
		stepCtx, cancel := context.WithTimeout(ctx, stepTimeout)
		detail, err := st.fn(stepCtx)
		cancel()
		if err == nil {
			p.passed[st.name] = true
			p.c.r.pass(st.name, detail)
			p.noteTidyingRefusals(mark)
			continue
		}
		p.report(st.name, mark, err)
		if ctx.Err() != nil {
			p.c.stopped, p.c.interrupted = st.name, true
			return
		}
	}
}

func (p *probe) missing(needs []string) string {
	for _, n := range needs {
		if !p.passed[n] {
			return n
		}
	}
	return ""
}

// load is a request of b that loads its session, as a handler's store.Get does.
func (p *probe) load(ctx context.Context, b *browser) (*http.Request, *sessions.Session, error) {
	r := b.request(ctx)
	sess, err := p.store.New(r, sessionName)
	if err != nil {
		return nil, nil, failed("Store.Get", err)
	}
	return r, sess, nil
}

// loadStored loads b's session and requires it to be the stored one.
func (p *probe) loadStored(ctx context.Context, b *browser, why string) (*http.Request, *sessions.Session, error) {
	r, sess, err := p.load(ctx, b)
	if err != nil {
		return nil, nil, err
	}
	if sess.IsNew {
		return nil, nil, &problem{what: fmt.Sprintf("the session of %s did not load (%s): its item is gone", b.name, why), fix: p.elsewhere()}
	}
	return r, sess, nil
}

// gone checks that a cookie no longer leads to a session.
func (p *probe) gone(ctx context.Context, cookie, after string) error {
	stale := newBrowser("an old cookie")
	stale.cookies[p.cookie] = cookie
	_, sess, err := p.load(ctx, stale)
	if err != nil {
		return err
	}
	if !sess.IsNew {
		return &problem{what: "a session still loads after " + after, fix: p.elsewhere()}
	}
	return nil
}

func (p *probe) saveNew(ctx context.Context) (string, error) {
	r, sess, err := p.load(ctx, p.first) // no cookie yet: a new session, no call
	if err != nil {
		return "", err
	}
	sess.Values[valueKey] = "written by dynamostore check"
	rec := httptest.NewRecorder()
	if err := p.store.Save(r, rec, sess); err != nil {
		return "", failed("Save", err)
	}
	p.secret(sess.ID)
	p.receive(p.first, rec)
	if p.first.cookies[p.cookie] == "" {
		return "", &problem{what: "Save returned no error but set no session cookie", fix: []string{"report this to the dynamostore project, with check's output"}}
	}
	p.value = "written by dynamostore check"
	return "a new session's Save wrote its item (PutItem, on condition that no item has its key) and set its cookie", nil
}

func (p *probe) reload(ctx context.Context) (string, error) {
	r, sess, err := p.load(ctx, p.first)
	if err != nil {
		return "", err
	}
	switch {
	case sess.IsNew:
		return "", &problem{what: "the session just saved did not load back: a strongly consistent GetItem did not find its item", fix: p.elsewhere()}
	case sess.Values[valueKey] != p.value:
		return "", &problem{what: "the session loaded back without the value just saved", fix: p.elsewhere()}
	}
	p.loaded = &loadedSession{r: r, sess: sess}
	return "the cookie loaded the session back (a consistent GetItem, with a projection of the store's attributes)", nil
}

func (p *probe) saveChanged(ctx context.Context) (string, error) {
	sess := p.loaded.sess
	sess.Values[valueKey] = "changed by dynamostore check"
	rec := httptest.NewRecorder()
	if err := p.store.Save(p.loaded.r.WithContext(ctx), rec, sess); err != nil {
		return "", failed("Save", err)
	}
	p.receive(p.first, rec)
	p.value = "changed by dynamostore check"
	return "the changed session's Save updated its item (UpdateItem, on condition that it is the one loaded)", nil
}

func (p *probe) regenerate(ctx context.Context) (string, error) {
	old := p.first.cookies[p.cookie]
	r, sess, err := p.loadStored(ctx, p.first, "before Regenerate")
	if err != nil {
		return "", err
	}
	if sess.Values[valueKey] != p.value {
		return "", &problem{what: "the session loaded without the change saved in save-changed", fix: p.elsewhere()}
	}
	rec := httptest.NewRecorder()
	if err := p.store.Regenerate(r, rec, sess); err != nil {
		return "", failed("Regenerate", err)
	}
	p.secret(sess.ID)
	p.receive(p.first, rec)
	if c := p.first.cookies[p.cookie]; c == "" || c == old {
		return "", &problem{what: "Regenerate returned no error but set no new session cookie", fix: []string{"report this to the dynamostore project, with check's output"}}
	}
	if err := p.gone(ctx, old, "Regenerate moved it to a new ID"); err != nil {
		return "", err
	}
	return "Regenerate wrote the session under a new ID (PutItem) and ended the old item (UpdateItem, leaving a tombstone); the old cookie no longer loads", nil
}

func (p *probe) login(ctx context.Context) (string, error) {
	r, sess, err := p.loadStored(ctx, p.first, "before Login")
	if err != nil {
		return "", err
	}
	rec := httptest.NewRecorder()
	if err := p.store.Login(r, rec, sess, p.user); err != nil {
		return "", failed("Login", err)
	}
	p.secret(sess.ID)
	p.receive(p.first, rec)
	p.first.handle = p.store.Handle(sess)
	return "Login of a probe user moved the session to a new ID and created the user's item, which lists the user's sessions " +
		"(UpdateItem with ReturnValues ALL_NEW, then PutItem)", nil
}

func (p *probe) loginAgain(ctx context.Context) (string, error) {
	for _, b := range p.others {
		r, sess, err := p.load(ctx, b) // a browser without a cookie
		if err != nil {
			return "", err
		}
		rec := httptest.NewRecorder()
		if err := p.store.Login(r, rec, sess, p.user); err != nil {
			return "", failed("Login", err)
		}
		p.secret(sess.ID)
		p.receive(b, rec)
		b.handle = p.store.Handle(sess)
	}
	return fmt.Sprintf("%d more browsers logged in as the probe user: each Login wrote its session (PutItem) and added it to the user's item "+
		"(UpdateItem with ReturnValues ALL_NEW)", len(p.others)), nil
}

// loggedIn returns the browsers whose Login passed and whose session was not revoked.
func (p *probe) loggedIn() []*browser {
	var out []*browser
	for _, b := range append([]*browser{p.first}, p.others...) {
		if b.handle != "" && !b.ended {
			out = append(out, b)
		}
	}
	return out
}

func (p *probe) userSessions(ctx context.Context) (string, error) {
	infos, err := p.store.UserSessions(ctx, p.user)
	if err != nil {
		return "", failed("UserSessions", err)
	}
	var got, want []string
	for _, in := range infos {
		got = append(got, in.Handle)
	}
	for _, b := range p.loggedIn() {
		want = append(want, b.handle)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		return "", &problem{what: fmt.Sprintf("UserSessions listed %d sessions of the probe user, who has %d", len(got), len(want)), fix: p.elsewhere()}
	}
	return fmt.Sprintf("UserSessions listed the probe user's %d sessions (GetItem of the user's item, then of each session's item)", len(got)), nil
}

func (p *probe) revokeSession(ctx context.Context) (string, error) {
	b := p.others[len(p.others)-1]
	if err := p.store.RevokeSession(ctx, p.user, b.handle); err != nil {
		return "", failed("RevokeSession", err)
	}
	b.ended = true
	if err := p.gone(ctx, b.cookies[p.cookie], "RevokeSession ended it"); err != nil {
		return "", err
	}
	return "RevokeSession ended a session of the probe user (UpdateItem with ReturnValues ALL_NEW, DeleteItem with ReturnValues ALL_OLD, " +
		"UpdateItem); its cookie no longer loads", nil
}

func (p *probe) revokeUserSessions(ctx context.Context) (string, error) {
	var ending []*browser
	for _, b := range p.loggedIn() {
		if b != p.first {
			ending = append(ending, b)
		}
	}
	n, err := p.store.RevokeUserSessions(ctx, p.user, p.first.handle)
	if err != nil {
		return "", failed("RevokeUserSessions", err)
	}
	if n != len(ending) {
		return "", &problem{what: fmt.Sprintf("RevokeUserSessions ended %d sessions of the probe user, who had %d besides the one kept", n, len(ending)), fix: p.elsewhere()}
	}
	for _, b := range ending {
		b.ended = true
		if err := p.gone(ctx, b.cookies[p.cookie], "RevokeUserSessions ended it"); err != nil {
			return "", err
		}
	}
	ended := "session, keeping the first browser's (GetItem of the user's item, then the calls of RevokeSession); its cookie no longer loads"
	if n != 1 {
		ended = fmt.Sprintf("%d sessions, keeping the first browser's (GetItem of the user's item, then the calls of RevokeSession); "+
			"their cookies no longer load", n)
	}
	return "RevokeUserSessions ended the probe user's other " + ended, nil
}

func (p *probe) kvSet(ctx context.Context) (string, error) {
	v := make([]byte, 16)
	if _, err := rand.Read(v); err != nil {
		return "", err
	}
	p.kv = p.store.KV(kvNamespace)
	p.kvValue = hex.EncodeToString(v)
	if err := p.kv.Set(ctx, "probe", []byte(p.kvValue), time.Now().Add(probeLifetime)); err != nil {
		return "", failed("KV.Set", err)
	}
	return "the KV view's Set wrote a value (PutItem, under " + p.prefix + kvNamespace + "#)", nil
}

func (p *probe) kvGet(ctx context.Context) (string, error) {
	v, found, err := p.kv.Get(ctx, "probe")
	switch {
	case err != nil:
		return "", failed("KV.Get", err)
	case !found:
		return "", &problem{what: "the KV view's Get did not find the value just set", fix: p.elsewhere()}
	case string(v) != p.kvValue:
		return "", &problem{what: "the KV view's Get read another value than the one just set", fix: p.elsewhere()}
	}
	return "the KV view's Get read the value back (GetItem, with the projection)", nil
}

func (p *probe) kvRemove(ctx context.Context) (string, error) {
	if err := p.kv.Remove(ctx, "probe"); err != nil {
		return "", failed("KV.Remove", err)
	}
	if !p.passed["kv-get"] {
		return "the KV view's Remove deleted the value (DeleteItem)", nil
	}
	if _, found, err := p.kv.Get(ctx, "probe"); err != nil {
		return "", failed("KV.Get", err)
	} else if found {
		return "", &problem{what: "the KV view's value is still there after Remove", fix: p.elsewhere()}
	}
	return "the KV view's Remove deleted the value (DeleteItem); Get no longer finds it", nil
}

func (p *probe) delete(ctx context.Context) (string, error) {
	old := p.first.cookies[p.cookie]
	r, sess, err := p.loadStored(ctx, p.first, "before Delete")
	if err != nil {
		return "", err
	}
	rec := httptest.NewRecorder()
	if err := p.store.Delete(r, rec, sess); err != nil {
		return "", failed("Delete", err)
	}
	p.receive(p.first, rec)
	if _, ok := p.first.cookies[p.cookie]; ok {
		return "", &problem{what: "Delete returned no error but did not expire the session cookie", fix: []string{"report this to the dynamostore project, with check's output"}}
	}
	if err := p.gone(ctx, old, "Delete"); err != nil {
		return "", err
	}
	if p.first.handle != "" {
		p.first.ended = true
		return "Delete (a logout) deleted the session's item (DeleteItem), took it off the user's item (UpdateItem) and expired its cookie; " +
			"it no longer loads", nil
	}
	return "Delete (a logout) deleted the session's item (DeleteItem) and expired its cookie; it no longer loads", nil
}

// report prints a step's FAIL, with the fix.
func (p *probe) report(step string, mark int, err error) {
	r := p.c.r
	var prob *problem
	var se *storeError
	var opErr *dynamostore.OpError
	api := "the store"
	if errors.As(err, &se) {
		api = se.api
	}
	switch {
	case errors.As(err, &prob):
		r.fail(step, prob.what, prob.fix...)
	case errors.Is(err, context.Canceled):
		r.fail(step, "interrupted", "run check again")
	case errors.Is(err, context.DeadlineExceeded):
		r.fail(step, fmt.Sprintf("%s took longer than %v: %s", api, stepTimeout, reason(err)),
			"check the network path to DynamoDB (https://dynamodb.REGION.amazonaws.com, or AWS_ENDPOINT_URL_DYNAMODB when it is set), then run check again")
	case errors.Is(err, dynamostore.ErrSessionGone), errors.Is(err, dynamostore.ErrConflict):
		r.fail(step, fmt.Sprintf("%s found the probe's session changed or gone (%v): something else wrote to its item", api, err), p.elsewhere()...)
	case errors.As(err, &opErr):
		p.reportOpError(step, api, mark, opErr)
	default:
		r.fail(step, fmt.Sprintf("%s failed: %v", api, err), "correct what it names, then run check again")
	}
}

func (p *probe) reportOpError(step, api string, mark int, opErr *dynamostore.OpError) {
	r := p.c.r
	code, msg := apiError(opErr.Err)
	var renewal *credcache.Error
	switch {
	case code == "AccessDeniedException":
		p.explainDenied(step, api, p.rec.refused(mark, opErr.Op), opErr.Op, msg)
	case code == "ResourceNotFoundException":
		p.c.failNoTable(step, msg)
	case code == "ValidationException":
		r.fail(step, fmt.Sprintf("%s failed: DynamoDB refused its %s: %s", api, opErr.Op, msg),
			fmt.Sprintf("the table's key must be a single hash key %s of type S (or run check with -partition-key set to the application's WithPartitionKey): "+
				"see it with `aws dynamodb describe-table --table-name %s --query Table.KeySchema --region %s` in the table account",
				p.c.o.partitionKey, p.c.table.Table, p.c.table.Region))
	case errors.As(opErr.Err, &renewal):
		r.fail(step, fmt.Sprintf("%s failed: the role's credentials could not be renewed: %v", api, renewal), "run check again; if it persists, check the network path to STS")
	default:
		what := fmt.Sprintf("%s failed: its %s failed: %s", api, opErr.Op, describe(opErr.Err))
		if opErr.OutcomeUnknown {
			what += " (and it may or may not have been applied)"
		}
		r.fail(step, what, "correct what DynamoDB names, then run check again")
	}
}

// noteTidyingRefusals notes the calls of a passing step that were refused: the store only
// logs those (they tidy the user's item), but the policy should allow them too.
func (p *probe) noteTidyingRefusals(mark int) {
	seen := map[string]bool{}
	for _, call := range p.rec.refusals(mark) {
		if seen[call.signature(p.prefix)] {
			continue
		}
		seen[call.signature(p.prefix)] = true
		p.c.r.note(fmt.Sprintf("(the store logged a refused %s: %s, which only tidies, so the step passed; "+
			"allow it as docs/iam.md's tightest policy does)", call.action(), call.describe(p.prefix)))
	}
}

// cleanup deletes, with a context of its own (so that it runs even when check is
// interrupted), every item the probe's store may have left: the tombstones of moved sessions
// and the probe user's item, which the store leaves for TTL to remove, and whatever a failed
// step left. It makes the store's own DeleteItem (no ReturnValues) on each key.
func (p *probe) cleanup() {
	keys := p.rec.remaining()
	if len(keys) == 0 {
		return
	}
	var left []string
	var lastErr error
	for _, key := range keys {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		err := p.rec.deleteItem(ctx, p.c.client, p.c.table.String(), key)
		cancel()
		if err != nil {
			left, lastErr = append(left, key), err
		}
	}
	if len(left) == 0 {
		p.c.r.pass("cleanup", fmt.Sprintf("deleted what the probe left, with the store's DeleteItem (%s): table %s holds nothing of check's",
			p.kinds(keys), p.c.table.Table))
		return
	}
	fix := []string{"delete them by hand, with the table account's credentials:"}
	for _, key := range left {
		fix = append(fix, fmt.Sprintf(`aws dynamodb delete-item --table-name %s --key '{"%s": {"S": "%s"}}' --region %s`,
			p.c.table.Table, p.c.o.partitionKey, key, p.c.table.Region))
	}
	fix = append(fix, fmt.Sprintf("(each has an expires at most %v after check wrote it: if TTL is on expires, DynamoDB removes them anyway some time after %s)",
		probeLifetime, time.Now().Add(probeLifetime).UTC().Format(time.RFC3339)))
	p.c.r.fail("cleanup", fmt.Sprintf("%d of the probe's items remain in table %s (%s): their DeleteItem failed (%s)",
		len(left), p.c.table.Table, p.kinds(left), describe(lastErr)), fix...)
}

// kinds describes item keys, such as "2 session items, the probe user's item".
func (p *probe) kinds(keys []string) string {
	var sessionItems, users, kv int
	for _, k := range keys {
		switch keyKind(k, p.prefix) {
		case kindUser:
			users++
		case kindKV:
			kv++
		default:
			sessionItems++
		}
	}
	var parts []string
	switch {
	case sessionItems == 0:
	case p.c.r.failed == 0:
		// Every step passed: the session items left are the old IDs of moved sessions.
		parts = append(parts, fmt.Sprintf("%s of moved sessions, which Regenerate and Login leave for TTL", count(sessionItems, "the tombstone", "tombstones")))
	default:
		parts = append(parts, fmt.Sprintf("%s, tombstones of moved sessions (which Regenerate and Login leave for TTL) or sessions a failed step left",
			count(sessionItems, "a session item", "session items")))
	}
	switch {
	case users == 0:
	case p.c.r.failed == 0:
		parts = append(parts, "the probe user's item, emptied by the revocations, which the store keeps until TTL removes it")
	default:
		parts = append(parts, "the probe user's item, which the store keeps until TTL removes it")
	}
	if kv > 0 {
		parts = append(parts, "the KV view's value")
	}
	return strings.Join(parts, "; ")
}

// count is one for n == 1, else n and many.
func count(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return fmt.Sprintf("%d %s", n, many)
}
