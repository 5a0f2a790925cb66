package dynamostore_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/gorilla/sessions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
)

var (
	soakCycles = flag.Int("soak.cycles", 2, "TestChaosSoak: login-to-logout cycles per client (make soak sets more)")
	soakReport = flag.String("soak.report", "", "TestChaosSoak: write the figures to this Markdown file")
)

// soakFaults is the fault mix of the soak: about one request in six meets a fault.
var soakFaults = map[dynamostoretest.FaultKind]float64{
	dynamostoretest.FaultLostAnswer:  0.05,
	dynamostoretest.FaultReset:       0.03,
	dynamostoretest.FaultServerError: 0.03,
	dynamostoretest.FaultThrottle:    0.03,
	dynamostoretest.FaultLatency:     0.03,
}

const soakClients = 64

// soakAudit collects what the clients were told and what the table held.
type soakAudit struct {
	mu         sync.Mutex
	ops        map[string]int64 // operations by step
	outcomes   map[string]int64 // "ok", or the error's kind
	violations []string
	unknown    int64
	deleted    []*browser // each with the cookie of a session that a successful Delete ended
}

func (a *soakAudit) count(m map[string]int64, key string) {
	a.mu.Lock()
	m[key]++
	a.mu.Unlock()
}

func (a *soakAudit) violation(format string, args ...any) {
	a.mu.Lock()
	a.violations = append(a.violations, fmt.Sprintf(format, args...))
	a.mu.Unlock()
}

// errorKind names a returned error by its type, and reports whether it says whether
// retrying can help: every error the store returns must.
func errorKind(err error) (string, bool) {
	var opErr *dynamostore.OpError
	switch {
	case errors.As(err, &opErr) && opErr.OutcomeUnknown:
		return "outcome unknown (" + opErr.Op + ")", true
	case errors.Is(err, dynamostore.ErrSessionGone):
		return "ErrSessionGone", true
	case errors.Is(err, dynamostore.ErrConflict):
		return "ErrConflict", true
	case errors.As(err, &opErr):
		return fmt.Sprintf("*OpError %s, retryable=%v", opErr.Op, opErr.Retryable()), true
	}
	return fmt.Sprintf("untyped %T", err), false
}

// soakClient is one user: a browser and the session values the store told it are stored.
type soakClient struct {
	id      int
	b       *browser
	store   *dynamostore.Store // through the faults
	auditor *dynamostore.Store // a clean client on the same table
	model   map[any]any        // nil: no session
	audit   *soakAudit
}

func (c *soakClient) user() string { return fmt.Sprintf("user-%d", c.id) }

// stored is the session the browser's cookie leads to, read without faults (nil: none).
func (c *soakClient) stored() (map[any]any, error) {
	s, err := c.auditor.New(c.b.request(context.Background()), cookieName)
	if err != nil {
		return nil, err
	}
	if s.IsNew {
		return nil, nil
	}
	return s.Values, nil
}

// step runs one request: load, change, write. It audits the result against the table.
func (c *soakClient) step(name string, change func(s *sessions.Session, r *http.Request, w http.ResponseWriter) (after map[any]any, err error)) {
	c.audit.count(c.audit.ops, name)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := c.b.request(ctx)
	rec := httptest.NewRecorder()
	before := c.model
	s, err := c.store.Get(r, cookieName)
	var after map[any]any
	if err == nil {
		after, err = change(s, r, rec)
	}
	c.b.receive(rec)
	actual, auditErr := c.stored()
	if auditErr != nil {
		c.audit.violation("client %d %s: audit read failed: %v", c.id, name, auditErr)
		return
	}
	if err == nil {
		c.audit.count(c.audit.outcomes, "ok")
		if !reflect.DeepEqual(actual, after) {
			c.audit.violation("client %d %s: returned nil but the table holds %v, not %v", c.id, name, actual, after)
		}
		c.model = after
		return
	}
	kind, typed := errorKind(err)
	c.audit.count(c.audit.outcomes, kind)
	if !typed {
		c.audit.violation("client %d %s: untyped error %v", c.id, name, err)
	}
	if len(rec.Result().Cookies()) > 0 && !errors.Is(err, dynamostore.ErrOutcomeUnknown) {
		c.audit.violation("client %d %s: a cookie was set with the error %v", c.id, name, err)
	}
	switch {
	case reflect.DeepEqual(actual, before):
	case errors.Is(err, dynamostore.ErrOutcomeUnknown) && reflect.DeepEqual(actual, after):
		c.model = after
	default:
		c.audit.violation("client %d %s: returned %v but the table holds %v, neither %v nor the write", c.id, name, err, actual, before)
	}
	if errors.Is(err, dynamostore.ErrOutcomeUnknown) {
		c.audit.mu.Lock()
		c.audit.unknown++
		c.audit.mu.Unlock()
	}
}

// cycle is one visit from anonymous to logout.
func (c *soakClient) cycle(n int) {
	save := func(edit func(v map[any]any)) func(*sessions.Session, *http.Request, http.ResponseWriter) (map[any]any, error) {
		return func(s *sessions.Session, r *http.Request, w http.ResponseWriter) (map[any]any, error) {
			edit(s.Values)
			return maps.Clone(s.Values), c.store.Save(r, w, s)
		}
	}
	c.step("visit", save(func(v map[any]any) {
		v["cart"] = map[string]int{"apple": 1}
		v["n"] = 0
	}))
	if c.model == nil {
		return // the visit failed: the next cycle starts again
	}
	c.step("login", func(s *sessions.Session, r *http.Request, w http.ResponseWriter) (map[any]any, error) {
		s.Values["user"] = fmt.Sprintf("user-%d-%d", c.id, n)
		if n%2 == 1 {
			return maps.Clone(s.Values), c.store.Regenerate(r, w, s)
		}
		return maps.Clone(s.Values), c.store.Login(r, w, s, c.user())
	})
	for i := range 3 {
		c.step("change", save(func(v map[any]any) {
			count, _ := v["n"].(int)
			v["n"] = count + 1
			cart, _ := v["cart"].(map[string]int)
			cart = maps.Clone(cart)
			if cart == nil {
				cart = map[string]int{}
			}
			cart[fmt.Sprintf("sku-%d", i)] = count + 1
			v["cart"] = cart
		}))
		c.step("read", save(func(map[any]any) {}))
	}
	cookie := c.b.cookies[jarName]
	c.step("logout", func(s *sessions.Session, r *http.Request, w http.ResponseWriter) (map[any]any, error) {
		return nil, c.store.Delete(r, w, s)
	})
	if c.model == nil && cookie != nil {
		ended := newBrowser()
		ended.cookies[jarName] = cookie
		c.audit.mu.Lock()
		c.audit.deleted = append(c.audit.deleted, ended)
		c.audit.mu.Unlock()
	}
}

// soakCounter counts the store's log lines by message (never their attributes).
type soakCounter struct {
	mu sync.Mutex
	n  map[string]int64
}

func (h *soakCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *soakCounter) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.n[r.Message]++
	h.mu.Unlock()
	return nil
}
func (h *soakCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *soakCounter) WithGroup(string) slog.Handler      { return h }

type soakGauges struct {
	heap       uint64
	goroutines int
	tracked    int
}

func soakMeasure(stores ...*dynamostore.Store) soakGauges {
	var g soakGauges
	for range 3 {
		runtime.GC()
		time.Sleep(20 * time.Millisecond) // let the tracker's cleanups run
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	g.heap, g.goroutines = ms.HeapAlloc, runtime.NumGoroutine()
	for _, s := range stores {
		g.tracked += dynamostore.TrackedSessions(s)
	}
	return g
}

// The chaos soak: 64 clients log in (Regenerate), change values, read and log out through a
// network that loses answers of applied writes, resets connections, answers 500 and
// throttling errors and stalls, with the SDK's own retries. After every request it checks
// against DynamoDB Local what the client was told: a nil error means the values are stored,
// exactly, applied once; an error means the stored session is as it was (or, for
// ErrOutcomeUnknown only, as it was or as written), and the error is typed; no session that
// a Delete ended comes back; no goroutine is left and the heap and the store's tracking stay
// flat. Half the clients use optimistic locking. `make soak` runs a longer one and writes
// docs/reliability.md.
func TestChaosSoak(t *testing.T) {
	ft, err := dynamostoretest.NewFaultTransport(nil, dynamostoretest.FaultOptions{Seed: 20261122, Rates: soakFaults, LatencySpike: 150 * time.Millisecond})
	require.NoError(t, err)
	cleanTransport := http.DefaultTransport.(*http.Transport).Clone()
	clean := dynamostoretest.Client(t, func(o *dynamodb.Options) { o.HTTPClient = &http.Client{Transport: cleanTransport} })
	faulty := dynamostoretest.Client(t, func(o *dynamodb.Options) { o.HTTPClient = &http.Client{Transport: ft} })
	table := dynamostoretest.NewTable(t, clean)
	logs := &soakCounter{n: map[string]int64{}}
	newStore := func(client dynamostore.ItemAPI, opts ...dynamostore.Option) *dynamostore.Store {
		s, err := dynamostore.New(client, append([]dynamostore.Option{
			dynamostore.WithTableName(table), dynamostore.WithKeyPairs(hashKey1, blockKey1),
			dynamostore.WithTouchInterval(0), dynamostore.WithLogger(slog.New(logs)),
		}, opts...)...)
		require.NoError(t, err)
		return s
	}
	plain, locking := newStore(faulty), newStore(faulty, dynamostore.WithOptimisticLocking(true))
	auditor := newStore(clean)
	audit := &soakAudit{ops: map[string]int64{}, outcomes: map[string]int64{}}

	ft.SetEnabled(false) // warm the connections and the code paths without faults
	warm := &soakClient{id: -1, b: newBrowser(), store: plain, auditor: auditor, audit: &soakAudit{ops: map[string]int64{}, outcomes: map[string]int64{}}}
	warm.cycle(0)
	require.Empty(t, warm.audit.violations)
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	cleanTransport.CloseIdleConnections()
	before := soakMeasure(plain, locking, auditor)
	ft.SetEnabled(true)

	start := time.Now()
	var wg sync.WaitGroup
	var panics atomic.Int64
	clients := make([]*soakClient, soakClients)
	for i := range soakClients {
		store := plain
		if i%2 == 1 {
			store = locking
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					panics.Add(1)
					audit.violation("client %d: panic: %v", i, p)
				}
			}()
			c := &soakClient{id: i, b: newBrowser(), store: store, auditor: auditor, audit: audit}
			clients[i] = c
			for n := range *soakCycles {
				c.cycle(n)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	ft.SetEnabled(false)

	// Each user's listing holds exactly the sessions that are live: none after a logout.
	for _, c := range clients {
		list, err := auditor.UserSessions(context.Background(), c.user())
		switch {
		case err != nil:
			audit.violation("client %d: UserSessions: %v", c.id, err)
		case c.model == nil && len(list) != 0:
			audit.violation("client %d: logged out, but %d sessions are listed", c.id, len(list))
		case c.model != nil && c.model["user"] != nil && len(list) > 1:
			audit.violation("client %d: one session, but %d are listed", c.id, len(list))
		}
	}
	// No session that a successful Delete ended ever comes back.
	for _, b := range audit.deleted {
		s, err := auditor.New(b.request(context.Background()), cookieName)
		if err != nil || !s.IsNew {
			audit.violation("a deleted session came back (err %v)", err)
		}
	}
	ended := len(audit.deleted)
	audit.deleted = nil // the soak's own record, not the store's memory
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	cleanTransport.CloseIdleConnections()
	after := soakMeasure(plain, locking, auditor)
	for i := 0; i < 100 && after.goroutines > before.goroutines; i++ {
		time.Sleep(50 * time.Millisecond)
		after = soakMeasure(plain, locking, auditor)
	}

	stats := ft.Stats()
	var total int64
	for _, n := range audit.ops {
		total += n
	}
	t.Logf("%d operations in %v; faults %v of %d requests; outcomes %v; unknown %d; %d own writes recognised; confirmed %d writes, %d deletes after errors; heap %d -> %d; goroutines %d -> %d; tracked %d -> %d",
		total, elapsed.Round(time.Millisecond), stats.Injected, stats.Requests, audit.outcomes, audit.unknown, logs.n["dynamostore: own write recognised after a retry"],
		logs.n["dynamostore: write confirmed after an error"], logs.n["dynamostore: delete confirmed after an error"],
		before.heap, after.heap, before.goroutines, after.goroutines, before.tracked, after.tracked)
	if *soakReport != "" {
		require.NoError(t, writeSoakReport(*soakReport, total, elapsed, stats, audit, ended, logs, before, after))
	}

	assert.Empty(t, audit.violations, "violations")
	assert.Zero(t, panics.Load())
	assert.Greater(t, stats.Injected[dynamostoretest.FaultLostAnswer], int64(0), "answers of applied writes were lost")
	assert.Greater(t, logs.n["dynamostore: own write recognised after a retry"], int64(0), "retries met their own writes")
	assert.LessOrEqual(t, after.goroutines, before.goroutines, "no goroutine left behind")
	assert.LessOrEqual(t, after.tracked, before.tracked, "the store's tracking does not grow")
	assert.Less(t, after.heap, before.heap+16<<20, "the heap stays flat")
}

func writeSoakReport(path string, total int64, elapsed time.Duration, stats dynamostoretest.FaultStats, audit *soakAudit,
	ended int, logs *soakCounter, before, after soakGauges) error {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("# Reliability: the chaos soak")
	line("")
	line("Written by `make soak` (%s, Go %s, %d CPUs, DynamoDB Local 3.3.0).", time.Now().UTC().Format("2006-01-02"), runtime.Version(), runtime.NumCPU())
	line("The command:")
	line("")
	line("```")
	line("make soak SOAK_CYCLES=%d   # go test -race -run TestChaosSoak . -args -soak.cycles %d -soak.report docs/reliability.md", *soakCycles, *soakCycles)
	line("```")
	line("")
	line("%d clients (half with optimistic locking) each run %d cycles of: a first visit that creates a session, a login",
		soakClients, *soakCycles)
	line("(`Login`, bound to the client's user, in every other cycle `Regenerate`), three changes (a counter and a map")
	line("in a cart), three reads and a logout (`Delete`), through")
	line("`dynamostoretest.FaultTransport` between the SDK (its standard retryer, %d attempts) and DynamoDB Local. After", sdkAttempts())
	line("every request the soak reads the table with a clean client and checks what the client was told:")
	line("")
	line("- a nil error: the values are stored exactly as saved, applied once (the counter matches);")
	line("- an error: the stored session is as it was, no cookie was set, and the error is typed (`*OpError` with")
	line("  `Retryable()`, `ErrConflict`, `ErrSessionGone`); only an error matching `ErrOutcomeUnknown` may leave")
	line("  the written state instead, and nothing else;")
	line("- at the end, no session that a successful `Delete` ended comes back; each user's `UserSessions` lists no")
	line("  session once it logged out; no panic; goroutines, heap and the store's per-session tracking measured")
	line("  before and after.")
	line("")
	line("## Result")
	line("")
	line("| figure | value |")
	line("|---|---|")
	line("| operations | %d in %v |", total, elapsed.Round(time.Second))
	line("| DynamoDB requests sent by the SDK | %d |", stats.Requests)
	for _, k := range dynamostoretest.FaultKinds {
		line("| faults injected: %s | %d |", k, stats.Injected[k])
	}
	ops := slices.Sorted(maps.Keys(stats.ByOp))
	for _, op := range ops {
		line("| faults injected into %s | %d |", op, stats.ByOp[op])
	}
	kinds := slices.Collect(maps.Keys(audit.outcomes))
	sort.Strings(kinds)
	for _, k := range kinds {
		line("| outcome: %s | %d |", k, audit.outcomes[k])
	}
	line("| retried writes recognised as their own (condition failed on the write itself) | %d |", logs.n["dynamostore: own write recognised after a retry"])
	line("| writes confirmed by a read after an error | %d |", logs.n["dynamostore: write confirmed after an error"])
	line("| deletes confirmed by a read after an error | %d |", logs.n["dynamostore: delete confirmed after an error"])
	line("| outcome unknown (both states accepted) | %d |", audit.unknown)
	line("| sessions ended by Delete, checked gone | %d |", ended)
	line("| **violations** | **%d** |", len(audit.violations))
	line("| heap after GC, before / after | %.1f MiB / %.1f MiB |", float64(before.heap)/(1<<20), float64(after.heap)/(1<<20))
	line("| goroutines before / after | %d / %d |", before.goroutines, after.goroutines)
	line("| sessions tracked by the stores before / after | %d / %d |", before.tracked, after.tracked)
	for _, v := range audit.violations {
		line("")
		line("- violation: %s", v)
	}
	line("")
	line("`make test` runs the same soak with %d cycles per client as `TestChaosSoak`.", 2)
	line("")
	line("**The same soak on aws-sdk-go-v2 v1.47.7** (three attempts per DynamoDB call; 2026-12-03, before the move to")
	line("v1.48.0): 14,392 operations in 1m54s, 36,315 DynamoDB requests through 6,208 faults, 772 retried writes")
	line("recognised as their own, 24 writes and 3 deletes confirmed by a read, 53 retryable `*OpError`s reaching the")
	line("application (3 DeleteItem, 35 GetItem, 3 PutItem, 12 UpdateItem), 0 outcome unknown, 0 violations.")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
