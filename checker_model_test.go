package dynamostore_test

import (
	"fmt"
	"hash/maphash"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// The models of the model-based checker (checker_test.go): what one session, and one KV key,
// may do in any order of the calls that touch it. porcupine searches for an order of the
// recorded calls, each placed between its call and its return, that these models accept; a
// history with no such order is a linearizability violation.
//
// A call whose outcome the store says is unknown (ErrOutcomeUnknown) forks the model: it may
// or may not have taken effect, as etcd's robustness tests treat a request that failed
// ambiguously. A call that failed with any other error took no effect: the store promises it.

// chkItem is one session item as the model sees it: the write token of its values (every
// write of the checker puts a fresh token in the values, so the token names the write), its
// expiry and absolute deadline in epoch seconds, and its user binding.
type chkItem struct {
	ID, W, Handle, User string
	Exp, Deadline       int64
}

// chkState is the state of one session lineage: the items that may hold it (more than one
// only while the store says a move's outcome is unknown, or when the store is wrong). It is
// immutable; key is a canonical form for equality.
type chkState struct {
	items   []chkItem
	flagged []string // handles whose revocation has started (a failed one may leave items)
	key     string
}

func chkNewState(items []chkItem, flagged []string) *chkState {
	slices.SortFunc(items, func(a, b chkItem) int { return strings.Compare(a.ID, b.ID) })
	slices.Sort(flagged)
	flagged = slices.Compact(flagged)
	var b strings.Builder
	for _, it := range items {
		fmt.Fprintf(&b, "[%s w=%s h=%s u=%s exp=%d dl=%d] ", chkShort(it.ID), it.W, chkShort(it.Handle), it.User, it.Exp%100000, it.Deadline%100000)
	}
	for _, h := range flagged {
		fmt.Fprintf(&b, "revoking:%s ", chkShort(h))
	}
	return &chkState{items: items, flagged: flagged, key: b.String()}
}

// flag returns the state with the revocation of handles started.
func (s *chkState) flag(handles []string) *chkState {
	return chkNewState(slices.Clone(s.items), append(slices.Clone(s.flagged), handles...))
}

func (s *chkState) find(id string) (chkItem, bool) {
	if id == "" {
		return chkItem{}, false
	}
	for _, it := range s.items {
		if it.ID == id {
			return it, true
		}
	}
	return chkItem{}, false
}

// without returns the state less the items drop chooses.
func (s *chkState) without(drop func(chkItem) bool) *chkState {
	var kept []chkItem
	for _, it := range s.items {
		if !drop(it) {
			kept = append(kept, it)
		}
	}
	if len(kept) == len(s.items) {
		return s
	}
	return chkNewState(kept, slices.Clone(s.flagged))
}

// with returns the state with it added, or replacing the item of the same ID.
func (s *chkState) with(it chkItem) *chkState {
	items := []chkItem{it}
	for _, old := range s.items {
		if old.ID != it.ID {
			items = append(items, old)
		}
	}
	return chkNewState(items, slices.Clone(s.flagged))
}

// chkShort shortens IDs and handles for the visualisation and the messages.
func chkShort(s string) string {
	if len(s) > 6 {
		return s[:6]
	}
	return s
}

type chkOpKind uint8

const (
	chkLoad       chkOpKind = iota // Get: does the cookie's item load, with which values and handle
	chkCreate                      // Save or Regenerate of a new session, or Login of none: a new item
	chkSave                        // Save of a loaded session with changed values
	chkRegenerate                  // Regenerate of a loaded session: a new ID, the same session
	chkLogin                       // Login (a fresh one, or a re-authentication)
	chkDelete                      // Delete: a logout
	chkRevoke                      // RevokeSession of the session's handle
	chkRevokeUser                  // RevokeUserSessions of the session's user
	chkCap                         // another Login of the user, past the cap: it may end the session
)

var chkOpNames = [...]string{"load", "create", "save", "regenerate", "login", "delete", "revoke", "revoke-user", "cap"}

func (k chkOpKind) String() string { return chkOpNames[k] }

// chkIn is the input of a session operation.
type chkIn struct {
	Kind    chkOpKind
	ID      string // the item the call acts on: the loaded session's ID ("" for none)
	NewID   string // the ID the call gave the session (from the cookie it set)
	LoadedW string // the write token the request loaded (optimistic locking)
	NewW    string // the write token of the values the call writes
	Now     int64  // the clock of the server that made the call
	User    string // Login, RevokeUser, Cap: the user
	Handle  string // Revoke: the handle; Cap: the new session's (never its victim)
	Keep    []string
	Locking bool
	Reauth  bool // Login: the loaded session was bound to the same user
	Server  string
}

type chkRes uint8

const (
	chkOK chkRes = iota
	chkGone
	chkConflict
	chkNotFound
	chkFailed  // an error that says the call took no effect
	chkUnknown // ErrOutcomeUnknown: it may or may not have
)

var chkResNames = [...]string{"ok", "gone", "conflict", "not-found", "failed", "unknown"}

func (r chkRes) String() string { return chkResNames[r] }

// chkOut is the output of a session operation.
type chkOut struct {
	Res    chkRes
	Found  bool   // Load
	W      string // Load: the loaded write token
	Handle string // Load: the loaded session's handle; Login: the new one
}

// chkSessionModel is the sequential specification of one session lineage.
type chkSessionModel struct {
	maxAge, abs int64
}

func (m chkSessionModel) step(st *chkState, in chkIn, out chkOut) []*chkState {
	alive := func(it chkItem, ok bool) bool { return ok && it.Exp > in.Now }
	one := func(s ...*chkState) []*chkState { return s }
	switch in.Kind {
	case chkLoad:
		it, ok := st.find(in.ID)
		if out.Found {
			if alive(it, ok) && it.W == out.W && it.Handle == out.Handle {
				return one(st)
			}
			return nil
		}
		if !alive(it, ok) {
			return one(st)
		}
		return nil
	case chkCreate:
		return one(st.with(chkItem{ID: in.NewID, W: in.NewW, Exp: min(in.Now+m.maxAge, in.Now+m.abs), Deadline: in.Now + m.abs}))
	case chkSave:
		it, ok := st.find(in.ID)
		can := alive(it, ok) && (!in.Locking || it.W == in.LoadedW)
		written := it
		written.W, written.Exp = in.NewW, min(in.Now+m.maxAge, it.Deadline)
		switch out.Res {
		case chkOK:
			if can {
				return one(st.with(written))
			}
		case chkGone:
			if !alive(it, ok) {
				return one(st)
			}
		case chkConflict:
			if in.Locking && alive(it, ok) && it.W != in.LoadedW {
				return one(st)
			}
		case chkFailed:
			return one(st)
		case chkUnknown:
			if can {
				return one(st, st.with(written))
			}
			return one(st)
		}
		return nil
	case chkRegenerate, chkLogin:
		it, ok := st.find(in.ID)
		moved := chkItem{ID: in.NewID, W: in.NewW, Handle: it.Handle, User: it.User, Deadline: it.Deadline}
		if in.Kind == chkLogin {
			moved.Handle, moved.User, moved.Deadline = out.Handle, in.User, in.Now+m.abs
		}
		moved.Exp = min(in.Now+m.maxAge, moved.Deadline)
		dropOld := st.without(func(x chkItem) bool { return x.ID == in.ID })
		// A Regenerate, and a re-authentication, moves a live session that no revocation has
		// started on; a Login that authenticates anew always may.
		revoking := ok && it.Handle != "" && slices.Contains(st.flagged, it.Handle)
		// With optimistic locking, a stale copy is not moved (ErrConflict, as Save).
		fresh := !in.Locking || it.W == in.LoadedW
		can := (alive(it, ok) && !revoking && fresh) || (in.Kind == chkLogin && !in.Reauth)
		switch out.Res {
		case chkOK:
			if can {
				return one(dropOld.with(moved))
			}
		case chkGone:
			if !alive(it, ok) || revoking {
				return one(st)
			}
		case chkConflict: // with optimistic locking, a move may refuse a stale copy as Save does
			if in.Locking && alive(it, ok) && it.W != in.LoadedW {
				return one(st)
			}
		case chkFailed:
			return one(st)
		case chkUnknown:
			if !can {
				return one(st)
			}
			if in.NewID == "" { // no cookie names the new item: only the old one's fate shows
				return one(st, dropOld)
			}
			return one(st, dropOld.with(moved), st.with(moved))
		}
		return nil
	case chkDelete:
		gone := st.without(func(x chkItem) bool { return x.ID == in.ID })
		switch out.Res {
		case chkOK:
			return one(gone)
		case chkFailed:
			return one(st)
		case chkUnknown:
			return one(st, gone)
		}
		return nil
	case chkRevoke, chkRevokeUser:
		victim := func(x chkItem) bool { return x.Handle != "" && x.Handle == in.Handle }
		if in.Kind == chkRevokeUser {
			victim = func(x chkItem) bool {
				return x.User == in.User && x.Handle != "" && !slices.Contains(in.Keep, x.Handle)
			}
		}
		switch out.Res {
		case chkOK:
			return one(st.without(victim))
		case chkNotFound:
			for _, it := range st.items {
				if victim(it) && it.Exp > in.Now {
					return nil // a live session of the user, and its handle is not found
				}
			}
			return one(st)
		case chkFailed, chkUnknown: // some of the items may have gone: "calling it again finishes"
			return chkPartlyRevoked(st, victim)
		}
		return nil
	case chkCap:
		next := one(st)
		seen := map[string]bool{}
		for _, it := range st.items {
			if it.User == in.User && it.Handle != "" && it.Handle != in.Handle && !seen[it.Handle] {
				seen[it.Handle] = true
				h := it.Handle
				victim := func(x chkItem) bool { return x.Handle == h }
				if in.Server == chkWholeCap {
					next = append(next, st.without(victim))
					continue
				}
				// The cap revokes as RevokeSession does; a failure is only logged.
				next = append(next, chkPartlyRevoked(st, victim)[1:]...)
			}
		}
		return next
	}
	return nil
}

// chkPartlyRevoked returns the states a revocation of the items that victim chooses may
// leave: nothing done, or the revocation started (no more moves) and any of the items gone.
func chkPartlyRevoked(st *chkState, victim func(chkItem) bool) []*chkState {
	var handles []string
	for _, it := range st.items {
		if victim(it) {
			handles = append(handles, it.Handle)
		}
	}
	out := []*chkState{st}
	if len(handles) == 0 {
		return out
	}
	return append(out, chkSubsets(st.flag(handles), victim)...)
}

// chkSubsets returns st less every subset of the items that victim chooses.
func chkSubsets(st *chkState, victim func(chkItem) bool) []*chkState {
	var ids []string
	for _, it := range st.items {
		if victim(it) {
			ids = append(ids, it.ID)
		}
	}
	if len(ids) > 8 {
		ids = ids[:8]
	}
	var out []*chkState
	for mask := 0; mask < 1<<len(ids); mask++ {
		out = append(out, st.without(func(x chkItem) bool {
			for i, id := range ids {
				if mask&(1<<i) != 0 && x.ID == id {
					return true
				}
			}
			return false
		}))
	}
	return out
}

var chkSeed = maphash.MakeSeed()

// chkWholeCap marks the classifier's own cap operation, which ends a session whole: a
// half-done revocation would also explain a move refused for other reasons.
const chkWholeCap = "cap (classifier)"

func (m chkSessionModel) porcupine() porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Init: func() []interface{} { return []interface{}{chkNewState(nil, nil)} },
		Step: func(state, input, output interface{}) []interface{} {
			next := m.step(state.(*chkState), input.(chkIn), output.(chkOut))
			out := make([]interface{}, len(next))
			for i, s := range next {
				out[i] = s
			}
			return out
		},
		Equal: func(a, b interface{}) bool { return a.(*chkState).key == b.(*chkState).key },
		Hash:  func(s interface{}) uint64 { return maphash.String(chkSeed, s.(*chkState).key) },
		DescribeOperation: func(input, output interface{}) string {
			return chkDescribe(input.(chkIn), output.(chkOut))
		},
		DescribeState: func(s interface{}) string {
			if k := s.(*chkState).key; k != "" {
				return k
			}
			return "(no item)"
		},
	}
	return nm.ToModel()
}

func chkDescribe(in chkIn, out chkOut) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s@%s", in.Kind, in.Server)
	if in.ID != "" {
		fmt.Fprintf(&b, " %s", chkShort(in.ID))
	}
	if in.NewID != "" {
		fmt.Fprintf(&b, "→%s", chkShort(in.NewID))
	}
	if in.NewW != "" {
		fmt.Fprintf(&b, " w=%s", in.NewW)
	}
	if in.LoadedW != "" && in.Kind == chkSave {
		fmt.Fprintf(&b, " (loaded %s)", in.LoadedW)
	}
	if in.User != "" {
		fmt.Fprintf(&b, " user=%s", in.User)
	}
	if in.Reauth {
		b.WriteString(" (again)")
	}
	if in.Handle != "" {
		fmt.Fprintf(&b, " h=%s", chkShort(in.Handle))
	}
	fmt.Fprintf(&b, " now=%d", in.Now%100000)
	switch {
	case in.Kind == chkLoad && out.Found:
		fmt.Fprintf(&b, " -> w=%s h=%s", out.W, chkShort(out.Handle))
	case in.Kind == chkLoad:
		b.WriteString(" -> none")
	case in.Kind == chkLogin && out.Handle != "":
		fmt.Fprintf(&b, " -> %s h=%s", out.Res, chkShort(out.Handle))
	default:
		fmt.Fprintf(&b, " -> %s", out.Res)
	}
	return b.String()
}

// chkKVIn and chkKVOut are the operations on one KV key. Old is the store with the old key
// pairs only ([K1]); the other has the new ones ([K2, K1]).
type chkKVIn struct {
	Kind string // set, get, delete
	Old  bool
	Key  string
	V    string
}

type chkKVOut struct {
	Res   chkRes
	Found bool
	V     string
}

// chkKVState: what each key pair's item holds, and which of them a Delete has marked (a
// marker lasts the Store's Lifetime, longer than a run). A store with the old pairs reads only
// k1; one with the new pairs reads k2, else k1, and takes a marker under either as a deletion.
// Delete marks one item per key pair, one call each, so a Delete that fails may have marked
// some and not others: the key is then deleted for the stores that read a marked item and not
// for the others, until a Delete succeeds (KV.Delete's documented limit during a rotation).
type chkKVState struct {
	k1, k2   string
	deleted1 bool // a marker under the old key pair K1, which both stores read
	deleted2 bool // a marker under the new key pair K2, which only the new store reads
}

func chkKVStep(st chkKVState, in chkKVIn, out chkKVOut) []chkKVState {
	switch in.Kind {
	case "set":
		next := st
		// The old store's Set is conditioned on its own item; the new store's looks at K1's
		// first and is conditioned on K2's.
		gone := st.deleted1
		if in.Old {
			next.k1 = in.V
		} else {
			next.k2 = in.V
			gone = gone || st.deleted2
		}
		switch out.Res {
		case chkOK:
			if !gone {
				return []chkKVState{next}
			}
		case chkGone:
			if gone {
				return []chkKVState{st}
			}
		default: // the KV view does not settle failed writes: either
			if gone {
				return []chkKVState{st}
			}
			return []chkKVState{st, next}
		}
		return nil
	case "get":
		want := st.k1
		if in.Old && st.deleted1 || !in.Old && (st.deleted1 || st.deleted2) {
			want = ""
		} else if !in.Old && st.k2 != "" {
			want = st.k2
		}
		switch {
		case out.Res != chkOK:
			return []chkKVState{st}
		case out.Found && out.V == want && want != "":
			return []chkKVState{st}
		case !out.Found && want == "":
			return []chkKVState{st}
		}
		return nil
	case "delete":
		// The new store marks K2, then K1; the old store marks K1 only.
		first, all := st, st
		if in.Old {
			all.k1, all.deleted1 = "", true
			first = all
		} else {
			first.k2, first.deleted2 = "", true
			all = first
			all.k1, all.deleted1 = "", true
		}
		if out.Res == chkOK {
			return []chkKVState{all}
		}
		return []chkKVState{st, first, all}
	}
	return nil
}

func chkKVModel() porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Init: func() []interface{} { return []interface{}{chkKVState{}} },
		Step: func(state, input, output interface{}) []interface{} {
			next := chkKVStep(state.(chkKVState), input.(chkKVIn), output.(chkKVOut))
			out := make([]interface{}, len(next))
			for i, s := range next {
				out[i] = s
			}
			return out
		},
		DescribeOperation: func(input, output interface{}) string {
			in, out := input.(chkKVIn), output.(chkKVOut)
			side := "new"
			if in.Old {
				side = "old"
			}
			switch {
			case in.Kind == "set":
				return fmt.Sprintf("set@%s %s -> %s", side, in.V, out.Res)
			case in.Kind == "get" && out.Found:
				return fmt.Sprintf("get@%s -> %s", side, out.V)
			case in.Kind == "get":
				return fmt.Sprintf("get@%s -> none (%s)", side, out.Res)
			}
			return fmt.Sprintf("delete@%s -> %s", side, out.Res)
		},
		DescribeState: func(s interface{}) string {
			st := s.(chkKVState)
			return fmt.Sprintf("k1=%q k2=%q deleted1=%v deleted2=%v", st.k1, st.k2, st.deleted1, st.deleted2)
		},
	}
	return nm.ToModel()
}

// chkHistory records the operations of one run, with a logical clock: porcupine needs only
// the order of calls and returns.
type chkHistory struct {
	clock atomic.Int64
	mu    sync.Mutex
	ops   []porcupine.Operation
	kv    []porcupine.Operation
}

func (h *chkHistory) tick() int64 { return h.clock.Add(1) }

func (h *chkHistory) add(client int, in chkIn, out chkOut, call, ret int64) {
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret})
	h.mu.Unlock()
}

func (h *chkHistory) addKV(client int, in chkKVIn, out chkKVOut, call, ret int64) {
	h.mu.Lock()
	h.kv = append(h.kv, porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret})
	h.mu.Unlock()
}

// chkUnion is a union-find over IDs and handles: a session lineage is every ID and handle
// that its moves, logins and loads connect.
type chkUnion map[string]string

func (u chkUnion) find(x string) string {
	for {
		p, ok := u[x]
		if !ok || p == x {
			u[x] = x
			return x
		}
		u[x] = u[p]
		x = p
	}
}

func (u chkUnion) join(a, b string) { u[u.find(a)] = u.find(b) }

// chkPartition splits the session history into lineages. RevokeUser and Cap operations
// concern every lineage with a session of their user, so they go into each of those.
func chkPartition(ops []porcupine.Operation, handleUser map[string]string) [][]porcupine.Operation {
	u := chkUnion{}
	node := func(in chkIn, out chkOut) []string {
		var n []string
		if in.ID != "" {
			n = append(n, "i:"+in.ID)
		}
		if in.NewID != "" {
			n = append(n, "i:"+in.NewID)
		}
		if in.Kind == chkRevoke {
			n = append(n, "h:"+in.Handle)
		}
		if (in.Kind == chkLoad || in.Kind == chkLogin) && out.Handle != "" {
			n = append(n, "h:"+out.Handle)
		}
		return n
	}
	var broadcast []porcupine.Operation
	for _, op := range ops {
		in := op.Input.(chkIn)
		if in.Kind == chkRevokeUser || in.Kind == chkCap {
			broadcast = append(broadcast, op)
			continue
		}
		n := node(in, op.Output.(chkOut))
		if len(n) == 0 {
			continue // a failed call on no session: it touched nothing
		}
		for _, x := range n[1:] {
			u.join(n[0], x)
		}
		u.find(n[0])
	}
	byRoot := map[string][]porcupine.Operation{}
	var roots []string
	users := map[string]map[string]bool{}
	for _, op := range ops {
		in := op.Input.(chkIn)
		if in.Kind == chkRevokeUser || in.Kind == chkCap {
			continue
		}
		n := node(in, op.Output.(chkOut))
		if len(n) == 0 {
			continue
		}
		r := u.find(n[0])
		if _, ok := byRoot[r]; !ok {
			roots = append(roots, r)
			users[r] = map[string]bool{}
		}
		byRoot[r] = append(byRoot[r], op)
	}
	for x := range u {
		if strings.HasPrefix(x, "h:") {
			if user := handleUser[x[2:]]; user != "" {
				users[u.find(x)][user] = true
			}
		}
	}
	var out [][]porcupine.Operation
	for _, r := range roots {
		part := byRoot[r]
		for _, op := range broadcast {
			if users[r][op.Input.(chkIn).User] {
				part = append(part, op)
			}
		}
		out = append(out, part)
	}
	return out
}

// chkLinearizable checks one partition; on a violation it writes porcupine's visualisation
// to dir and returns its path.
func chkLinearizable(model porcupine.Model, ops []porcupine.Operation, dir, name string, timeout time.Duration) (porcupine.CheckResult, string, porcupine.LinearizationInfo, error) {
	res, info := porcupine.CheckOperationsVerbose(model, ops, timeout)
	if res != porcupine.Illegal {
		return res, "", info, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, "", info, err
	}
	path := filepath.Join(dir, name+".html")
	if err := porcupine.VisualizePath(model, info, path); err != nil {
		return res, path, info, err
	}
	// The same history as text, in call order, with the longest orders the model accepted.
	sorted := slices.Clone(ops)
	slices.SortStableFunc(sorted, func(a, b porcupine.Operation) int { return int(a.Call - b.Call) })
	var text strings.Builder
	for _, op := range sorted {
		fmt.Fprintf(&text, "%6d %6d client %-3d %s\n", op.Call, op.Return, op.ClientId, model.DescribeOperation(op.Input, op.Output))
	}
	for _, part := range info.PartialLinearizationsOperations() {
		for i, lin := range part {
			if i == 3 {
				break
			}
			fmt.Fprintf(&text, "\nlongest accepted order %d:\n", i+1)
			for _, op := range lin {
				fmt.Fprintf(&text, "  %s\n", model.DescribeOperation(op.Input, op.Output))
			}
		}
	}
	return res, path, info, os.WriteFile(filepath.Join(dir, name+".txt"), []byte(text.String()), 0o644)
}

// chkClassifySession names the defect of issue 19 that a non-linearizable session history
// shows. It asks which single call, had it gone the other way, would make the history
// linearizable: a move that succeeded (4, or 4r for a re-authentication), a revocation that
// reported success (2, unless lost says the session had dropped out of its user's listing:
// 1 or 5), or the cap, had it been allowed to end the session (3); then it looks for the
// patterns each defect leaves. "" when nothing matches.
func chkClassifySession(model porcupine.Model, ops []porcupine.Operation, lost func(handles []string) string) string {
	sorted := slices.Clone(ops)
	slices.SortStableFunc(sorted, func(a, b porcupine.Operation) int { return int(a.Call - b.Call) })
	for i, op := range sorted {
		in, out := op.Input.(chkIn), op.Output.(chkOut)
		if out.Res != chkOK || !(in.Kind == chkRegenerate || in.Kind == chkLogin && in.Reauth) {
			continue
		}
		// As if the move had been refused: without it and the calls on the IDs it made.
		made := map[string]bool{in.NewID: true}
		var alt []porcupine.Operation
		for j, o := range sorted {
			oin := o.Input.(chkIn)
			switch {
			case j == i:
				o.Output = chkOut{Res: chkGone}
			case made[oin.ID] && oin.ID != "":
				if oin.NewID != "" {
					made[oin.NewID] = true
				}
				continue
			}
			alt = append(alt, o)
		}
		if porcupine.CheckOperations(model, alt) {
			if in.Kind == chkLogin {
				return "4r"
			}
			return "4"
		}
	}
	for i, op := range sorted {
		in, out := op.Input.(chkIn), op.Output.(chkOut)
		if out.Res != chkOK || in.Kind != chkRevoke && in.Kind != chkRevokeUser {
			continue
		}
		alt := slices.Clone(sorted)
		alt[i].Output = chkOut{Res: chkFailed}
		if porcupine.CheckOperations(model, alt) {
			if in.Kind == chkRevoke {
				return "2"
			}
			return chkOr(lost(chkHandles(sorted)), "2")
		}
	}
	if d := lost(chkHandles(sorted)); d != "" {
		return d // its user item deleted by TTL, or its entry dropped, while it lived
	}
	users := map[string]bool{}
	for _, op := range sorted {
		if in := op.Input.(chkIn); in.Kind == chkLogin {
			users[in.User] = true
		}
	}
	for _, u := range slices.Sorted(maps.Keys(users)) {
		alt := append(slices.Clone(sorted), porcupine.Operation{Input: chkIn{Kind: chkCap, User: u, Server: chkWholeCap}, Output: chkOut{},
			Call: sorted[0].Call, Return: 1<<62 - 1})
		if porcupine.CheckOperations(model, alt) {
			return "3"
		}
	}
	return chkClassifyPattern(ops)
}

func chkHandles(ops []porcupine.Operation) []string {
	var handles []string
	for _, o := range ops {
		if h := o.Output.(chkOut).Handle; h != "" && !slices.Contains(handles, h) {
			handles = append(handles, h)
		}
	}
	return handles
}

// chkClassifyPattern is the fallback when no single call explains the history (two racing
// moves that both succeeded need both undone): it looks for the traces defects 4 and 2 leave.
func chkClassifyPattern(ops []porcupine.Operation) string {
	type ended struct {
		ret    int64
		handle string
		id     string
		kind   chkOpKind
	}
	var ends []ended
	regenOK := map[string]int{}
	for _, op := range ops {
		in, out := op.Input.(chkIn), op.Output.(chkOut)
		if out.Res != chkOK {
			continue
		}
		switch in.Kind {
		case chkDelete, chkLogin:
			ends = append(ends, ended{op.Return, "", in.ID, in.Kind})
		case chkRevoke:
			ends = append(ends, ended{op.Return, in.Handle, "", in.Kind})
		case chkRegenerate:
			regenOK[in.ID]++
			ends = append(ends, ended{op.Return, "", in.ID, in.Kind})
		}
	}
	for _, op := range ops { // an audit that found the session gone also ended it, for a move
		if in, out := op.Input.(chkIn), op.Output.(chkOut); in.Kind == chkLoad && in.Server == "audit" && !out.Found {
			ends = append(ends, ended{op.Return, "", in.ID, chkLoad})
		}
	}
	for _, n := range regenOK {
		if n > 1 {
			return "4" // two Regenerates of one session both succeeded
		}
	}
	handleOf := map[string]string{}
	for _, op := range ops {
		in, out := op.Input.(chkIn), op.Output.(chkOut)
		if in.Kind == chkLoad && out.Found {
			handleOf[in.ID] = out.Handle
		}
	}
	for _, op := range ops {
		in, out := op.Input.(chkIn), op.Output.(chkOut)
		for _, e := range ends {
			if e.ret >= op.Call {
				continue
			}
			sameID := e.id != "" && e.id == in.ID
			sameHandle := e.handle != "" && e.handle == handleOf[in.ID]
			switch {
			case in.Kind == chkRegenerate && out.Res == chkOK && (sameID || sameHandle):
				return "4" // a Regenerate brought back an ended session
			case in.Kind == chkLoad && out.Found && e.kind == chkRevoke && e.handle == out.Handle:
				return "2" // a session loads after RevokeSession returned nil
			}
		}
	}
	return ""
}

// A Delete through the new key pairs that failed after marking K2 (seed 3 of a CI run, round
// 42) left the key deleted for the new store and alive for the old one. The model took a failed
// Delete as all or nothing, and reported that history as not linearizable; KV.Delete marks one
// item per key pair, and says so.
func TestKVModelAcceptsADeleteThatFailedHalfway(t *testing.T) {
	op := func(call int64, in chkKVIn, out chkKVOut) porcupine.Operation {
		return porcupine.Operation{Input: in, Output: out, Call: call, Return: call + 1}
	}
	ok := chkKVOut{Res: chkOK}
	history := []porcupine.Operation{
		op(0, chkKVIn{Kind: "set", V: "v3"}, ok),
		op(2, chkKVIn{Kind: "set", Old: true, V: "v14"}, ok),
		op(4, chkKVIn{Kind: "get", Old: true}, chkKVOut{Res: chkOK, Found: true, V: "v14"}),
		op(6, chkKVIn{Kind: "get"}, chkKVOut{Res: chkOK, Found: true, V: "v3"}),
		op(8, chkKVIn{Kind: "delete"}, chkKVOut{Res: chkFailed}),
		op(10, chkKVIn{Kind: "get", Old: true}, chkKVOut{Res: chkOK, Found: true, V: "v14"}),
		op(12, chkKVIn{Kind: "get"}, chkKVOut{Res: chkOK}),
	}
	if !porcupine.CheckOperations(chkKVModel(), history) {
		t.Fatal("a Delete that failed after marking K2 only is not accepted")
	}
	// A Delete that returned nil is whole: the old store may not find the value afterwards.
	history[4] = op(8, chkKVIn{Kind: "delete"}, ok)
	if porcupine.CheckOperations(chkKVModel(), history) {
		t.Fatal("a value found through the old key pairs after a successful Delete is accepted")
	}
}
