// Package credcache keeps AWS credentials fresh in the background, so that no request waits
// for them after the first: a drop-in aws.CredentialsProvider for any AWS client (DynamoDB,
// S3, SNS, Lambda, DAX) over any credentials provider (AssumeRole, web identity on EKS, ECS,
// SSO, IMDS, one of your own).
//
// The SDK's aws.CredentialsCache refreshes only when a caller asks for credentials that are
// about to expire, and every caller then waits for the provider; when the provider fails, so
// does every request, although the old credentials were still good. A Cache renews ahead of
// expiry in a goroutine of its own while callers keep getting the current credentials, serves
// them through failures, and makes callers wait only when they are about to expire and no
// renewal has succeeded.
//
// # Use
//
// Wrap a provider with New, or assume a role with AssumeRole, and set the Cache as the
// credentials of the clients' aws.Config, instead of aws.NewCredentialsCache:
//
//	stsClient := sts.NewFromConfig(base, func(o *sts.Options) { o.RetryMaxAttempts = 1 })
//	creds, err := credcache.AssumeRole(stsClient, "arn:aws:iam::444455556666:role/app",
//		func(o *credcache.AssumeRoleOptions) { o.ExternalID = externalID })
//	if err != nil {
//		log.Fatal(err) // *credcache.ConfigError: a malformed role ARN or an option out of range
//	}
//	defer creds.Close()
//	creds.KeepWarm(ctx) // optional: renew even when no request asks
//	cfg := base.Copy()
//	cfg.Credentials = creds
//	ddb = dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
//		o.APIOptions = append(o.APIOptions, credcache.RecoverRejected(creds))
//	})
//
// Or wrap what config.LoadDefaultConfig resolved: credcache.New(cfg.Credentials). That is an
// aws.CredentialsCache, which the Cache invalidates before each renewal so that the renewal
// gets new credentials.
//
// One Cache per source, shared by every client that signs with it: each renewal then serves
// them all. RecoverRejected makes a client recover from credentials a service rejects (revoked
// or expired early): it drops them, waits for one renewal, and sends the request again, once.
//
// # Options
//
// New and AssumeRole validate their options and return a *ConfigError naming each value out of
// range, as the session store's New does: no value can make a Cache panic, call the provider in
// a loop or stop renewing. Windows and delays left at zero follow the lifetime of the
// credentials the provider returns, so the same defaults suit 15-minute and 12-hour ones.
//
// # Errors, logs and metrics
//
// A failed retrieval is an *Error naming its Source (the role ARN, or the provider's type) and
// unwrapping to the provider's error; NonRecoverable says that retrying cannot fix it. The
// Logger gets one line per renewal and per failure, prefixed "credcache:", with a "source"
// attribute and never a key or token. With a MeterProvider, a Cache reports MetricRenewals,
// MetricFailures, MetricWaits and MetricExpiry under MeterScope; Stats returns the same counts.
//
// # Conformance with the 2026 cross-SDK refresh behaviour
//
// The AWS SDKs are adopting one credential refresh behaviour ("static stability"): botocore
// #3760 and #3773, smithy-rs #4781 and #4796, aws-sdk-java-v2 #7109, all behind flags or on
// branches in December 2026. Point by point, with aws.CredentialsCache of aws-sdk-go-v2
// v1.48.0 for comparison:
//
//	point                          | the 2026 behaviour                         | credcache                                          | aws.CredentialsCache v1.48.0
//	-------------------------------+--------------------------------------------+----------------------------------------------------+-----------------------------------
//	advisory window                | 5, 15 or 60 min before expiry by lifetime; | RenewBefore: a third of the lifetime, at most      | ExpiryWindow (default 0: none);
//	                               | the first caller refreshes and waits       | 15 min, +0-25 % jitter; a background goroutine     | callers inside it all wait
//	                               |                                            | refreshes, no caller waits                         |
//	mandatory window               | min(1 min, advisory): every caller waits   | MinRemaining: a tenth of the lifetime, at most     | at expiry: every caller waits
//	                               | on one refresh                             | 1 min; every caller waits on one call              | on one refresh
//	serve cached through failures  | keep serving, back off 5-10 min            | keep serving until expiry, back off                | no: every caller gets the error
//	                               |                                            | exponentially from lifetime/60 to lifetime/12      | and retries
//	                               |                                            | (at most a sixth of the lifetime), jittered        |
//	non-recoverable errors         | surfaced at once, cached 1-5 s             | surfaced at once as *Error{NonRecoverable},        | retried on every call
//	                               |                                            | answered from memory for NonRecoverableDelay (5 s) |
//	credentials expired on arrival | a failure                                  | a non-recoverable failure ("check the clock")      | served
//	invalidation of a rejected key | only if the access key ID matches          | Invalidate(accessKeyID), RecoverRejected           | Invalidate() drops any key
//	calls in flight                | one                                        | one (Stats.MaxInFlight); a call that ignores its   | one
//	                               |                                            | context is not waited for past Timeout             |
//	credentials that cannot expire | served as they are                         | retrieved once, served as they are                 | served as they are
//
// Where credcache goes further than the behaviour asks: renewal without any caller (KeepWarm),
// margins and backoff scaled to the lifetime actually granted, and retry delays capped by the
// lifetime so that a renewal that meets a failure is tried again well before expiry.
package credcache
