package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"
	"weak"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
)

// ItemAPI is the part of the DynamoDB API the Store uses: exactly the four item calls of
// *dynamodb.Client, so a DAX client, a client wrapped with tracing, or a fake also fits.
type ItemAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// cookieMaxLength bounds the cookie values the store decodes; its own are about 200 bytes.
const cookieMaxLength = 1024

// Store is a gorilla/sessions Store that keeps sessions in a DynamoDB table. The cookie holds
// only the signed session ID; the values live in the table under a hash of the ID.
// A Store is safe for concurrent use.
type Store struct {
	client  ItemAPI
	opts    Options
	codecs  []securecookie.Codec
	sealer  *sealer
	tracked tracker
	metrics *storeMetrics
	exprs   expressions
	prefix  string // the cookie name prefix the cookie options allow (cookie.go)
	// cookieValueLength is the length of every cookie value the store makes (cookie.go).
	cookieValueLength int
}

// expressions are the constant parts of the store's writes, built once by New: the SDK only
// reads them, so every request shares them.
type expressions struct {
	createNames           map[string]string
	createCond            *string
	updateNames           map[string]string
	updateSet             *string
	updateCond            *string // the item exists and has not expired
	updateCondUnversioned *string // ... and has no version yet (optimistic locking turned on later)
	updateCondVersion     *string // ... and has the loaded version
	updateCondSeen        *string // without optimistic locking: ... and still holds the write it replaces
	claimNames            map[string]string
	claimSet              *string // turns a moved session's old item into a tombstone
	claimCond             *string // the old item is still the live session, and unclaimed
	claimCondUnversioned  *string // ... with optimistic locking: and has no version yet
	claimCondVersion      *string // ... with optimistic locking: and has the loaded version
	readNames             map[string]string
	readProjection        *string // every attribute the store writes
}

func newExpressions(o *Options) expressions {
	e := expressions{
		createNames: map[string]string{"#k": o.PartitionKey},
		createCond:  aws.String("attribute_not_exists(#k)"),
		updateNames: map[string]string{"#k": o.PartitionKey, "#d": attrData, "#e": attrExpires, "#w": attrWritten, "#m": attrMoved},
		// REMOVE tidies items of earlier versions, which kept the last write's time in clear.
		updateSet: aws.String("SET #d = :d, #e = :e REMOVE #w"),
		// A moved session's tombstone is marked, so that no server, whatever its clock, writes
		// the old ID again.
		updateCond: aws.String("attribute_exists(#k) AND #e > :now AND attribute_not_exists(#m)"),
		claimNames: map[string]string{"#k": o.PartitionKey, "#d": attrData, "#e": attrExpires, "#m": attrMoved},
		// The tombstone keeps the session's expiry: TTL removes it when the session would have
		// ended, and not before a retried claim can find its own mark.
		claimSet:  aws.String("SET #m = :m REMOVE #d"),
		claimCond: aws.String("attribute_exists(#k) AND #e > :now AND attribute_not_exists(#m)"),
		// Every read names the attributes the store writes, which is the whole item: a role
		// confined with dynamodb:Attributes and dynamodb:Select SPECIFIC_ATTRIBUTES
		// (docs/iam.md) can then read it, and the answer is the same as without a projection.
		readNames: map[string]string{"#k": o.PartitionKey, "#d": attrData, "#e": attrExpires, "#w": attrWritten,
			"#v": attrVersion, "#m": attrMoved, "#s": attrSessions, "#x": attrDeleted},
		readProjection: aws.String("#k, #d, #e, #w, #v, #m, #s, #x"),
	}
	// Without locking the last writer wins, but only over a write it has seen: an SDK retry
	// of a write DynamoDB had applied must not land again on top of a later request's write.
	// The header of an envelope names its write (envelope.go).
	e.updateCondSeen = aws.String(*e.updateCond + " AND begins_with(#d, :h)")
	if o.OptimisticLocking {
		// A stale copy is not moved either: the claim checks the version as an update does.
		e.claimNames["#v"] = attrVersion
		e.claimCondUnversioned = aws.String(*e.claimCond + " AND attribute_not_exists(#v)")
		e.claimCondVersion = aws.String(*e.claimCond + " AND #v = :pv")
		e.updateNames["#v"] = attrVersion
		e.updateSet = aws.String("SET #d = :d, #e = :e, #v = :v REMOVE #w")
		e.updateCondUnversioned = aws.String(*e.updateCond + " AND attribute_not_exists(#v)")
		e.updateCondVersion = aws.String(*e.updateCond + " AND #v = :pv")
	}
	return e
}

var _ sessions.Store = (*Store)(nil)

// New returns a Store that keeps sessions in DynamoDB through client. It validates the
// options and returns a *ConfigError describing every problem, for example a missing key pair.
// New makes no AWS call; create the table beforehand (see CreateTable for development).
func New(client ItemAPI, opts ...Option) (*Store, error) {
	if client == nil {
		return nil, &ConfigError{Err: errors.New("client is nil")}
	}
	o := defaultOptions()
	for _, fn := range opts {
		if fn != nil {
			fn(&o)
		}
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	sealer, err := newSealer(o.KeyPairs)
	if err != nil {
		return nil, &ConfigError{Err: err}
	}
	codecs := securecookie.CodecsFromPairs(o.KeyPairs...)
	for _, c := range codecs {
		sc := c.(*securecookie.SecureCookie)
		// The cookie's own timestamp is not the session's lifetime: the expiry stored in the
		// item is, and it is checked on every read.
		sc.MaxAge(0)
		sc.MaxLength(cookieMaxLength)
		sc.SetSerializer(securecookie.NopEncoder{})
	}
	valueLength, err := cookieValueLength(codecs)
	if err != nil {
		return nil, &ConfigError{Err: fmt.Errorf("KeyPairs: %w", err)}
	}
	m, err := newStoreMetrics(o.MeterProvider)
	if err != nil {
		return nil, &ConfigError{Err: fmt.Errorf("MeterProvider: %w", err)}
	}
	return &Store{client: client, opts: o, codecs: codecs, sealer: sealer, metrics: m, exprs: newExpressions(&o),
		prefix: cookiePrefix(o.Cookie), cookieValueLength: valueLength}, nil
}

// CookieOptions returns the cookie options that new sessions get (WithCookie).
func (s *Store) CookieOptions() sessions.Options { return s.opts.Cookie }

// Get returns the session called name for this request, loading it once per request through
// the gorilla/sessions registry; later calls return the same session and error. See New.
func (s *Store) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New loads the session called name from the request's cookie and DynamoDB. It never
// returns a nil session:
//
//   - A missing, tampered, malformed, oversized or unknown-key cookie, or one whose item is
//     missing or expired, gives a new empty session (IsNew true) and a nil error, without
//     calling DynamoDB for a cookie that fails verification.
//   - A DynamoDB failure gives a new empty session and an *OpError. Save refuses to save that
//     session (ErrLoadFailed), so the stored session and the user's cookie survive the fault.
//   - An item that fails authentication gives a new session and an error matching
//     ErrInvalidItem; an item the codec cannot decode gives a *CodecError. Saving that new
//     session writes a new item under a new ID and leaves the bad item as it is.
//
// DynamoDB is called with the request's context.
func (s *Store) New(r *http.Request, name string) (*sessions.Session, error) {
	start := time.Now()
	sess := sessions.NewSession(s, name)
	opts := s.opts.Cookie
	sess.Options = &opts
	sess.IsNew = true
	outcome, err := s.loadInto(r, sess)
	s.metrics.loaded(r.Context(), start, outcome)
	return sess, err
}

// loadInto fills sess from the request's cookie and its item, and names the outcome for the
// metrics.
//
// The cookie is the prefixed one (CookieName). When the request has none, the unprefixed
// cookie of a deployment from before the prefix is read instead, so that nobody is logged
// out by the switch; Save then sets the prefixed cookie and expires the old one.
func (s *Store) loadInto(r *http.Request, sess *sessions.Session) (outcome string, err error) {
	name := s.CookieName(sess.Name())
	c, err := r.Cookie(name)
	legacy := false
	if err != nil {
		if old := s.legacyCookieName(sess.Name()); old != "" {
			c, err = r.Cookie(old)
			name, legacy = old, true
		}
		if err != nil {
			return "no_cookie", nil
		}
	}
	id, fresh, ok := s.decodeCookie(name, c.Value)
	if !ok {
		return "rejected_cookie", nil
	}
	loaded, err := s.load(r.Context(), id)
	var opErr *OpError
	switch {
	case errors.As(err, &opErr): // DynamoDB failed: the session may well exist
		s.tracked.set(sess, &sessionState{id: id, loadFailed: true})
		return "failed", err
	case err != nil: // the item is unusable
		return "rejected_item", err
	case loaded == nil:
		return "missing", nil
	case loaded.expired:
		return "expired", nil
	}
	sess.ID = id
	sess.Values = loaded.values
	sess.IsNew = false
	if fresh && !legacy {
		loaded.state.cookie = c.Value // sent back as it is while the ID stays (setCookie)
	}
	loaded.state.legacyCookie = legacy
	s.tracked.set(sess, &loaded.state)
	return "found", nil
}

// Save writes the session to DynamoDB, if needed, and sets its cookie.
//
// It writes nothing when the values are unchanged since the load and the last write is
// younger than the touch interval. A new session gets a fresh ID and an item written only if
// no item has that key. A loaded session is updated only while its item exists and has not
// expired, so a session deleted by a concurrent logout is not brought back (ErrSessionGone);
// with optimistic locking, a stale copy is not written either (ErrConflict).
// Options.MaxAge < 0 deletes the session like Delete. A session read from the unprefixed
// cookie of an earlier version moves to a new ID as it gets the prefixed one (see
// Store.CookieName). The session's own Options cannot drop HttpOnly (without
// WithCookieScriptAccess) or leave SameSite unset: the store's are restored.
//
// Errors: *SizeError (ErrTooLarge) for a session over the limit, *CodecError for values the
// codec cannot encode, ErrLoadFailed for a session whose load failed, *OpError for DynamoDB
// failures, ErrCookiePolicy for a cookie that browsers would drop. On any error the stored
// session is unchanged and no cookie is set.
func (s *Store) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	if sess.Options != nil && sess.Options.MaxAge < 0 {
		return s.Delete(r, w, sess)
	}
	start := time.Now()
	wrote, err := s.save(r.Context(), w, sess)
	s.metrics.saved(r.Context(), start, "save", wrote, err)
	return err
}

// Regenerate gives the session a new ID, keeps its values, writes it under the new ID, ends
// the item under the old ID, and sets the new cookie. Call it at login and at every change of
// privilege, so that an ID planted or seen before the login is worthless (session fixation).
//
// It succeeds only if the session it moves still exists, unexpired and not revoked, when its
// old item is ended: a session that another request logged out (or that another Regenerate
// moved first) returns ErrSessionGone, as Save does, and is not brought back. On any error
// the new item is deleted again, no cookie is set, and the session keeps its old ID (which
// may no longer load, if the error matches ErrOutcomeUnknown). After Delete in the same
// request, it starts a new session with a cookie that lasts (Delete's MaxAge -1 is undone).
func (s *Store) Regenerate(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	start := time.Now()
	s.reviveCookie(sess)
	wrote, err := s.regenerate(r.Context(), w, sess)
	s.metrics.saved(r.Context(), start, "regenerate", wrote, err)
	return err
}

// Delete deletes the session's item, clears its values and expires its cookie: a logout.
// It succeeds for a session that was never stored. If DeleteItem fails it returns the
// *OpError and leaves the cookie alone, so the user can try again.
func (s *Store) Delete(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	start := time.Now()
	err := s.delete(r, w, sess)
	s.metrics.deleted(r.Context(), start, err)
	return err
}

func (s *Store) delete(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	st := s.tracked.get(sess)
	if id := st.deletable(sess.ID); id != "" {
		if err := s.deleteItem(r.Context(), id); err != nil {
			return err
		}
		if st.meta.bound {
			s.unlistKey(r.Context(), &st.meta, itemKey(s.opts.KeyPrefix, id))
		}
	}
	s.tracked.set(sess, &sessionState{})
	opts := s.opts.Cookie
	if sess.Options != nil {
		opts = *sess.Options
	}
	opts.MaxAge = -1
	sess.Options = &opts
	sess.ID = ""
	clear(sess.Values)
	http.SetCookie(w, sessions.NewCookie(s.CookieName(sess.Name()), "", &opts))
	if old := s.legacyCookieName(sess.Name()); old != "" {
		if _, err := r.Cookie(old); err == nil {
			s.expireLegacyCookie(w, sess)
		}
	}
	return nil
}

// save is Save: an update of a stored session, skipped when nothing changed within the touch
// interval, or a new session's first write.
func (s *Store) save(ctx context.Context, w http.ResponseWriter, sess *sessions.Session) (wrote bool, err error) {
	st, next, err := s.prepare(sess)
	if err != nil {
		return false, err
	}
	if !st.current(sess.ID) || st.legacyCookie {
		// A session read from an unprefixed cookie moves to a new ID as it gets the prefixed
		// one, so that the old value, which a sibling subdomain could plant in a victim's
		// browser, opens nothing from then on.
		return s.writeNew(ctx, w, sess, st, next)
	}
	touch := s.touchInterval(s.lifetime(sess.Options))
	fp, walked := s.valuesFingerprint(sess.Values)
	if walked {
		next.fp = fp
		if st.unchanged(next, touch) {
			return false, s.setCookie(w, sess) // same values, and the expiry is fresh enough
		}
	}
	raw, body, err := s.encode(sess.Values, &next.meta)
	if err != nil {
		return false, err
	}
	if !walked {
		next.fp = bytesFingerprint(raw)
		if st.unchanged(next, touch) {
			return false, s.setCookie(w, sess) // a custom codec's bytes are unchanged
		}
	}
	next.id, next.cookie, next.version = sess.ID, st.cookie, st.version+1
	if err := s.update(ctx, st, &next, body, s.touches(st, &next)); err != nil {
		return false, err
	}
	s.tracked.set(sess, &next)
	return true, s.setCookie(w, sess)
}

// regenerate is Regenerate: the session written under a fresh ID, and its old item ended.
func (s *Store) regenerate(ctx context.Context, w http.ResponseWriter, sess *sessions.Session) (wrote bool, err error) {
	st, next, err := s.prepare(sess)
	if err != nil {
		return false, err
	}
	return s.writeNew(ctx, w, sess, st, next)
}

// begin opens Save, Regenerate and Login: a session whose load failed is never written
// (ErrLoadFailed), one without cookie options gets the store's, and one whose cookie a
// browser would drop is refused before anything is written (ErrCookiePolicy).
func (s *Store) begin(sess *sessions.Session) (*sessionState, error) {
	st := s.tracked.get(sess)
	if st != nil && st.loadFailed {
		return nil, fmt.Errorf("%w: session %q", ErrLoadFailed, sess.Name())
	}
	if sess.Options == nil {
		opts := s.opts.Cookie
		sess.Options = &opts
	}
	if err := s.checkCookie(sess); err != nil {
		return nil, err
	}
	return st, nil
}

// prepare is begin, then the state that a write of sess leaves: a stored session keeps its
// creation and user binding; ErrSessionGone past its absolute timeout.
func (s *Store) prepare(sess *sessions.Session) (st *sessionState, next sessionState, err error) {
	if st, err = s.begin(sess); err != nil {
		return nil, next, err
	}
	now := s.opts.Clock()
	next = sessionState{written: now.Unix(), version: 1, stored: true, meta: sessionMeta{created: now.Unix()}}
	next.legacyCookie = st != nil && st.legacyCookie
	if st.current(sess.ID) {
		next.meta = st.meta
	}
	next.meta.written = now.Unix()
	if next.expires = s.expiry(now, s.lifetime(sess.Options), &next.meta); next.expires <= now.Unix() {
		return nil, next, ErrSessionGone
	}
	return st, next, nil
}

// writeNew writes the session under a fresh ID; a stored session's old item is then ended
// (move), or nothing changes for whoever holds the old ID.
func (s *Store) writeNew(ctx context.Context, w http.ResponseWriter, sess *sessions.Session, st *sessionState, next sessionState) (wrote bool, err error) {
	body, err := s.encodeValues(sess.Values, &next)
	if err != nil {
		return false, err
	}
	next.id = newID()
	if err := s.create(ctx, &next, body); err != nil {
		return false, err
	}
	if st.current(sess.ID) {
		if err := s.move(ctx, st, &next, nil); err != nil {
			return false, err
		}
	}
	s.tracked.set(sess, &next)
	sess.ID = next.id
	return true, s.setCookie(w, sess)
}

// encodeValues encodes the session's values for next, and records their fingerprint.
func (s *Store) encodeValues(values map[any]any, next *sessionState) (sealedBody, error) {
	raw, body, err := s.encode(values, &next.meta)
	if err != nil {
		return sealedBody{}, err
	}
	if fp, ok := s.valuesFingerprint(values); ok {
		next.fp = fp
	} else {
		next.fp = bytesFingerprint(raw)
	}
	return body, nil
}

// reviveCookie undoes what Delete did to the session's cookie options (MaxAge -1), so that a
// Login or Regenerate after a Delete in the same request sets a cookie the browser keeps.
func (s *Store) reviveCookie(sess *sessions.Session) {
	if sess.Options != nil && sess.Options.MaxAge < 0 {
		opts := *sess.Options
		opts.MaxAge = s.opts.Cookie.MaxAge
		sess.Options = &opts
	}
}

// encode serializes values and checks the size of the item it will make.
// encode returns the codec's bytes of values (which the change detection fingerprints) and
// the body to seal (compressed if WithCompression says so), checked against MaxLength.
func (s *Store) encode(values map[any]any, meta *sessionMeta) (raw []byte, body sealedBody, err error) {
	raw, err = s.opts.Codec.Encode(values)
	if err != nil {
		return nil, body, &CodecError{Op: "encode", Err: err}
	}
	if body, err = s.compress(raw); err != nil {
		return nil, body, err
	}
	if size := s.sealer.sealedLength(meta.length() + len(body.data)); size > s.opts.MaxLength {
		return nil, body, &SizeError{Size: size, Limit: s.opts.MaxLength}
	}
	return raw, body, nil
}

// move finishes a Regenerate (or a re-authentication): next has been written under its new
// ID; the old item is then claimed, which ends it. A bound session's entry in its user's item
// gets the new key first, so that a revocation always finds every live item of the session.
//
// The claim is conditional: the old item must still exist, unexpired and unclaimed, so a
// session that was logged out, revoked, timed out or moved by a concurrent Regenerate is not
// brought back, and of concurrent moves of one session at most one wins. If a step fails,
// the new item is deleted (and unlisted) again and the caller's session stays as it was.
func (s *Store) move(ctx context.Context, prev, next *sessionState, entry []byte) error {
	oldKey, newKey := itemKey(s.opts.KeyPrefix, prev.id), itemKey(s.opts.KeyPrefix, next.id)
	if next.meta.bound {
		if err := s.rekey(ctx, &next.meta, oldKey, newKey, entry); err != nil {
			s.rollBack(ctx, next)
			return err
		}
	}
	if err := s.claim(ctx, prev, next); err != nil {
		s.rollBack(ctx, next)
		if next.meta.bound {
			s.unlistKey(ctx, &next.meta, newKey)
		}
		return err
	}
	if next.meta.bound {
		s.unlistKey(ctx, &next.meta, oldKey)
	}
	return nil
}

// rollBack deletes a new item that no cookie will carry. If that fails, the item is
// unreachable anyway and TTL removes it.
func (s *Store) rollBack(ctx context.Context, next *sessionState) {
	if err := s.deleteItem(ctx, next.id); err != nil {
		s.opts.Logger.Warn("dynamostore: could not delete a new item after a failed move", "table", s.opts.TableName, "error", err)
	}
}

// claim ends the old item of a moving session by turning it into a tombstone marked with
// the new item's write token, on condition that it is still the live, unclaimed session. The
// mark makes the claim retry-safe: a retried claim finds its own mark.
func (s *Store) claim(ctx context.Context, prev, next *sessionState) error {
	key := itemKey(s.opts.KeyPrefix, prev.id)
	mark := &types.AttributeValueMemberN{Value: strconv.FormatUint(next.header.token(), 10)}
	values := map[string]types.AttributeValue{
		":m":   mark,
		":now": &types.AttributeValueMemberN{Value: strconv.FormatInt(next.written, 10)},
	}
	cond := s.lockedCond(prev, values, s.exprs.claimCond, s.exprs.claimCondUnversioned, s.exprs.claimCondVersion)
	var tries attempts
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           &s.opts.TableName,
		Key:                                 s.keyAttr(key),
		UpdateExpression:                    s.exprs.claimSet,
		ConditionExpression:                 cond,
		ExpressionAttributeNames:            s.exprs.claimNames,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}, tries.option)
	var failed *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &failed):
	case claimedBy(failed.Item, mark):
		s.ownWrite("UpdateItem")
		return nil
	case s.opts.OptimisticLocking && liveAt(failed.Item, next.written):
		return ErrConflict // live and unclaimed: another request wrote a newer version
	default:
		return ErrSessionGone // logged out, revoked, expired, or moved by another request
	}
	opErr := &OpError{Op: "UpdateItem", Table: s.opts.TableName, Err: err}
	if definite(err, tries.n.Load()) {
		return s.logged(opErr)
	}
	item, rerr := s.reread(ctx, key)
	switch {
	case rerr != nil:
		opErr.OutcomeUnknown = true
		return s.logged(opErr)
	case claimedBy(item, mark):
		s.opts.Logger.Info("dynamostore: write confirmed after an error", "op", "UpdateItem", "table", s.opts.TableName, "error", err)
		return nil
	case item == nil, item[attrMoved] != nil:
		// Gone, or another move's: the session has ended either way once the new item is
		// rolled back (if this claim applied, a logout removed its tombstone since).
		return errors.Join(ErrSessionGone, s.logged(opErr))
	}
	return s.logged(opErr) // the old item is as it was: the claim did not happen
}

// liveAt reports whether item is a session item, unclaimed and unexpired at now.
func liveAt(item map[string]types.AttributeValue, now int64) bool {
	expires, err := numberAttr(item, attrExpires)
	return item != nil && item[attrMoved] == nil && err == nil && expires > now
}

// lockedCond picks the condition of a write over prev: base, or with optimistic locking the
// variant that requires prev's version (adding it to values), or no version at all for an
// item written before locking was turned on.
func (s *Store) lockedCond(prev *sessionState, values map[string]types.AttributeValue, base, unversioned, versioned *string) *string {
	switch {
	case !s.opts.OptimisticLocking:
		return base
	case prev.version == 0:
		return unversioned
	}
	values[":pv"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(prev.version, 10)}
	return versioned
}

// claimedBy reports whether item is the tombstone a claim with mark left.
func claimedBy(item map[string]types.AttributeValue, mark *types.AttributeValueMemberN) bool {
	m, ok := item[attrMoved].(*types.AttributeValueMemberN)
	return ok && m.Value == mark.Value
}

// expiry is when a session written now ends: its lifetime after this write, but never after
// its absolute timeout.
func (s *Store) expiry(now time.Time, lifetime time.Duration, m *sessionMeta) int64 {
	return min(now.Add(lifetime).Unix(), s.deadline(m))
}

// deadline is the end of a session's absolute timeout: AbsoluteTimeout after its Login, or
// after its creation for an anonymous session.
func (s *Store) deadline(m *sessionMeta) int64 {
	if !m.bound {
		return m.created + int64(s.opts.AbsoluteTimeout/time.Second)
	}
	d := m.authTime + int64(s.opts.AbsoluteTimeout/time.Second)
	if m.listedUntil != 0 {
		d = min(d, m.listedUntil) // the user's item is not made to outlive a later deadline
	}
	return d
}

// lifetime is how long the server keeps a session after a write.
func (s *Store) lifetime(o *sessions.Options) time.Duration {
	if o.MaxAge > 0 {
		return time.Duration(o.MaxAge) * time.Second
	}
	return s.opts.Lifetime
}

// touches reports whether next only moves prev's expiry: the same values, and the lifetime
// prev was written with (as far as the absolute timeout allows). A Save that changes the
// lifetime (a "remember me" turned on or off) is a change like any other.
func (s *Store) touches(prev, next *sessionState) bool {
	if !prev.fp.equal(next.fp) || prev.meta.written == 0 {
		return false
	}
	lifetime := prev.expires - prev.meta.written
	return next.expires == min(next.meta.written+lifetime, s.deadline(&next.meta))
}

// touchInterval is capped at a tenth of the lifetime so an active session never expires.
func (s *Store) touchInterval(lifetime time.Duration) time.Duration {
	return min(*s.opts.TouchInterval, lifetime/10)
}

// setCookie sets the session's cookie. A cookie already encoded for the session's ID with the
// first key pair (the request's own, or one set earlier) is sent again as it is: signing it
// anew would give the browser nothing new.
func (s *Store) setCookie(w http.ResponseWriter, sess *sessions.Session) error {
	st := s.tracked.get(sess)
	var encoded string
	if st != nil && st.id == sess.ID {
		encoded = st.cookie
	}
	if encoded == "" {
		var err error
		name := s.CookieName(sess.Name())
		if encoded, err = securecookie.EncodeMulti(name, []byte(sess.ID), s.codecs...); err != nil {
			return fmt.Errorf("dynamostore: encode cookie %q: %w", name, err)
		}
		if st != nil && st.id == sess.ID {
			st.cookie = encoded
		}
	}
	if err := s.writeCookie(w, sess, encoded); err != nil {
		return err
	}
	if st != nil && st.legacyCookie {
		s.expireLegacyCookie(w, sess)
		st.legacyCookie = false
	}
	return nil
}

// decodeCookie returns the session ID in a cookie value, and whether the first key pair
// signed it (then the value can be sent back as it is).
//
// Each key pair is tried in turn. A pair whose hash key verifies the cookie but whose block
// key is not the one that encrypted it decrypts to garbage (securecookie's AES-CTR cannot
// tell), which fails the ID's shape check: the next pair is tried then too, so that a block
// key can be rotated alone.
func (s *Store) decodeCookie(name, value string) (id string, fresh, ok bool) {
	var firstErr error
	for i, codec := range s.codecs {
		var raw []byte
		err := codec.Decode(name, value, &raw)
		if err == nil && !validID(string(raw)) {
			err = errors.New("malformed session ID")
		}
		if err == nil {
			return string(raw), i == 0, true
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	s.opts.Logger.Warn("dynamostore: rejected session cookie", "cookie", name, "reason", cookieRejection(firstErr))
	return "", false, false
}

// cookieRejection names why a cookie failed, without its value.
func cookieRejection(err error) string {
	var multi securecookie.MultiError
	if errors.As(err, &multi) && len(multi) > 0 {
		err = multi[0]
	}
	var scErr securecookie.Error
	switch {
	case errors.As(err, &scErr) && scErr.IsDecode():
		return "does not verify: " + scErr.Error()
	default:
		return err.Error()
	}
}

// keyAttr is the DynamoDB key of the item whose key value is key (see itemKey).
func (s *Store) keyAttr(key string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{s.opts.PartitionKey: &types.AttributeValueMemberS{Value: key}}
}

// getItemInput is the store's only kind of read: the item under key, every attribute the
// store writes named in a projection.
func (s *Store) getItemInput(key string, consistent *bool) *dynamodb.GetItemInput {
	return s.getItemInputFor(s.keyAttr(key), consistent)
}

func (s *Store) getItemInputFor(keyAttr map[string]types.AttributeValue, consistent *bool) *dynamodb.GetItemInput {
	return &dynamodb.GetItemInput{
		TableName:                &s.opts.TableName,
		Key:                      keyAttr,
		ConsistentRead:           consistent,
		ProjectionExpression:     s.exprs.readProjection,
		ExpressionAttributeNames: s.exprs.readNames,
	}
}

func (s *Store) deleteItem(ctx context.Context, id string) error {
	key := itemKey(s.opts.KeyPrefix, id)
	var tries attempts
	_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &s.opts.TableName,
		Key:       s.keyAttr(key),
	}, tries.option)
	if err != nil {
		return s.confirmDelete(ctx, key, tries.n.Load(), err)
	}
	return nil
}

func (s *Store) opError(op string, err error) error {
	s.opts.Logger.Warn("dynamostore: DynamoDB call failed", "op", op, "table", s.opts.TableName, "error", err)
	return &OpError{Op: op, Table: s.opts.TableName, Err: err}
}

type loadResult struct {
	values  map[any]any
	state   sessionState
	expired bool // the item is past its expiry or absolute timeout: no session
}

// load reads a session item. It returns nil and no error when there is no item, a result
// marked expired when the item is past its expiry, an
// *OpError when DynamoDB failed, and ErrInvalidItem or a *CodecError for an unusable item.
func (s *Store) load(ctx context.Context, id string) (*loadResult, error) {
	key := itemKey(s.opts.KeyPrefix, id)
	keyAttr := s.keyAttr(key)
	out, err := s.client.GetItem(ctx, s.getItemInputFor(keyAttr, s.opts.ConsistentRead))
	if err != nil {
		return nil, s.opError("GetItem", err)
	}
	if out.Item == nil || out.Item[attrMoved] != nil {
		return nil, nil // none, or the tombstone of a session that moved to a new ID
	}
	st, body, err := s.parseItem(key, out.Item)
	if err != nil {
		s.opts.Logger.Warn("dynamostore: rejected stored session", "table", s.opts.TableName, "reason", err)
		return nil, fmt.Errorf("%w: %v", ErrInvalidItem, err)
	}
	// DynamoDB TTL deletes expired items only eventually (often days later): check here, and
	// the absolute timeout too, which a change of WithAbsoluteTimeout may have moved.
	if now := s.opts.Clock().Unix(); st.expires <= now || s.deadline(&st.meta) <= now {
		return &loadResult{expired: true}, nil
	}
	values, err := s.opts.Codec.Decode(body)
	if err != nil {
		return nil, &CodecError{Op: "decode", Err: err}
	}
	st.id, st.key, st.keyAttr = id, key, keyAttr
	st.stored = true
	if fp, ok := s.valuesFingerprint(values); ok {
		st.fp = fp
	} else {
		st.fp = bytesFingerprint(body)
	}
	return &loadResult{values: values, state: st}, nil
}

// parseItem authenticates an item and returns its state and codec bytes.
func (s *Store) parseItem(key string, item map[string]types.AttributeValue) (sessionState, []byte, error) {
	var st sessionState
	data, ok := item[attrData].(*types.AttributeValueMemberB)
	if !ok {
		return st, nil, fmt.Errorf("attribute %q is missing or not binary", attrData)
	}
	if len(data.Value) > MaxItemLength {
		return st, nil, fmt.Errorf("attribute %q has %d bytes", attrData, len(data.Value))
	}
	env, err := s.sealer.open(key, data.Value)
	if err != nil {
		return st, nil, err
	}
	body := env.payload
	if env.version == envelopeVersion1 {
		st.meta.created = s.opts.Clock().Unix() // unknown: the absolute timeout starts now
	} else if st.meta, body, err = parseMeta(env.payload); err != nil {
		return st, nil, err
	}
	if body, err = inflate(env.flags, body); err != nil {
		return st, nil, err
	}
	// The expires attribute is for TTL; the authenticated copy decides, unless the attribute
	// was set earlier (then TTL is about to remove the item anyway).
	st.expires = env.expires
	if env.version == envelopeVersion {
		copy(st.header[:], data.Value)
	} else {
		st.v1Data = data.Value
	}
	if attr, err := numberAttr(item, attrExpires); err == nil && attr < env.expires {
		st.expires = attr
	}
	if s.opts.OptimisticLocking {
		if st.version, err = numberAttr(item, attrVersion); err != nil {
			st.version = 0 // written before locking was turned on
		}
	}
	return st, body, nil
}

func numberAttr(item map[string]types.AttributeValue, name string) (int64, error) {
	n, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("attribute %q is missing or not a number", name)
	}
	return strconv.ParseInt(n.Value, 10, 64)
}

// item seals body into a new item for key and records the write's header (its token) in st.
func (s *Store) item(key string, st *sessionState, body sealedBody) map[string]types.AttributeValue {
	var meta [metaBoundLength]byte
	env := s.sealer.seal(key, st.expires, body.flags, st.meta.appendTo(meta[:0]), body.data)
	copy(st.header[:], env)
	keyValue := st.keyAttr[s.opts.PartitionKey] // the load's, when the ID is the same
	if keyValue == nil {
		keyValue = &types.AttributeValueMemberS{Value: key}
	}
	item := map[string]types.AttributeValue{
		s.opts.PartitionKey: keyValue,
		attrData:            &types.AttributeValueMemberB{Value: env},
		attrExpires:         &types.AttributeValueMemberN{Value: strconv.FormatInt(st.expires, 10)},
	}
	if s.opts.OptimisticLocking {
		item[attrVersion] = &types.AttributeValueMemberN{Value: strconv.FormatInt(st.version, 10)}
	}
	return item
}

// create writes a brand-new item; the condition makes sure it can never replace another.
// A failed condition is success only if the item there is this very write (the SDK retried
// a PutItem whose answer was lost); an item of anyone else is never overwritten.
func (s *Store) create(ctx context.Context, next *sessionState, body sealedBody) error {
	key := itemKey(s.opts.KeyPrefix, next.id)
	item := s.item(key, next, body)
	var tries attempts
	_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           &s.opts.TableName,
		Item:                                item,
		ConditionExpression:                 s.exprs.createCond,
		ExpressionAttributeNames:            s.exprs.createNames,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}, tries.option)
	var failed *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &failed):
		return s.confirm(ctx, "PutItem", key, item, 0, tries.n.Load(), err)
	case sameWrite(failed.Item, item):
		s.ownWrite("PutItem")
		return nil
	}
	return s.opError("PutItem", fmt.Errorf("%w: %w", errKeyTaken, err))
}

// update rewrites a loaded item, only while it exists, has not expired and (with optimistic
// locking) still has the version that was loaded. A failed condition is success if the item
// holds this very write (an SDK retry after a lost answer).
//
// Without optimistic locking the last writer wins, but only over a write it has seen: the
// update is conditioned on the envelope it replaces, so an SDK retry of an attempt that was
// applied never lands on a later request's write. If another request wrote the session since
// the load and DynamoDB refused every attempt of this call (none of it applied), the update is
// sent once more, over that write, as a single attempt that the SDK does not retry; unless this
// update only touches the session (same values and lifetime, a later expiry): the other write
// has refreshed the session, and a touch never undoes a change it did not see.
func (s *Store) update(ctx context.Context, prev, next *sessionState, body sealedBody, touch bool) error {
	key, keyAttr := prev.key, prev.keyAttr // the same ID: computed once, at the load
	if key == "" || prev.id != next.id {
		key = itemKey(s.opts.KeyPrefix, next.id)
		keyAttr = s.keyAttr(key)
	}
	next.key, next.keyAttr = key, keyAttr
	item := s.item(key, next, body)
	values := map[string]types.AttributeValue{
		":d":   item[attrData],
		":e":   item[attrExpires],
		":now": &types.AttributeValueMemberN{Value: strconv.FormatInt(next.written, 10)},
	}
	if s.opts.OptimisticLocking {
		values[":v"] = item[attrVersion]
	}
	cond := s.lockedCond(prev, values, s.exprs.updateCond, s.exprs.updateCondUnversioned, s.exprs.updateCondVersion)
	if !s.opts.OptimisticLocking {
		switch {
		case prev.header[0] == envelopeVersion:
			cond = s.exprs.updateCondSeen
			values[":h"] = &types.AttributeValueMemberB{Value: prev.header[:]}
		case prev.v1Data != nil: // no token: the whole envelope names the write
			cond = s.exprs.updateCondSeen
			values[":h"] = &types.AttributeValueMemberB{Value: prev.v1Data}
		}
	}
	u := updateCall{key: key, keyAttr: keyAttr, cond: cond, values: values, item: item, prevToken: prev.header.token(), touch: touch}
	found, err := s.sendUpdate(ctx, &u, next)
	if found == nil {
		return err
	}
	if touch {
		next.header = envelopeHeader(found) // the write the session now holds
		return nil
	}
	delete(values, ":h")
	u.prevToken = envelopeHeader(found).token()
	u.cond, u.once = s.exprs.updateCond, true
	if found, err = s.sendUpdate(ctx, &u, next); found != nil { // no part of the condition can fail so
		return s.logged(&OpError{Op: "UpdateItem", Table: s.opts.TableName, Err: errors.New("the condition failed against a live session item")})
	}
	return err
}

// sessionState is what the store remembers about a session between New and Save.
type sessionState struct {
	id           string                          // the ID the state describes (or the cookie's ID for a failed load)
	loadFailed   bool                            // DynamoDB failed while loading: never save this session
	stored       bool                            // an item exists under id
	fp           fingerprint                     // of the values last loaded or written (see digest.go)
	header       envelopeHeaderBytes             // the stored envelope's header, which names its write (version 2)
	v1Data       []byte                          // a stored version 1 envelope, which has no token: all of it names the write
	written      int64                           // epoch seconds of the last write (set for writes only)
	expires      int64                           // epoch seconds when the item expires
	version      int64                           // item version with optimistic locking
	meta         sessionMeta                     // created, last write and the user binding (item.go, users.go)
	cookie       string                          // the cookie value for id under the first key pair, once known
	legacyCookie bool                            // the request carried the session in its unprefixed cookie
	key          string                          // the item key of id, once computed
	keyAttr      map[string]types.AttributeValue // key as the table's hash key; the SDK only reads it
}

// current reports whether the state describes a stored item under id.
func (st *sessionState) current(id string) bool {
	return st != nil && st.stored && id != "" && st.id == id
}

// deletable returns the ID whose item Delete should remove: the stored one, or the cookie's
// ID when the load failed (a logout during a DynamoDB fault must still remove the session).
func (st *sessionState) deletable(id string) string {
	switch {
	case st.current(id):
		return id
	case st != nil && st.loadFailed:
		return st.id
	}
	return ""
}

// unchanged reports whether next can be skipped: same values, and its expiry moves by less
// than the touch interval.
func (st *sessionState) unchanged(next sessionState, touch time.Duration) bool {
	drift := time.Duration(next.expires-st.expires) * time.Second
	return st.fp.equal(next.fp) && drift < touch && drift > -touch
}

// tracker maps sessions to their state without keeping them alive and without touching
// Session.Values: an entry goes away when its session is garbage collected.
type tracker struct {
	mu sync.Mutex
	m  map[weak.Pointer[sessions.Session]]*sessionState
}

func (t *tracker) get(sess *sessions.Session) *sessionState {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[weak.Make(sess)]
}

func (t *tracker) set(sess *sessions.Session, st *sessionState) {
	wp := weak.Make(sess)
	t.mu.Lock()
	if t.m == nil {
		t.m = make(map[weak.Pointer[sessions.Session]]*sessionState)
	}
	_, had := t.m[wp]
	t.m[wp] = st
	t.mu.Unlock()
	if !had {
		runtime.AddCleanup(sess, func(wp weak.Pointer[sessions.Session]) {
			t.mu.Lock()
			delete(t.m, wp)
			t.mu.Unlock()
		}, wp)
	}
}
