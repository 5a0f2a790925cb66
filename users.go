package dynamostore

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/gorilla/sessions"
)

// Users and their sessions, on the four item calls and the table of CROSS-ACCOUNT.md: no
// index, no Query, no Scan.
//
// Login binds a session to a user: the session's sealed metadata (item.go) records a keyed
// hash of the user ID, a random handle, the creation and authentication times. Each user has
// one more item in the same table, under prefix + "user#" + base64url(HMAC(user ID)), whose
// map attribute "sessions" lists the user's sessions by handle:
//
//	sessions.<handle>.e  B     sealed entry: created, authentication time, label
//	sessions.<handle>.k  M     item keys that may hold the session: {"session#...": true}
//	sessions.<handle>.r  BOOL  set while the session is being revoked
//
// Every entry changes with an UpdateItem on its own path, so logins of one user from many
// places never overwrite each other. The item keys are listed *before* an item is created
// under them (Regenerate adds the new key before deleting the old), and a revocation first
// flags the entry, which stops any further key being added, then deletes every listed item:
// so a revocation can never miss a live session of the user. A listing reads each session's
// own item, so it shows only live sessions, with their last write and expiry.
//
// Get and Save of a bound session make the same calls as of any session: the user's item is
// touched by Login, Regenerate, Delete and the functions below only.

const (
	attrSessions   = "sessions" // M on a user item
	entrySealed    = "e"
	entryKeys      = "k"
	entryRevoking  = "r"
	handleBytes    = 16
	userKeyBytes   = 16
	maxLabelLength = 100
	// userWorkers bounds the concurrent item calls of a listing or a revocation.
	userWorkers = 16
)

var handleLength = base64.RawURLEncoding.EncodedLen(handleBytes)

// ErrSessionNotFound means RevokeSession found no session with that handle among the user's.
var ErrSessionNotFound = errors.New("dynamostore: the user has no session with that handle")

// SessionInfo describes one of a user's live sessions, for a "your sessions" page.
type SessionInfo struct {
	// Handle names the session: opaque, stable for the session's life (Regenerate and a
	// re-authentication keep it), safe to show in a page and to send back in a form. It is
	// not a credential: knowing it gives no way to use the session.
	Handle string
	// Created is when the session was bound to the user (its first Login).
	Created time.Time
	// AuthTime is the session's last Login.
	AuthTime time.Time
	// LastSeen is the session's last write (Save writes at least once per touch interval).
	LastSeen time.Time
	// Expires is when the session ends unless it is used again (never after its absolute
	// timeout).
	Expires time.Time
	// Label is what WithSessionLabel gave at Login.
	Label string
}

// Login is the moment of authentication. It gives the session a new ID (as Regenerate does,
// against session fixation), binds it to userID, records the authentication time, starts
// the absolute timeout (WithAbsoluteTimeout), lists the session under the user, and sets the
// cookie. Calling it again on a session of the same user (a re-authentication) keeps the
// session's handle and creation time and refreshes the authentication time. If the user
// then has more sessions than WithMaxSessionsPerUser allows, the oldest ones are ended.
//
// On an error no cookie is set; the new item, if one was written, is deleted again, and the
// session keeps its old ID. The errors are those of Save, and ErrSessionGone when the
// session was revoked while logging in again.
func (s *Store) Login(r *http.Request, w http.ResponseWriter, sess *sessions.Session, userID string) error {
	start := time.Now()
	err := s.login(r, w, sess, userID)
	s.metrics.saved(r.Context(), start, "login", err == nil, err)
	return err
}

func (s *Store) login(r *http.Request, w http.ResponseWriter, sess *sessions.Session, userID string) error {
	if userID == "" {
		return errors.New("dynamostore: Login needs a user ID")
	}
	ctx := r.Context()
	st := s.tracked.get(sess)
	if st != nil && st.loadFailed {
		return fmt.Errorf("%w: session %q", ErrLoadFailed, sess.Name())
	}
	if sess.Options == nil {
		opts := s.opts.Cookie
		sess.Options = &opts
	}
	now := s.opts.Clock()
	stored := st.current(sess.ID)
	user := s.sealer.userKey(0, userID)
	meta := sessionMeta{created: now.Unix(), written: now.Unix(), bound: true, authTime: now.Unix(), user: user}
	again := stored && st.meta.bound && st.meta.user == user
	if again {
		meta.created, meta.handle = st.meta.created, st.meta.handle
	} else if _, err := rand.Read(meta.handle[:]); err != nil {
		return fmt.Errorf("%w: %v", ErrRandom, err)
	}
	var label string
	if s.opts.SessionLabel != nil {
		label = truncateLabel(s.opts.SessionLabel(r))
	}
	next := sessionState{written: now.Unix(), version: 1, stored: true, meta: meta}
	next.expires = s.expiry(now, s.lifetime(sess.Options), &next.meta)
	raw, body, err := s.encode(sess.Values, &next.meta)
	if err != nil {
		return err
	}
	if fp, ok := s.valuesFingerprint(sess.Values); ok {
		next.fp = fp
	} else {
		next.fp = bytesFingerprint(raw)
	}
	entry, err := s.sealEntry(&next.meta, label)
	if err != nil {
		return err
	}
	if next.id, err = newID(); err != nil {
		return err
	}
	if err := s.create(ctx, &next, body); err != nil {
		return err
	}
	if again {
		err = s.move(ctx, st, &next, entry)
		if errors.Is(err, ErrSessionGone) {
			// The session's entry is gone (revoked, or logged out elsewhere): this Login is a
			// new authentication, so it starts a new session rather than fail.
			st.meta.bound = false
			return s.login(r, w, sess, userID)
		}
		if err != nil {
			return s.failedMove(w, sess, &next, err)
		}
	} else {
		listing, err := s.list(ctx, &next.meta, itemKey(s.opts.KeyPrefix, next.id), entry)
		if err != nil {
			_ = s.deleteItem(ctx, next.id)
			return err
		}
		if stored {
			if err := s.deleteItem(ctx, st.id); err != nil {
				if !errors.Is(err, ErrOutcomeUnknown) {
					_ = s.deleteItem(ctx, next.id)
					s.unlistKey(ctx, &next.meta, itemKey(s.opts.KeyPrefix, next.id))
				}
				return s.failedMove(w, sess, &next, err)
			}
			if st.meta.bound { // it belonged to another user
				s.unlistKey(ctx, &st.meta, itemKey(s.opts.KeyPrefix, st.id))
			}
		}
		s.enforceCap(ctx, &next.meta, listing)
	}
	s.tracked.set(sess, &next)
	sess.ID = next.id
	return s.setCookie(w, sess)
}

// AuthTime returns when the session's user last authenticated (its last Login), for step-up
// checks before sensitive actions; false for an anonymous session, or one not loaded by this
// Store.
func (s *Store) AuthTime(sess *sessions.Session) (time.Time, bool) {
	st := s.tracked.get(sess)
	if !st.current(sess.ID) || !st.meta.bound {
		return time.Time{}, false
	}
	return time.Unix(st.meta.authTime, 0), true
}

// Handle returns the session's handle, to mark "this device" in a UserSessions listing; ""
// for an anonymous session, or one not loaded by this Store.
func (s *Store) Handle(sess *sessions.Session) string {
	st := s.tracked.get(sess)
	if !st.current(sess.ID) || !st.meta.bound {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(st.meta.handle[:])
}

// UserSessions returns the user's live sessions, newest first. It is strongly consistent: a
// session whose Login returned is listed, and one that expired, logged out or was revoked is
// not. It reads the user's item and then each listed session's item (concurrently), so it
// costs 1 + N GetItem calls for N sessions (one more user item per older key pair while keys
// rotate).
func (s *Store) UserSessions(ctx context.Context, userID string) ([]SessionInfo, error) {
	var infos []SessionInfo
	for i := range s.sealer.keys {
		userItem := s.userItemKey(s.sealer.userKey(i, userID))
		listing, err := s.readUserItem(ctx, userItem)
		if err != nil {
			return nil, err
		}
		found, err := s.liveSessions(ctx, s.sealer.userKey(i, userID), userItem, listing)
		if err != nil {
			return nil, err
		}
		infos = append(infos, found...)
	}
	slices.SortFunc(infos, func(a, b SessionInfo) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Handle, b.Handle)
	})
	return infos, nil
}

// RevokeSession ends one of the user's sessions, named by its handle: the session's next
// request gets a new, empty session, and a Save of a copy loaded before returns
// ErrSessionGone. A handle that is not one of this user's sessions (another user's, or
// none) returns ErrSessionNotFound and ends nothing. It costs two UpdateItem calls and a
// DeleteItem per item key of the session (one, unless a Regenerate is under way).
func (s *Store) RevokeSession(ctx context.Context, userID, handle string) error {
	if !validHandle(handle) {
		return ErrSessionNotFound
	}
	for i := range s.sealer.keys {
		found, _, err := s.revoke(ctx, s.userItemKey(s.sealer.userKey(i, userID)), handle)
		if err != nil || found {
			return err
		}
	}
	return ErrSessionNotFound
}

// RevokeUserSessions ends every session of the user except those whose handles are in keep
// (for example the current one, after a password change: ASVS 7.4.3), and returns how many
// live sessions it ended. Use it with no keep when an account is disabled or deleted. It
// costs one GetItem and then, for each session, what RevokeSession costs, done concurrently.
// On an error some sessions may have been ended; calling it again finishes the job.
func (s *Store) RevokeUserSessions(ctx context.Context, userID string, keep ...string) (int, error) {
	ended := 0
	for i := range s.sealer.keys {
		userItem := s.userItemKey(s.sealer.userKey(i, userID))
		listing, err := s.readUserItem(ctx, userItem)
		if err != nil {
			return ended, err
		}
		var handles []string
		for h := range listing {
			if !slices.Contains(keep, h) {
				handles = append(handles, h)
			}
		}
		var mu sync.Mutex
		var errs []error
		forEach(handles, func(h string) {
			_, n, err := s.revoke(ctx, userItem, h)
			mu.Lock()
			ended += n
			if err != nil {
				errs = append(errs, err)
			}
			mu.Unlock()
		})
		if len(errs) > 0 {
			return ended, errors.Join(errs...)
		}
	}
	return ended, nil
}

// userKey is the keyed hash of a user ID under key pair i: whoever reads the table learns
// nothing of the user IDs.
func (s *sealer) userKey(i int, userID string) [userKeyBytes]byte {
	m := hmac.New(sha256.New, s.keys[i].user)
	m.Write([]byte(userID))
	var k [userKeyBytes]byte
	copy(k[:], m.Sum(nil))
	return k
}

func (s *Store) userItemKey(user [userKeyBytes]byte) string {
	return s.opts.KeyPrefix + "user#" + base64.RawURLEncoding.EncodeToString(user[:])
}

func handleString(m *sessionMeta) string { return base64.RawURLEncoding.EncodeToString(m.handle[:]) }

func validHandle(h string) bool {
	if len(h) != handleLength {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(h)
	return err == nil
}

func truncateLabel(label string) string {
	if len(label) <= maxLabelLength {
		return strings.ToValidUTF8(label, "")
	}
	label = label[:maxLabelLength]
	for !utf8.ValidString(label) {
		label = label[:len(label)-1]
	}
	return label
}

// entry is the sealed part of a session's entry in its user's item.
type entry struct {
	created, authTime int64
	label             string
}

// sealEntry seals the entry of a bound session, bound to its user item and handle.
func (s *Store) sealEntry(m *sessionMeta, label string) ([]byte, error) {
	b := binary.BigEndian.AppendUint64(nil, uint64(m.created))
	b = binary.BigEndian.AppendUint64(b, uint64(m.authTime))
	env, _, err := s.sealer.seal(s.entryKey(m.user, handleString(m)), s.deadline(m), 0, b, []byte(label))
	return env, err
}

func (s *Store) entryKey(user [userKeyBytes]byte, handle string) string {
	return s.userItemKey(user) + "#" + handle
}

func (s *Store) openEntry(user [userKeyBytes]byte, handle string, sealed []byte) (entry, bool) {
	env, err := s.sealer.open(s.entryKey(user, handle), sealed)
	if err != nil || len(env.payload) < 16 {
		return entry{}, false
	}
	return entry{
		created:  int64(binary.BigEndian.Uint64(env.payload)),
		authTime: int64(binary.BigEndian.Uint64(env.payload[8:])),
		label:    string(env.payload[16:]),
	}, true
}

// listedSession is one entry of a user item.
type listedSession struct {
	sealed   []byte
	keys     []string
	revoking bool
}

// parseListing reads the sessions map of a user item.
func parseListing(item map[string]types.AttributeValue) map[string]listedSession {
	m, _ := item[attrSessions].(*types.AttributeValueMemberM)
	if m == nil {
		return nil
	}
	out := make(map[string]listedSession, len(m.Value))
	for h, v := range m.Value {
		e, ok := v.(*types.AttributeValueMemberM)
		if !ok {
			continue
		}
		var l listedSession
		if b, ok := e.Value[entrySealed].(*types.AttributeValueMemberB); ok {
			l.sealed = b.Value
		}
		if k, ok := e.Value[entryKeys].(*types.AttributeValueMemberM); ok {
			for key := range k.Value {
				l.keys = append(l.keys, key)
			}
			slices.Sort(l.keys)
		}
		_, l.revoking = e.Value[entryRevoking]
		out[h] = l
	}
	return out
}

func (s *Store) readUserItem(ctx context.Context, userItem string) (map[string]listedSession, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &s.opts.TableName,
		Key:            s.keyAttr(userItem),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, s.opError("GetItem", err)
	}
	return parseListing(out.Item), nil
}

// list adds a new entry for a bound session to its user's item, creating the item for the
// user's first session, and returns the whole listing after the change (for the cap). The
// UpdateItem sets one map path, so concurrent logins of the user never overwrite each other,
// and applying it twice (an SDK retry) changes nothing.
func (s *Store) list(ctx context.Context, m *sessionMeta, key string, sealed []byte) (map[string]listedSession, error) {
	userItem, handle := s.userItemKey(m.user), handleString(m)
	value := &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
		entrySealed: &types.AttributeValueMemberB{Value: sealed},
		entryKeys:   &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{key: &types.AttributeValueMemberBOOL{Value: true}}},
	}}
	expires := &types.AttributeValueMemberN{Value: strconv.FormatInt(s.deadline(m), 10)}
	var failed *types.ConditionalCheckFailedException
	for range 3 {
		out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 &s.opts.TableName,
			Key:                       s.keyAttr(userItem),
			UpdateExpression:          aws.String("SET #s.#h = :v, #e = :e"),
			ConditionExpression:       aws.String("attribute_exists(#s)"),
			ExpressionAttributeNames:  map[string]string{"#s": attrSessions, "#h": handle, "#e": attrExpires},
			ExpressionAttributeValues: map[string]types.AttributeValue{":v": value, ":e": expires},
			ReturnValues:              types.ReturnValueAllNew,
		})
		if err == nil {
			return parseListing(out.Attributes), nil
		}
		if !errors.As(err, &failed) {
			return nil, s.opError("UpdateItem", err)
		}
		// The user's first session: create the item. If another Login (or an earlier attempt
		// of this one) created it meanwhile, the update above now succeeds.
		item := map[string]types.AttributeValue{
			s.opts.PartitionKey: &types.AttributeValueMemberS{Value: userItem},
			attrSessions:        &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{handle: value}},
			attrExpires:         expires,
		}
		_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                &s.opts.TableName,
			Item:                     item,
			ConditionExpression:      aws.String("attribute_not_exists(#k)"),
			ExpressionAttributeNames: map[string]string{"#k": s.opts.PartitionKey},
		})
		if err == nil {
			return parseListing(item), nil
		}
		if !errors.As(err, &failed) {
			return nil, s.opError("PutItem", err)
		}
	}
	return nil, s.opError("UpdateItem", errors.New("the user's item kept changing; try again"))
}

// rekey lists newKey for a bound session whose item moves from oldKey (Regenerate, or a
// re-authentication, which also replaces the sealed entry), on condition that oldKey is still
// listed and no revocation has started: otherwise the session is gone (ErrSessionGone).
func (s *Store) rekey(ctx context.Context, m *sessionMeta, oldKey, newKey string, sealed []byte) error {
	names := map[string]string{"#s": attrSessions, "#h": handleString(m), "#k": entryKeys, "#r": entryRevoking, "#old": oldKey, "#new": newKey}
	values := map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}}
	set := "SET #s.#h.#k.#new = :t"
	if sealed != nil {
		names["#e"] = entrySealed
		values[":e"] = &types.AttributeValueMemberB{Value: sealed}
		set += ", #s.#h.#e = :e"
	}
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           &s.opts.TableName,
		Key:                                 s.keyAttr(s.userItemKey(m.user)),
		UpdateExpression:                    &set,
		ConditionExpression:                 aws.String("attribute_exists(#s.#h.#k.#old) AND attribute_not_exists(#s.#h.#r)"),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var failed *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &failed):
		return s.opError("UpdateItem", err)
	}
	l := parseListing(failed.Item)[handleString(m)]
	if !l.revoking && slices.Contains(l.keys, newKey) && slices.Contains(l.keys, oldKey) {
		s.ownWrite("UpdateItem") // an earlier attempt of this call added the key
		return nil
	}
	return ErrSessionGone
}

// unlistKey removes an item key from its session's entry once the item is gone (a logout,
// the end of a Regenerate). It is tidying only: a listed key without an item is harmless, so
// a failure is logged, not returned.
func (s *Store) unlistKey(ctx context.Context, m *sessionMeta, key string) {
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &s.opts.TableName,
		Key:                      s.keyAttr(s.userItemKey(m.user)),
		UpdateExpression:         aws.String("REMOVE #s.#h.#k.#key"),
		ConditionExpression:      aws.String("attribute_exists(#s.#h.#k.#key)"),
		ExpressionAttributeNames: map[string]string{"#s": attrSessions, "#h": handleString(m), "#k": entryKeys, "#key": key},
	})
	var failed *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &failed) {
		s.opts.Logger.Warn("dynamostore: could not tidy the user's session list", "table", s.opts.TableName, "error", err)
	}
}

// revoke ends the session listed under handle in a user item: it flags the entry (after
// which no Regenerate can list another key), deletes every listed item, then removes the
// entry. It reports whether the handle was listed and how many live sessions it ended.
func (s *Store) revoke(ctx context.Context, userItem, handle string) (bool, int, error) {
	names := map[string]string{"#s": attrSessions, "#h": handle, "#r": entryRevoking}
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.opts.TableName,
		Key:                       s.keyAttr(userItem),
		UpdateExpression:          aws.String("SET #s.#h.#r = :t"),
		ConditionExpression:       aws.String("attribute_exists(#s.#h)"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}},
		ReturnValues:              types.ReturnValueAllNew,
	})
	var failed *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &failed):
		return false, 0, nil
	case err != nil:
		return false, 0, s.opError("UpdateItem", err)
	}
	now := s.opts.Clock().Unix()
	ended := 0
	for _, key := range parseListing(out.Attributes)[handle].keys {
		var tries attempts
		del, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName:    &s.opts.TableName,
			Key:          s.keyAttr(key),
			ReturnValues: types.ReturnValueAllOld,
		}, tries.option)
		if err != nil {
			return true, ended, s.confirmDelete(ctx, key, tries.n.Load(), err)
		}
		if exp, err := numberAttr(del.Attributes, attrExpires); err == nil && exp > now {
			ended++
		}
	}
	_, err = s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &s.opts.TableName,
		Key:                      s.keyAttr(userItem),
		UpdateExpression:         aws.String("REMOVE #s.#h"),
		ConditionExpression:      aws.String("attribute_exists(#s.#h.#r)"),
		ExpressionAttributeNames: names,
	})
	if err != nil && !errors.As(err, &failed) {
		// The session's items are gone; the flagged entry is tidied by the user's next Login.
		s.opts.Logger.Warn("dynamostore: could not tidy the user's session list", "table", s.opts.TableName, "error", err)
	}
	return true, ended, nil
}

// liveSessions reads the item of every listed session and returns those that are live and
// still bound to this user and handle.
func (s *Store) liveSessions(ctx context.Context, user [userKeyBytes]byte, userItem string, listing map[string]listedSession) ([]SessionInfo, error) {
	type job struct {
		handle string
		key    string
		e      entry
	}
	var jobs []job
	for h, l := range listing {
		e, ok := s.openEntry(user, h, l.sealed)
		if !ok {
			continue
		}
		for _, key := range l.keys {
			jobs = append(jobs, job{h, key, e})
		}
	}
	var mu sync.Mutex
	var infos []SessionInfo
	var errs []error
	seen := map[string]bool{}
	forEach(jobs, func(j job) {
		out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:      &s.opts.TableName,
			Key:            s.keyAttr(j.key),
			ConsistentRead: aws.Bool(true),
		})
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, s.opError("GetItem", err))
			return
		}
		if out.Item == nil || seen[j.handle] {
			return
		}
		st, _, err := s.parseItem(j.key, out.Item)
		now := s.opts.Clock().Unix()
		if err != nil || !st.meta.bound || st.meta.user != user || handleString(&st.meta) != j.handle ||
			st.expires <= now || s.deadline(&st.meta) <= now {
			return
		}
		seen[j.handle] = true
		infos = append(infos, SessionInfo{
			Handle:   j.handle,
			Created:  time.Unix(st.meta.created, 0),
			AuthTime: time.Unix(st.meta.authTime, 0),
			LastSeen: time.Unix(st.meta.written, 0),
			Expires:  time.Unix(st.expires, 0),
			Label:    j.e.label,
		})
	})
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return infos, nil
}

// enforceCap ends the user's oldest sessions beyond WithMaxSessionsPerUser, and tidies
// entries that can hold no live session (no key left, or past their absolute timeout),
// from the listing that the new session's entry was added to. A failure is logged: the
// new session is live either way, and the next Login tries again.
func (s *Store) enforceCap(ctx context.Context, m *sessionMeta, listing map[string]listedSession) {
	own := handleString(m)
	userItem := s.userItemKey(m.user)
	now := s.opts.Clock().Unix()
	type candidate struct {
		handle  string
		created int64
	}
	var others []candidate
	var dead []string
	for h, l := range listing {
		if h == own || l.revoking {
			continue
		}
		e, ok := s.openEntry(m.user, h, l.sealed)
		if !ok || len(l.keys) == 0 || e.authTime+int64(s.opts.AbsoluteTimeout/time.Second) <= now {
			dead = append(dead, h)
			continue
		}
		others = append(others, candidate{h, e.created})
	}
	slices.SortFunc(others, func(a, b candidate) int {
		if a.created != b.created {
			return int(a.created - b.created)
		}
		return strings.Compare(a.handle, b.handle)
	})
	if over := len(others) + 1 - s.opts.MaxSessionsPerUser; over > 0 {
		victims := make([]string, over)
		for i := range over {
			victims[i] = others[i].handle
		}
		forEach(victims, func(h string) {
			if _, _, err := s.revoke(ctx, userItem, h); err != nil {
				s.opts.Logger.Warn("dynamostore: could not end a session over the per-user cap", "table", s.opts.TableName, "error", err)
			}
		})
	}
	for chunk := range slices.Chunk(dead, 50) {
		names := map[string]string{"#s": attrSessions}
		paths := make([]string, len(chunk))
		for i, h := range chunk {
			names["#h"+strconv.Itoa(i)] = h
			paths[i] = "#s.#h" + strconv.Itoa(i)
		}
		_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                &s.opts.TableName,
			Key:                      s.keyAttr(userItem),
			UpdateExpression:         aws.String("REMOVE " + strings.Join(paths, ", ")),
			ExpressionAttributeNames: names,
		})
		if err != nil {
			s.opts.Logger.Warn("dynamostore: could not tidy the user's session list", "table", s.opts.TableName, "error", err)
		}
	}
}

// forEach runs fn for every item, userWorkers at a time.
func forEach[T any](items []T, fn func(T)) {
	sem := make(chan struct{}, userWorkers)
	var wg sync.WaitGroup
	for _, it := range items {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(it)
		}()
	}
	wg.Wait()
}
