package main

import (
	"context"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/credcache"
	"github.com/dynamostore/dynamostore/dynamostoretest"
)

const stsLatency = 200 * time.Millisecond

// provider builds the credentials under test on an STS client.
type provider struct {
	name string
	// build returns the provider and our Credentials (nil for the SDK's cache).
	build func(stsClient *dynamostoretest.CountingSTS, x *dynamostoretest.CrossAccount, lifetime time.Duration) (aws.CredentialsProvider, *credcache.Cache)
}

func providers() []provider {
	return []provider{
		{"credcache", func(c *dynamostoretest.CountingSTS, x *dynamostoretest.CrossAccount, _ time.Duration) (aws.CredentialsProvider, *credcache.Cache) {
			creds, err := credcache.AssumeRole(c, x.RoleARN, func(o *credcache.AssumeRoleOptions) { o.ExternalID = x.ExternalID })
			if err != nil {
				panic(err) // constant, valid options
			}
			return creds, creds
		}},
		{"aws.CredentialsCache (default)", func(c *dynamostoretest.CountingSTS, x *dynamostoretest.CrossAccount, _ time.Duration) (aws.CredentialsProvider, *credcache.Cache) {
			return aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(c, x.RoleARN, func(o *stscreds.AssumeRoleOptions) {
				o.ExternalID = aws.String(x.ExternalID)
			})), nil
		}},
		{"aws.CredentialsCache (ExpiryWindow L/3)", func(c *dynamostoretest.CountingSTS, x *dynamostoretest.CrossAccount, lifetime time.Duration) (aws.CredentialsProvider, *credcache.Cache) {
			return aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(c, x.RoleARN, func(o *stscreds.AssumeRoleOptions) {
				o.ExternalID = aws.String(x.ExternalID)
			}), func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = lifetime / 3 }), nil
		}},
	}
}

// loadRun is one provider under load.
type loadRun struct {
	provider      string
	lifetime      time.Duration
	samples       []sample
	waits         int64 // measured outside the provider
	ownWaits      int64 // counted by our provider (-1 for the SDK's cache)
	assumeRole    int
	renewals      []time.Duration // when each AssumeRole call during the load ended
	outage        [2]time.Duration
	firstFailures []string
}

func (l *loadRun) failures() int {
	n := 0
	for _, s := range l.samples {
		if s.failed {
			n++
		}
	}
	return n
}

func (l *loadRun) latencies() latencies {
	lat := make(latencies, 0, len(l.samples))
	for _, s := range l.samples {
		if !s.failed {
			lat = append(lat, s.took)
		}
	}
	return lat
}

// underLoad runs workers against a store whose credentials come from p, for d, or for the
// duration that plan returns once the first credentials are in (plan may also set an outage).
func underLoad(ctx context.Context, e *env, p provider, workers int, lifetime time.Duration,
	plan func(x *dynamostoretest.CrossAccount, first aws.Credentials, creds *credcache.Cache) (time.Duration, [2]time.Time)) (*loadRun, error) {
	table, err := e.newTable(ctx)
	if err != nil {
		return nil, err
	}
	x, err := dynamostoretest.StartCrossAccount(e.endpoint, table, dynamostoretest.CrossAccountOptions{})
	if err != nil {
		return nil, err
	}
	defer x.Close()
	x.STS.SetLifetime(lifetime)
	x.STS.SetLatency(stsLatency)
	counting := &dynamostoretest.CountingSTS{Client: sts.NewFromConfig(x.BaseConfig(), func(o *sts.Options) { o.BaseEndpoint = aws.String(x.STS.URL) })}
	inner, creds := p.build(counting, x, lifetime)
	counter := &dynamostoretest.WaitCounter{Provider: inner, STS: counting}
	cfg := x.BaseConfig()
	cfg.Credentials = counter
	client := dynamodb.NewFromConfig(cfg, x.ViaGateway, func(o *dynamodb.Options) {
		if creds != nil {
			o.APIOptions = append(o.APIOptions, credcache.RecoverRejected(creds))
		}
	})
	store, err := dynamostore.New(client, dynamostore.WithTableName(x.TableARN), dynamostore.WithKeyPairs(benchKey))
	if err != nil {
		return nil, err
	}
	first, err := counter.Retrieve(ctx) // the first retrieval is not counted
	if err != nil {
		return nil, err
	}
	counter.Reset()
	callsBefore := counting.Ended()
	ownBefore := int64(0)
	if creds != nil {
		ownBefore = creds.Stats().Waits
		defer creds.Close()
	}

	start := time.Now()
	d, outage := plan(x, first, creds)
	run := &loadRun{provider: p.name, lifetime: lifetime, ownWaits: -1}
	if !outage[0].IsZero() {
		x.STS.Outage(outage[0], outage[1])
		run.outage = [2]time.Duration{outage[0].Sub(start), outage[1].Sub(start)}
	}
	deadline := start.Add(d)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var cookie *http.Cookie
			var mine []sample
			for n := 0; time.Now().Before(deadline); n++ {
				t0 := time.Now()
				err := visit(store, &cookie, n)
				mine = append(mine, sample{at: t0.Sub(start), took: time.Since(t0), failed: err != nil})
				if err != nil {
					mu.Lock()
					if len(run.firstFailures) < 3 {
						run.firstFailures = append(run.firstFailures, err.Error())
					}
					mu.Unlock()
					time.Sleep(10 * time.Millisecond)
				}
			}
			mu.Lock()
			run.samples = append(run.samples, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	run.waits = counter.Waits()
	if creds != nil {
		run.ownWaits = creds.Stats().Waits - ownBefore
	}
	run.assumeRole = int(counting.Ended() - callsBefore)
	ends := counting.EndTimes()
	for _, t := range ends[len(ends)-run.assumeRole:] {
		run.renewals = append(run.renewals, t.Sub(start))
	}
	log.Printf("  %s: %d requests, %d failed, %d waited, %d AssumeRole", p.name, len(run.samples), run.failures(), run.waits, run.assumeRole)
	return run, nil
}

// visit is one request: load the session, change it, save it.
func visit(store *dynamostore.Store, cookie **http.Cookie, n int) error {
	r := httptest.NewRequest("GET", "/", nil)
	if *cookie != nil {
		r.AddCookie(*cookie)
	}
	s, err := store.New(r, cookieName)
	if err != nil {
		return err
	}
	s.Values["n"] = n
	rec := httptest.NewRecorder()
	if err := store.Save(r, rec, s); err != nil {
		return err
	}
	if cs := rec.Result().Cookies(); len(cs) > 0 {
		*cookie = cs[0]
	}
	return nil
}

// renewal: credentials living 10 s, STS answering in 200 ms, the workers for o.renewal per
// provider, in two halves run in mirrored order (A B C, then C B A) so that a drift of the
// machine over the run favours no provider. The halves are joined on one timeline.
func renewal(ctx context.Context, e *env, o options, r *report) error {
	ps := providers()
	runs := make([]*loadRun, len(ps))
	order := []int{0, 1, 2, 2, 1, 0}
	for _, i := range order {
		half, err := underLoad(ctx, e, ps[i], o.workers, 10*time.Second,
			func(*dynamostoretest.CrossAccount, aws.Credentials, *credcache.Cache) (time.Duration, [2]time.Time) {
				return o.renewal / 2, [2]time.Time{}
			})
		if err != nil {
			return err
		}
		if runs[i] == nil {
			runs[i] = half
			continue
		}
		runs[i].join(half, o.renewal/2)
	}
	r.renewal = append(r.renewal, runs...)
	r.series = append(r.series, runs...)
	return nil
}

// join appends a later run of the same provider, shifted to start at offset.
func (l *loadRun) join(next *loadRun, offset time.Duration) {
	for _, s := range next.samples {
		s.at += offset
		l.samples = append(l.samples, s)
	}
	for _, t := range next.renewals {
		l.renewals = append(l.renewals, t+offset)
	}
	l.waits += next.waits
	if l.ownWaits >= 0 {
		l.ownWaits += next.ownWaits
	}
	l.assumeRole += next.assumeRole
	l.firstFailures = append(l.firstFailures, next.firstFailures...)
}

// outage: credentials living 60 s, STS down for 20 s centred on each provider's first renewal,
// which the old credentials outlive: the case "nothing fails during an STS blip" is about.
func outage(ctx context.Context, e *env, o options, r *report) error {
	const lifetime, down = 60 * time.Second, 20 * time.Second
	for _, p := range providers() {
		run, err := underLoad(ctx, e, p, o.workers, lifetime,
			func(x *dynamostoretest.CrossAccount, first aws.Credentials, creds *credcache.Cache) (time.Duration, [2]time.Time) {
				// The SDK's cache renews at the Expires it hands out (already less its window).
				renewAt := first.Expires
				if creds != nil {
					renewAt = creds.Stats().RenewAt
				}
				window := [2]time.Time{renewAt.Add(-down / 2), renewAt.Add(down / 2)}
				return time.Until(window[1]) + 8*time.Second, window
			})
		if err != nil {
			return err
		}
		r.outage = append(r.outage, run)
	}
	return nil
}
