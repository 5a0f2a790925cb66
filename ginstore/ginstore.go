// Package ginstore keeps gin's sessions (github.com/gin-contrib/sessions) in DynamoDB with
// dynamostore: hashed keys, authenticated items, retry-safe conditional writes, expiry on
// read, and a table in another account with credentials that renew without waiting.
//
//	store, _ := dynamostore.New(client, dynamostore.WithTableName(tableARN), dynamostore.WithKeyPairs(key))
//	r := gin.Default()
//	r.Use(sessions.Sessions("session", ginstore.New(store)))
//
// Login and Regenerate reach the dynamostore.Store from a handler, for a new session ID at
// login and the user's session list.
package ginstore

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
	gsessions "github.com/gorilla/sessions"

	"github.com/dynamostore/dynamostore"
)

// Store is gin-contrib/sessions' Store on a dynamostore.Store.
type Store interface {
	sessions.Store
}

type store struct {
	*dynamostore.Store
	opts *gsessions.Options // nil: the dynamostore.Store's own cookie options
}

// New returns a gin session store that keeps its sessions in s. The cookie options are s's
// until Options changes them.
func New(s *dynamostore.Store) Store { return &store{Store: s} }

// Options sets the cookie options of new sessions, as gin-contrib's stores do. Every field
// left at its zero value keeps the dynamostore.Store's (no Domain, one day, Secure, HttpOnly,
// SameSite Lax), so setting one does not weaken the cookie. An empty Path sends no Path
// attribute, as gin's other stores do, except on a __Host- cookie, which must say Path=/: it
// keeps the store's "/" there. To weaken one on
// purpose, use dynamostore.WithInsecureCookie or dynamostore.WithCookieScriptAccess. MaxAge < 0
// is taken as given: it deletes sessions on Save.
//
// The store's Domain and Path choose the cookie name's prefix (__Host- by default, see
// dynamostore.Store.CookieName), so set them with dynamostore.WithCookie when you build it. A
// Domain or Path given here that the prefix does not allow makes Save return an error matching
// dynamostore.ErrCookiePolicy rather than send a cookie that browsers drop.
//
// So MaxAge 0, which in gin-contrib asks for a browser-session cookie, gives the store's MaxAge
// here: ginstore cannot tell it from a MaxAge left unset. For a browser-session cookie, build
// the dynamostore.Store with dynamostore.WithCookieMaxAge(0) (see the README).
func (s *store) Options(o sessions.Options) {
	def := s.Store.CookieOptions()
	merged := gsessions.Options{
		Path: o.Path, Domain: o.Domain, MaxAge: o.MaxAge, Secure: o.Secure || def.Secure,
		HttpOnly: o.HttpOnly || def.HttpOnly, SameSite: o.SameSite, Partitioned: def.Partitioned,
	}
	if o.Path == "" && strings.HasPrefix(s.Store.CookieName("session"), "__Host-") {
		merged.Path = def.Path
	}
	if o.Domain == "" {
		merged.Domain = def.Domain
	}
	if o.MaxAge == 0 {
		merged.MaxAge = def.MaxAge
	}
	if o.SameSite == 0 {
		merged.SameSite = def.SameSite
	}
	s.opts = &merged
}

// Get returns the session called name, once per request (gorilla's registry).
func (s *store) Get(r *http.Request, name string) (*gsessions.Session, error) {
	return gsessions.GetRegistry(r).Get(s, name)
}

// New loads the session called name; see dynamostore.Store.New.
func (s *store) New(r *http.Request, name string) (*gsessions.Session, error) {
	sess, err := s.Store.New(r, name)
	if s.opts != nil && sess != nil {
		o := *s.opts
		sess.Options = &o
	}
	return sess, err
}

// Login calls dynamostore.Store.Login on the request's session called name: a new ID bound
// to userID, listed under the user. Call it in the handler that checks the password; it
// sets the cookie.
func Login(c *gin.Context, s Store, name, userID string) error {
	st, sess, err := session(c, s, name)
	if err != nil {
		return err
	}
	return st.Store.Login(c.Request, c.Writer, sess, userID)
}

// Regenerate calls dynamostore.Store.Regenerate on the request's session called name: a new
// ID, the same values. It sets the cookie.
func Regenerate(c *gin.Context, s Store, name string) error {
	st, sess, err := session(c, s, name)
	if err != nil {
		return err
	}
	return st.Store.Regenerate(c.Request, c.Writer, sess)
}

// Dynamo returns the dynamostore.Store behind a Store made by New, for UserSessions,
// RevokeSession and the rest.
func Dynamo(s Store) *dynamostore.Store {
	if st, ok := s.(*store); ok {
		return st.Store
	}
	return nil
}

func session(c *gin.Context, s Store, name string) (*store, *gsessions.Session, error) {
	st, ok := s.(*store)
	if !ok {
		return nil, nil, errors.New("ginstore: the store was not made by ginstore.New")
	}
	// The registry returns the very session that gin's middleware loaded for this request.
	sess, err := st.Get(c.Request, name)
	return st, sess, err
}
