package dynamostore

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
)

// The cookie name prefixes that browsers enforce (RFC 6265bis, section 4.1.3). A browser
// drops, without a word, a cookie whose name carries a prefix and whose attributes break it,
// so the store refuses to send one (ErrCookiePolicy) rather than lose the session.
const (
	// hostPrefix binds the cookie to the host that set it: Secure, Path "/", no Domain. A
	// sibling subdomain or a plain-HTTP page cannot set or overwrite it (OWASP ASVS 5.0 3.3.3).
	hostPrefix = "__Host-"
	// securePrefix only promises Secure: for a cookie scoped by Domain or by a Path other than
	// "/" (ASVS 5.0 3.3.1).
	securePrefix = "__Secure-"
	// maxCookieLength bounds a cookie's name and value together (ASVS 5.0 3.3.5; RFC 6265
	// asks browsers to keep at least 4096 bytes per cookie).
	maxCookieLength = 4096
)

// cookiePrefix returns the prefix that the store's cookie options allow: __Host- for a
// Secure cookie with Path "/" and no Domain, __Secure- for another Secure cookie, and none
// for a cookie without Secure (WithInsecureCookie, for plain-HTTP development).
func cookiePrefix(c sessions.Options) string {
	switch {
	case !c.Secure:
		return ""
	case c.Path == "/" && c.Domain == "":
		return hostPrefix
	default:
		return securePrefix
	}
}

// namePrefix returns the prefix a cookie name already carries. Browsers match prefixes
// without regard to case, so "__host-" is one too.
func namePrefix(name string) string {
	for _, p := range []string{hostPrefix, securePrefix} {
		if len(name) >= len(p) && strings.EqualFold(name[:len(p)], p) {
			return p
		}
	}
	return ""
}

// CookieName returns the name of the cookie that carries the session called name: name with
// the prefix that the store's cookie options allow (__Host- by default, __Secure- for a
// cookie scoped by Domain or Path, none with WithInsecureCookie), or name itself when it
// already has a prefix. The session keeps its name in Go code: Get(r, "session") reads and
// writes the cookie "__Host-session".
func (s *Store) CookieName(name string) string {
	if p := namePrefix(name); p != "" {
		return p + name[len(p):] // spelled exactly, for browsers that match it case-sensitively
	}
	return s.prefix + name
}

// legacyCookieName returns the unprefixed name under which a deployment that had no prefix
// set the session's cookie, or "" when there is none to read.
func (s *Store) legacyCookieName(name string) string {
	if s.prefix == "" || namePrefix(name) != "" {
		return ""
	}
	return name
}

// checkCookie returns an error matching ErrCookiePolicy when the cookie that would carry the
// session breaks its name's prefix, so that Save refuses before it writes anything rather
// than send a cookie that the browser drops.
func (s *Store) checkCookie(sess *sessions.Session) error {
	name := s.CookieName(sess.Name())
	opts := sess.Options
	// A session's own Options, such as a gorilla migrant's whole struct, cannot drop a
	// protection that only a named option may drop: the store's is restored.
	if !opts.HttpOnly && !s.opts.cookieScriptAccess {
		opts.HttpOnly = true
	}
	if opts.SameSite != http.SameSiteLaxMode && opts.SameSite != http.SameSiteStrictMode && opts.SameSite != http.SameSiteNoneMode {
		opts.SameSite = s.opts.Cookie.SameSite
	}
	var problems []string
	switch namePrefix(name) {
	case hostPrefix:
		if !opts.Secure {
			problems = append(problems, "it is not Secure")
		}
		if opts.Path != "/" {
			problems = append(problems, fmt.Sprintf("its Path is %q, not \"/\"", opts.Path))
		}
		if opts.Domain != "" {
			problems = append(problems, fmt.Sprintf("it has the Domain %q", opts.Domain))
		}
	case securePrefix:
		if !opts.Secure {
			problems = append(problems, "it is not Secure")
		}
	}
	if opts.SameSite == http.SameSiteNoneMode && !opts.Secure {
		problems = append(problems, "it is SameSite=None without Secure")
	}
	if opts.Partitioned && !opts.Secure {
		problems = append(problems, "it is Partitioned without Secure")
	}
	if len(problems) > 0 {
		fix := "use an unprefixed session name and let the store choose the prefix from WithCookie"
		if namePrefix(sess.Name()) == "" {
			fix = "set the attributes with WithCookie, not on the session's Options, so that the store names the cookie for them"
		}
		return fmt.Errorf("%w: cookie %q is refused because %s: browsers drop such a cookie; %s",
			ErrCookiePolicy, truncate(name, 40), strings.Join(problems, ", "), fix)
	}
	c := http.Cookie{Name: name, Path: opts.Path, Domain: opts.Domain, Secure: opts.Secure, Partitioned: opts.Partitioned}
	if err := c.Valid(); err != nil {
		return fmt.Errorf("%w: cookie %q: %v", ErrCookiePolicy, truncate(name, 40), err)
	}
	return s.checkCookieLength(name, s.cookieValueLength)
}

// checkCookieLength refuses a cookie whose name and value exceed what browsers must keep.
func (s *Store) checkCookieLength(name string, valueLength int) error {
	if n := len(name) + valueLength; n > maxCookieLength {
		return fmt.Errorf("%w: cookie %q would have %d bytes of name and value, over the %d that browsers keep; use a shorter session name",
			ErrCookiePolicy, truncate(name, 40), n, maxCookieLength)
	}
	return nil
}

// cookieValueLength returns the length of the store's cookie values. securecookie leaves the
// name out of the value (only its MAC covers it) and session IDs have one length, so every
// value of a store has the same length until the year 2286.
func cookieValueLength(codecs []securecookie.Codec) (int, error) {
	v, err := securecookie.EncodeMulti("n", []byte(newID()), codecs...)
	return len(v), err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// writeCookie sets the session's cookie with the value given, refusing one whose name and
// value exceed what a browser must keep.
func (s *Store) writeCookie(w http.ResponseWriter, sess *sessions.Session, value string) error {
	name := s.CookieName(sess.Name())
	if err := s.checkCookieLength(name, len(value)); err != nil {
		return err
	}
	http.SetCookie(w, sessions.NewCookie(name, value, sess.Options))
	return nil
}

// expireLegacyCookie tells the browser to drop the unprefixed cookie that a session was read
// from, once the prefixed one replaces it.
func (s *Store) expireLegacyCookie(w http.ResponseWriter, sess *sessions.Session) {
	name := s.legacyCookieName(sess.Name())
	if name == "" {
		return
	}
	opts := s.opts.Cookie
	if sess.Options != nil {
		opts = *sess.Options
	}
	opts.MaxAge = -1
	http.SetCookie(w, sessions.NewCookie(name, "", &opts))
}

// cookieProblems returns what is wrong with the cookie attributes of o, each with the call
// that fixes it. A protection can only be turned off by the call named after it.
func (o *Options) cookieProblems() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	c := o.Cookie
	if !c.Secure && !o.insecureCookie {
		bad("Cookie.Secure is off: keep it (set c.Secure = true in WithCookie), or add WithInsecureCookie() to send the cookie over plain HTTP on purpose")
	}
	if !c.HttpOnly && !o.cookieScriptAccess {
		bad("Cookie.HttpOnly is off: keep it (set c.HttpOnly = true in WithCookie), or add WithCookieScriptAccess() to let page scripts read the cookie on purpose")
	}
	switch c.SameSite {
	case http.SameSiteLaxMode, http.SameSiteStrictMode:
	case http.SameSiteNoneMode:
		if !c.Secure {
			bad("Cookie.SameSite None requires Cookie.Secure (browsers reject it otherwise): use http.SameSiteLaxMode, or keep Secure")
		}
	default:
		bad("Cookie.SameSite is unset, which leaves cross-site sending to each browser: set c.SameSite = http.SameSiteLaxMode (the default) or http.SameSiteStrictMode in WithCookie")
	}
	if !strings.HasPrefix(c.Path, "/") {
		bad("Cookie.Path %q does not start with \"/\", so browsers would scope the cookie to each request's directory: set c.Path = \"/\" (the default) or another absolute path in WithCookie", c.Path)
	}
	if c.MaxAge < 0 {
		bad("Cookie.MaxAge %d is negative: every Save would delete the session; use 0 for a browser-session cookie", c.MaxAge)
	}
	if c.Partitioned && !c.Secure {
		bad("Cookie.Partitioned requires Cookie.Secure (browsers reject it otherwise): set c.Partitioned = false in WithCookie, or keep Secure")
	}
	if err := (&http.Cookie{Name: "session", Domain: c.Domain}).Valid(); err != nil {
		bad("Cookie.Domain %q is not a domain a Set-Cookie header can carry (%v): set c.Domain to a bare host name such as \"example.com\" (no scheme, port or path), or to \"\" for this host alone, in WithCookie", c.Domain, err)
	}
	if strings.HasPrefix(c.Path, "/") {
		if err := (&http.Cookie{Name: "session", Path: c.Path}).Valid(); err != nil {
			bad("Cookie.Path %q cannot be sent in a Set-Cookie header (%v): set c.Path to an absolute path without ';' or control characters, such as \"/\", in WithCookie", c.Path, err)
		}
	}
	return errs
}
