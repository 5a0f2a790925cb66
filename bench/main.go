// Command bench measures dynamostore against what a user would otherwise use, in one run, on
// DynamoDB Local (and the local STS and signing gateway where credentials matter), and writes
// docs/benchmarks.md and its chart. `make bench` runs it after the micro-benchmarks.
//
//	go run ./bench [-duration 6s] [-concurrency 32] [-sizes 100,1024,16384] [-renewal 60s] [-micro out/bench/micro.txt] [-doc docs]
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/credcache"
	"github.com/dynamostore/dynamostore/dynamostoretest"
)

type options struct {
	duration    time.Duration // per cell of the overhead scenario
	concurrency int           // the larger worker count of the overhead scenario
	sizes       []int         // session sizes of the overhead scenario
	renewal     time.Duration // length of the renewal scenario, per provider
	workers     int           // workers of the renewal and outage scenarios
	micro       string        // go test -bench output to include
	doc         string        // folder for benchmarks.md and the chart; "" prints only
	scenarios   map[string]bool
}

func main() {
	var o options
	var sizes, scenarios string
	flag.DurationVar(&o.duration, "duration", 6*time.Second, "overhead scenario: measuring time per side and cell")
	flag.IntVar(&o.concurrency, "concurrency", 32, "overhead scenario: the concurrent worker count (1 is always measured too)")
	flag.StringVar(&sizes, "sizes", "100,1024,16384", "overhead scenario: session sizes in bytes")
	flag.DurationVar(&o.renewal, "renewal", 60*time.Second, "renewal scenario: load time per provider")
	flag.IntVar(&o.workers, "workers", 64, "renewal and outage scenarios: concurrent workers")
	flag.StringVar(&o.micro, "micro", "", "file with `go test -bench` output to include")
	flag.StringVar(&o.doc, "doc", "", "write benchmarks.md and benchmarks-renewal.svg into this folder")
	flag.StringVar(&scenarios, "scenarios", "overhead,renewal,outage,writes,units", "scenarios to run")
	flag.Parse()
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			log.Fatalf("bad -sizes %q", sizes)
		}
		o.sizes = append(o.sizes, n)
	}
	o.scenarios = map[string]bool{}
	for _, s := range strings.Split(scenarios, ",") {
		o.scenarios[strings.TrimSpace(s)] = true
	}
	if err := run(context.Background(), o); err != nil {
		log.Fatal(err)
	}
}

// env is DynamoDB Local with an admin client.
type env struct {
	endpoint string
	admin    *dynamodb.Client
	tables   int
}

func (e *env) newTable(ctx context.Context) (string, error) {
	e.tables++
	name := fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), e.tables)
	return name, dynamostore.CreateTable(ctx, e.admin, name)
}

// newStore returns a store on a new table, talking to DynamoDB Local directly.
func (e *env) newStore(ctx context.Context) (*dynamostore.Store, string, error) {
	table, err := e.newTable(ctx)
	if err != nil {
		return nil, "", err
	}
	store, err := dynamostore.New(e.admin, dynamostore.WithTableName(table), dynamostore.WithKeyPairs(benchKey))
	return store, table, err
}

func run(ctx context.Context, o options) error {
	endpoint := os.Getenv("DYNAMODB_ENDPOINT")
	if endpoint == "" {
		local, err := dynamostoretest.StartLocal(ctx, dynamostoretest.LocalOptions{})
		if err != nil {
			return err
		}
		defer local.Close()
		endpoint = local.Endpoint
	}
	e := &env{endpoint: endpoint, admin: dynamostoretest.NewClient(endpoint)}
	r := &report{started: time.Now(), opts: o}
	if o.micro != "" {
		b, err := os.ReadFile(o.micro)
		if err != nil {
			return err
		}
		r.micro = parseMicro(b)
	}
	if err := warmUp(ctx, e); err != nil {
		return err
	}
	steps := []struct {
		name string
		fn   func(context.Context, *env, options, *report) error
	}{
		{"overhead", overhead}, {"renewal", renewal}, {"outage", outage}, {"writes", writes}, {"units", units},
	}
	for _, s := range steps {
		if !o.scenarios[s.name] {
			continue
		}
		log.Printf("scenario %s", s.name)
		if err := s.fn(ctx, e, o, r); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	r.finished = time.Now()
	var md bytes.Buffer
	r.markdown(&md)
	fmt.Print(md.String())
	if o.doc == "" {
		return nil
	}
	if err := os.WriteFile(filepath.Join(o.doc, "benchmarks.md"), md.Bytes(), 0o644); err != nil {
		return err
	}
	if len(r.series) > 0 {
		var svg bytes.Buffer
		renderChart(&svg, r.series)
		if err := os.WriteFile(filepath.Join(o.doc, "benchmarks-renewal.svg"), svg.Bytes(), 0o644); err != nil {
			return err
		}
	}
	log.Printf("wrote %s", filepath.Join(o.doc, "benchmarks.md"))
	return nil
}

// sample is one request: when it started (from the scenario's start) and how long it took.
type sample struct {
	at, took time.Duration
	failed   bool
}

type latencies []time.Duration

func (l latencies) quantile(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := append(latencies(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func (l latencies) max() time.Duration {
	var m time.Duration
	for _, d := range l {
		m = max(m, d)
	}
	return m
}

func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d cores, %s %s/%s", model, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// warmUp runs load against DynamoDB Local until its JIT has settled, so that the first
// scenario measured is not slower for being first.
func warmUp(ctx context.Context, e *env) error {
	store, table, err := e.newStore(ctx)
	if err != nil {
		return err
	}
	log.Printf("warming DynamoDB Local up")
	op, _, err := storeSide(ctx, store, e, table, 1024, 32)
	if err != nil {
		return err
	}
	raw := rawSide(e.admin, table, 1024)
	measure(32, 8*time.Second, func(w int) error { _ = raw(w); return op(w) })
	// The signing gateway and the STS emulator too, so that no provider pays for being first.
	_, err = underLoad(ctx, e, providers()[1], 32, 10*time.Second,
		func(*dynamostoretest.CrossAccount, aws.Credentials, *credcache.Cache) (time.Duration, [2]time.Time) {
			return 12 * time.Second, [2]time.Time{}
		})
	return err
}
