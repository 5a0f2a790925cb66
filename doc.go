/*
Package dynamostore is a gorilla/sessions Store that keeps sessions in Amazon DynamoDB,
including a table that belongs to another AWS account.

# Getting started

Create a Store once, with a DynamoDB client, the table, and a secret hash key of at least
32 random bytes (keep it in a secret store; securecookie.GenerateRandomKey(32) makes one):

	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	store, err := dynamostore.New(dynamodb.NewFromConfig(cfg),
		dynamostore.WithTableName("sessions"),
		dynamostore.WithKeyPairs(hashKey),
	)
	if err != nil {
		log.Fatal(err) // a *ConfigError lists every bad option
	}

Then use it as any gorilla/sessions store:

	func handler(w http.ResponseWriter, r *http.Request) {
		session, err := store.Get(r, "session")
		if err != nil {
			// DynamoDB failed. session is a fresh, empty session that Save will refuse
			// to store, so the user's real session is not lost: answer 503 and let them retry.
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		n, _ := session.Values["visits"].(int)
		session.Values["visits"] = n + 1
		if err := session.Save(r, w); err != nil { ... }
	}

New makes no AWS call, and validates every option: a missing key or a bad table name is a
*ConfigError, never a panic.

# The table

The table needs a single hash key of type S, named "id" unless WithPartitionKey says
otherwise, and should have TTL enabled on the "expires" attribute. CreateTable makes such a
table for development and tests; create production tables with your infrastructure code (see
CROSS-ACCOUNT.md). A table in another account is named by its ARN in WithTableName.

Each session is one item:

	id       S  prefix + base64url(SHA-256(session ID)), for example "session#3q2-..."
	data     B  the session values, serialized by the Codec, then sealed (see below)
	expires  N  epoch seconds after which the session is dead; the TTL attribute
	version  N  only with WithOptimisticLocking

# Security

The session ID is 32 bytes from crypto/rand. The cookie holds only the ID, signed (and, with a
block key, encrypted) by gorilla/securecookie; cookies that fail verification, are too long,
or carry a malformed ID yield a new session without any DynamoDB call. The table holds only a
SHA-256 hash of the ID, so whoever can read the table cannot replay a session from it.

The data attribute is sealed with keys derived from the same key pairs: an HMAC-SHA256 over
the item key, the expiry and the bytes (and AES-GCM encryption when the pair has a block key).
An item written without the keys, corrupted, or copied under another key is rejected before
the codec sees a byte (ErrInvalidItem). Key pairs rotate like securecookie's: new cookies and
items use the first pair, and the others still verify.

Call Regenerate at login and at any change of privilege: it moves the session to a new ID and
ends the old item, so an ID planted before the login (session fixation) is worthless. It moves
only a session that still exists: one logged out meanwhile gives ErrSessionGone, as Save does.
Call Delete at logout: it deletes the item and expires the cookie.

Nothing the Store logs (see WithLogger) contains a session ID, a cookie value or a session value.

# The cookie

The cookie's name carries the strongest prefix its attributes allow, so that browsers enforce
them (OWASP ASVS 5.0 V3.3): Get(r, "session") reads and writes the cookie "__Host-session" by
default (Secure, Path "/", no Domain, HttpOnly, SameSite Lax); a Domain or a Path other than
"/" set with WithCookie gives "__Secure-session"; WithInsecureCookie, for plain-HTTP
development, gives "session". [Store.CookieName] tells the name. A cookie that breaks its
prefix, or whose name and value exceed 4096 bytes, is refused with ErrCookiePolicy before
anything is written. WithCookie edits the secure defaults in place, and a protection is
dropped only by the call named after it:

	dynamostore.WithCookie(func(c *sessions.Options) {
		c.MaxAge = 0 // a browser-session cookie
		c.SameSite = http.SameSiteStrictMode
	})

A request that has no prefixed cookie is read from the unprefixed cookie of earlier versions,
and the next write replaces it, so upgrading logs nobody out.

# Expiry

Expiry is enforced on every read, because DynamoDB's TTL deletes expired items only eventually,
often days later. A session's lifetime is its Options.MaxAge:

  - MaxAge > 0: the cookie and the item live MaxAge seconds after the last write.
  - MaxAge == 0: a browser-session cookie; the item lives WithLifetime (default 24 hours) after
    the last write. It is not deleted.
  - MaxAge < 0: Save deletes the item and expires the cookie, like Delete.

Every write renews the expiry, so MaxAge is an idle timeout.

# Writes

Save writes nothing when the values are unchanged since the load (equal values, whatever order
their maps iterate in) and the last write is younger than the touch interval (WithTouchInterval, default one hour, capped at a tenth of the
lifetime). A busy, unchanged session therefore costs one write per interval, not one per request.

Writes are conditional. A new session is written only if its key is free. A loaded session is
updated only while its item exists and has not expired, so a request that saves after a logout
in another request gets ErrSessionGone instead of bringing the session back. With
WithOptimisticLocking, a copy that is older than the stored one gets ErrConflict.

Writes are retry-safe. The SDK retries a call whose answer was lost, after DynamoDB may have
applied it; the retry then fails its own condition. Every item carries a random write token,
and a failed condition returns the item it failed against, so the store recognises its own
write and reports success. Any other failure that does not prove the write was refused is
settled with one consistent read. So nil means the session was stored, once; an error means it
was not, except for ErrOutcomeUnknown (the settling read failed too), which means either.

# Users and their sessions

Call Login, instead of Regenerate, when a user authenticates: it regenerates the ID, binds the
session to the user ID, records the authentication time and lists the session under the user.
Then UserSessions lists the user's live sessions (for a "your sessions" page, with Handle to
mark "this device"), RevokeSession ends one of them by its handle, RevokeUserSessions ends all
of them (or all but the current one, after a password change), and AuthTime tells when the
user last authenticated, for a step-up check before a sensitive action.

	if err := store.Login(r, w, sess, user.ID); err != nil { ... }
	list, err := store.UserSessions(ctx, user.ID)
	if err != nil { ... }
	if err := store.RevokeSession(ctx, user.ID, r.FormValue("handle")); err != nil { ... }
	n, err := store.RevokeUserSessions(ctx, user.ID, store.Handle(sess))
	if err != nil { ... }

A session ends WithAbsoluteTimeout (default 7 days) after its Login, however active, and a
Login beyond WithMaxSessionsPerUser (default 20) live sessions ends the user's oldest one. A
Login on a session of the same user is a re-authentication (the handle stays); if that session
has ended meanwhile it returns ErrSessionGone, and the user is logged in on a fresh session. All of it
runs on the four item calls: each user has one more item in the same table, with no index.
Get and Save of a bound session cost nothing extra. User IDs are stored only as keyed hashes.

# Errors

Errors are wrapped and typed: *OpError for DynamoDB calls (unwrap it to the SDK's error),
*SizeError (errors.Is ErrTooLarge) for sessions over WithMaxLength, *CodecError for values the
codec cannot encode, and the sentinels ErrSessionGone, ErrConflict, ErrLoadFailed and
ErrInvalidItem. On every error, the stored session is left as it was, except for an *OpError
matching ErrOutcomeUnknown, after which it holds either the old or the new values. The
*OpError's Retryable method says whether trying again later can help (throttling, 5xx,
network) or not (access denied, a missing table, a cancelled request).

Following the gorilla/sessions contract, New (and so Get) never returns a nil session: on a
DynamoDB failure it returns a fresh session and the error. Save refuses to store that fresh
session (ErrLoadFailed), because doing so would replace the user's cookie and lose the stored
session.

# Codecs

GobCodec (the default) keeps Go types. Sessions with string keys and values that are strings,
bools, integers, floats, byte slices or times use a compact form that decodes without gob;
anything else uses encoding/gob, so register your own types with gob.Register. JSONCodec
encodes a JSON object (inside the sealed, binary data attribute, so not readable in the
console); it needs string keys and gives back float64 numbers. Write your own Codec to use another format; it must be deterministic.

# Compression and metrics

WithCompression deflates large sessions before they are sealed, which cuts DynamoDB's write and
read units several times for carts and profiles. It is off by default: compressed sizes can leak
a secret kept next to attacker-chosen values (CRIME, BREACH), so read its doc before turning it
on. Items say whether they are compressed, and every store reads both kinds.

WithMeterProvider reports loads, saves, deletes and their durations to the same smithy-go
MeterProvider the AWS SDK clients take; the Metric constants name them. The credential cache
(CrossAccountOptions.MeterProvider, package credcache) reports its renewals, failures, waits
and time to expiry there too.

# Testing

Package dynamostoretest starts AWS's DynamoDB Local for tests and creates a table per test. It
also sets up the two accounts of CROSS-ACCOUNT.md on one machine: a local STS (with latency,
errors and outages on demand) and a gateway that checks every request's signature and the
role's policy as DynamoDB does. Tests that need DynamoDB Local skip with instructions where it
is missing, and fail under CI=true.
*/
package dynamostore
