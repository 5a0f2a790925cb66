package dynamostore

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
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
// places never overwrite each other. An item is written first and its key listed next, but
// no cookie carries the item's ID until the key is listed (Regenerate lists the new key
// before it claims the old item), and a revocation first flags the entry, which stops any
// further key being added, then deletes every listed item: so a revocation can never miss a
// live session of the user. A listing reads each session's own item, so it shows only live
// sessions, with their last write and expiry. docs/design.md tells the whole protocol.
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
// A re-authentication moves the session as Regenerate does, and succeeds only if the session
// still exists, unexpired and not revoked: otherwise it returns ErrSessionGone (log the user
// in on a new session: call Login on a session from a fresh Store.New). After Delete in the
// same request, Login starts a new session with a cookie that lasts.
//
// Login moves a stored session to its new ID as Regenerate does: if that session was logged
// out, revoked or moved by another request meanwhile, it returns ErrSessionGone (and, with
// optimistic locking, ErrConflict for a stale copy); log the user in on a fresh session then.
//
// On an error no cookie is set; the new item, if one was written, is deleted again, and the
// session keeps its old ID. The errors are those of Save.
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
	st, err := s.begin(sess)
	if err != nil {
		return err
	}
	s.reviveCookie(sess)
	now := s.opts.Clock()
	stored := st.current(sess.ID)
	user := s.sealer.userKey(0, userID)
	meta := sessionMeta{created: now.Unix(), written: now.Unix(), bound: true, authTime: now.Unix(), user: user}
	again := stored && st.meta.bound && st.meta.user == user
	if again {
		meta.created, meta.handle = st.meta.created, st.meta.handle
	} else {
		_, _ = rand.Read(meta.handle[:]) // never fails: see newID
	}
	var label string
	if s.opts.SessionLabel != nil {
		label = truncateLabel(s.opts.SessionLabel(r))
	}
	next := sessionState{written: now.Unix(), version: 1, stored: true, meta: meta, legacyCookie: st != nil && st.legacyCookie}
	next.meta.listedUntil = s.deadline(&next.meta)
	next.expires = s.expiry(now, s.lifetime(sess.Options), &next.meta)
	body, err := s.encodeValues(sess.Values, &next)
	if err != nil {
		return err
	}
	entry := s.sealEntry(&next.meta, label)
	next.id = newID()
	if err := s.create(ctx, &next, body); err != nil {
		return err
	}
	if again {
		if err := s.move(ctx, st, &next, entry); err != nil {
			return err
		}
	} else {
		listing, err := s.list(ctx, &next.meta, itemKey(s.opts.KeyPrefix, next.id), entry)
		if err != nil {
			s.rollBack(ctx, &next)
			return err
		}
		if stored {
			// The session moves as in Regenerate: only if it is still live (and, with
			// optimistic locking, not stale), and only once.
			if err := s.claim(ctx, st, &next); err != nil {
				s.rollBack(ctx, &next)
				s.unlistKey(ctx, &next.meta, itemKey(s.opts.KeyPrefix, next.id))
				return err
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
	deadline          int64 // the session's absolute deadline, as the sealing server judged it
	label             string
}

// sealEntry seals the entry of a bound session, bound to its user item and handle.
func (s *Store) sealEntry(m *sessionMeta, label string) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(m.created))
	b = binary.BigEndian.AppendUint64(b, uint64(m.authTime))
	env := s.sealer.seal(s.entryKey(m.user, handleString(m)), s.deadline(m), 0, b, []byte(label))
	return env
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
		deadline: env.expires,
		label:    string(env.payload[16:]),
	}, true
}

// listedSession is one entry of a user item.
type listedSession struct {
	sealed   []byte
	keys     []string
	revoking bool
	raw      types.AttributeValue // the entry as read: tidying removes it only if it is unchanged
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
		l := listedSession{raw: v}
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
	out, err := s.client.GetItem(ctx, s.getItemInput(userItem, aws.Bool(true)))
	if err != nil {
		return nil, s.opError("GetItem", err)
	}
	return parseListing(out.Item), nil
}

// list adds a new entry for a bound session to its user's item, creating the item for the
// user's first session, and returns the whole listing after the change (for the cap). The
// UpdateItem sets one map path, so concurrent logins of the user never overwrite each other,
// and applying it twice (an SDK retry) changes nothing. The item's expiry becomes the
// session's deadline if that is later, and never moves earlier (a server whose clock is
// behind, or a lowered WithAbsoluteTimeout, would otherwise let TTL remove the item before
// a session listed in it).
func (s *Store) list(ctx context.Context, m *sessionMeta, key string, sealed []byte) (map[string]listedSession, error) {
	userItem, handle := s.userItemKey(m.user), handleString(m)
	value := &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
		entrySealed: &types.AttributeValueMemberB{Value: sealed},
		entryKeys:   &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{key: &types.AttributeValueMemberBOOL{Value: true}}},
	}}
	expires := &types.AttributeValueMemberN{Value: strconv.FormatInt(m.listedUntil, 10)}
	names := map[string]string{"#s": attrSessions, "#h": handle, "#e": attrExpires}
	values := map[string]types.AttributeValue{":v": value, ":e": expires}
	var failed *types.ConditionalCheckFailedException
	for range 3 {
		// The usual case: this Login's deadline is the latest, so the expiry moves with it.
		out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                           &s.opts.TableName,
			Key:                                 s.keyAttr(userItem),
			UpdateExpression:                    aws.String("SET #s.#h = :v, #e = :e"),
			ConditionExpression:                 aws.String("attribute_exists(#s) AND (attribute_not_exists(#e) OR #e <= :e)"),
			ExpressionAttributeNames:            names,
			ExpressionAttributeValues:           values,
			ReturnValues:                        types.ReturnValueAllNew,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		if err == nil {
			return parseListing(out.Attributes), nil
		}
		if !errors.As(err, &failed) {
			return nil, s.opError("UpdateItem", err)
		}
		if _, exists := failed.Item[attrSessions]; exists {
			// The item already lives longer: add the entry and leave the expiry alone.
			out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName:                 &s.opts.TableName,
				Key:                       s.keyAttr(userItem),
				UpdateExpression:          aws.String("SET #s.#h = :v"),
				ConditionExpression:       aws.String("attribute_exists(#s) AND #e > :e"),
				ExpressionAttributeNames:  names,
				ExpressionAttributeValues: values,
				ReturnValues:              types.ReturnValueAllNew,
			})
			if err == nil {
				return parseListing(out.Attributes), nil
			}
			if !errors.As(err, &failed) {
				return nil, s.opError("UpdateItem", err)
			}
			continue
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
// re-authentication, which also replaces the sealed entry and moves the session's deadline),
// on condition that oldKey is still listed and no revocation has started: otherwise the
// session is gone (ErrSessionGone). With a new entry, the user item's expiry becomes the new
// deadline in the same call, unless it is later already (it never moves earlier).
func (s *Store) rekey(ctx context.Context, m *sessionMeta, oldKey, newKey string, sealed []byte) error {
	names := map[string]string{"#s": attrSessions, "#h": handleString(m), "#k": entryKeys, "#r": entryRevoking, "#old": oldKey, "#new": newKey}
	values := map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}}
	set := "SET #s.#h.#k.#new = :t"
	cond := "attribute_exists(#s.#h.#k.#old) AND attribute_not_exists(#s.#h.#r)"
	if sealed != nil {
		names["#e"], names["#x"] = entrySealed, attrExpires
		values[":e"] = &types.AttributeValueMemberB{Value: sealed}
		values[":x"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(m.listedUntil, 10)}
		set += ", #s.#h.#e = :e"
	}
	raise := sealed != nil // set the expiry too; false once it proved later already
	var failed *types.ConditionalCheckFailedException
	for range 3 {
		update, when := set, cond
		switch {
		case raise:
			update += ", #x = :x"
			when += " AND (attribute_not_exists(#x) OR #x <= :x)"
		case sealed != nil:
			when += " AND #x > :x"
		}
		_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                           &s.opts.TableName,
			Key:                                 s.keyAttr(s.userItemKey(m.user)),
			UpdateExpression:                    &update,
			ConditionExpression:                 &when,
			ExpressionAttributeNames:            names,
			ExpressionAttributeValues:           values,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		switch {
		case err == nil:
			return nil
		case !errors.As(err, &failed):
			return s.opError("UpdateItem", err)
		}
		// A retried attempt whose first one applied passes the same condition again, so a
		// failure is never this call's own write: either the session is gone, or only the
		// expiry's part of the condition failed.
		l := parseListing(failed.Item)[handleString(m)]
		if l.revoking || !slices.Contains(l.keys, oldKey) || sealed == nil {
			return ErrSessionGone
		}
		raise = !raise
	}
	return s.opError("UpdateItem", errors.New("the user's item kept changing; try again"))
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
// entry. It reports whether the handle was listed and how many live sessions it ended. It
// returns nil only when every listed item is confirmed gone; otherwise the entry stays
// flagged, and calling it again finishes the job.
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
	var errs []error
	for _, key := range parseListing(out.Attributes)[handle].keys {
		var tries attempts
		del, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName:    &s.opts.TableName,
			Key:          s.keyAttr(key),
			ReturnValues: types.ReturnValueAllOld,
		}, tries.option)
		if err != nil {
			// Confirmed gone is as good as deleted; anything else keeps the entry flagged.
			if err := s.confirmDelete(ctx, key, tries.n.Load(), err); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if exp, err := numberAttr(del.Attributes, attrExpires); err == nil && exp > now && del.Attributes[attrMoved] == nil {
			ended++
		}
	}
	if len(errs) > 0 {
		return true, ended, errors.Join(errs...)
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
		out, err := s.client.GetItem(ctx, s.getItemInput(j.key, aws.Bool(true)))
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

// skewMargin is how long after its end a session is taken as surely over when tidying the
// user's item: servers' clocks differ by seconds, and one whose clock is behind may still
// save a session that this one sees as just expired.
const skewMargin = time.Minute

// Liveness of a listed session, as enforceCap judges it.
const (
	sessionLive  = iota // an item of the session is live
	sessionEnded        // ended just now: not counted, but not tidied either (see skewMargin)
	sessionDead         // no item of the session can be live again: tidied
)

// enforceCap ends the user's oldest live sessions beyond WithMaxSessionsPerUser, and tidies
// entries that can hold no live session, from the listing that the new session's entry was
// added to. Only sessions live now count: when the listing has more entries than the cap,
// each one's items are read (GetItem) to tell. An entry is removed only if it is still as
// read (a conditional REMOVE), so an entry re-authenticated or moved meanwhile stays; a
// flagged entry (a revocation whose end failed) only once all its items are gone. A failure
// is logged: the new session is live either way, and the next Login tries again.
func (s *Store) enforceCap(ctx context.Context, m *sessionMeta, listing map[string]listedSession) {
	own := handleString(m)
	userItem := s.userItemKey(m.user)
	now := s.opts.Clock().Unix()
	margin := int64(skewMargin / time.Second)
	type candidate struct {
		handle  string
		created int64
	}
	var others []candidate
	var dead, revoking []string
	for h, l := range listing {
		if h == own {
			continue
		}
		if l.revoking {
			revoking = append(revoking, h)
			continue
		}
		e, ok := s.openEntry(m.user, h, l.sealed)
		switch {
		case !ok:
			// Sealed with a key pair this server does not have (a rotation under way), or
			// foreign: neither counted nor removed.
		case len(l.keys) == 0 || e.deadline <= now-margin:
			// The deadline sealed by the server that logged the session in, not this
			// server's WithAbsoluteTimeout: during a rolling change the two differ.
			dead = append(dead, h)
		default:
			others = append(others, candidate{h, e.created})
		}
	}
	if len(others)+1 > s.opts.MaxSessionsPerUser || len(revoking) > 0 {
		var mu sync.Mutex
		states := map[string]int{}
		toRead := slices.Clone(revoking)
		for _, c := range others {
			toRead = append(toRead, c.handle)
		}
		forEach(toRead, func(h string) {
			st := s.liveness(ctx, m.user, h, listing[h].keys, now)
			mu.Lock()
			states[h] = st
			mu.Unlock()
		})
		live := others[:0]
		for _, c := range others {
			switch states[c.handle] {
			case sessionLive:
				live = append(live, c)
			case sessionDead:
				dead = append(dead, c.handle)
			}
		}
		others = live
		for _, h := range revoking {
			if states[h] == sessionDead {
				dead = append(dead, h)
			}
		}
	}
	slices.SortFunc(others, func(a, b candidate) int {
		if a.created != b.created {
			return cmp.Compare(a.created, b.created)
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
	forEach(dead, func(h string) {
		_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 &s.opts.TableName,
			Key:                       s.keyAttr(userItem),
			UpdateExpression:          aws.String("REMOVE #s.#h"),
			ConditionExpression:       aws.String("#s.#h = :was"),
			ExpressionAttributeNames:  map[string]string{"#s": attrSessions, "#h": h},
			ExpressionAttributeValues: map[string]types.AttributeValue{":was": listing[h].raw},
		})
		var failed *types.ConditionalCheckFailedException
		if err != nil && !errors.As(err, &failed) {
			s.opts.Logger.Warn("dynamostore: could not tidy the user's session list", "table", s.opts.TableName, "error", err)
		}
	})
}

// liveness reads a listed session's items (strongly consistent) and judges it: live if one
// of them is a live item of this user's session under this handle, dead if none can be live
// again (missing, moved, another session's, or expired longer ago than skewMargin), else
// just ended. A failed read, or an item this server cannot open whose clear expiry has not
// passed, counts as live: nothing is ended or removed on a guess.
func (s *Store) liveness(ctx context.Context, user [userKeyBytes]byte, handle string, keys []string, now int64) int {
	state := sessionDead
	for _, key := range keys {
		out, err := s.client.GetItem(ctx, s.getItemInput(key, aws.Bool(true)))
		if err != nil {
			s.opts.Logger.Warn("dynamostore: DynamoDB call failed", "op", "GetItem", "table", s.opts.TableName, "error", err)
			return sessionLive
		}
		if out.Item == nil || out.Item[attrMoved] != nil {
			continue
		}
		st, _, err := s.parseItem(key, out.Item)
		if err != nil {
			// The clear expires attribute is never later than the sealed one (parseItem
			// takes the earlier): an item past it is over, whoever sealed it.
			if exp, xerr := numberAttr(out.Item, attrExpires); xerr == nil && exp <= now {
				if exp > now-int64(skewMargin/time.Second) {
					state = sessionEnded
				}
				continue
			}
			// Sealed under a key pair this server does not have (a rotation under way), or
			// corrupt: it may be live, so nothing is ended or removed on its account.
			return sessionLive
		}
		if !st.meta.bound || st.meta.user != user || handleString(&st.meta) != handle {
			continue
		}
		end := min(st.expires, s.deadline(&st.meta))
		switch {
		case end > now:
			return sessionLive
		case end > now-int64(skewMargin/time.Second):
			state = sessionEnded
		}
	}
	return state
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
