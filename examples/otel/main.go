// Command otel shows dynamostore's metrics in OpenTelemetry. It wires the OTel SDK to the
// store, to its cross-account credentials and to the DynamoDB client through smithy-go's
// adapter (smithyotelmetrics), then drives a few workers through Get and Save while the
// credentials renew every few seconds (KeepWarm renews them at their due time), and prints the
// metrics to stdout.
//
// Everything is local: DynamoDB Local, the test kit's STS emulator and signing gateway (the
// two accounts of CROSS-ACCOUNT.md). From the repository root:
//
//	make run-otel                       # or: cd examples/otel && go run . -duration 20s
//
// Watch dynamostore.credentials.renewals and dynamostore.session.saves grow while
// dynamostore.credentials.waits{initial=false} never appears, and
// dynamostore.credentials.expiry fall and jump back at each renewal. The SDK's own client
// metrics (client.call.duration and the others) come through the same provider. For
// Prometheus, swap the stdout exporter for go.opentelemetry.io/otel/exporters/prometheus.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/metrics/smithyotelmetrics"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
)

func main() {
	duration := flag.Duration("duration", 20*time.Second, "how long to drive the load")
	lifetime := flag.Duration("credential-lifetime", 6*time.Second, "how long the local STS's credentials live")
	interval := flag.Duration("interval", 5*time.Second, "how often the metrics are printed")
	flag.Parse()

	exporter, err := stdoutmetric.New(stdoutmetric.WithPrettyPrint())
	if err != nil {
		log.Fatal(err)
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(
		sdkmetric.NewPeriodicReader(exporter, sdkmetric.WithInterval(*interval))))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err = run(ctx, provider, *duration, *lifetime)
	// Shutdown flushes the last figures to the exporter.
	if err := errors.Join(err, provider.Shutdown(context.Background())); err != nil {
		log.Fatal(err)
	}
}

// run sets everything up, with provider's meters, and drives the load for d.
func run(ctx context.Context, provider *sdkmetric.MeterProvider, d, lifetime time.Duration) error {
	mp := smithyotelmetrics.Adapt(provider)

	endpoint := os.Getenv("DYNAMODB_ENDPOINT")
	if endpoint == "" {
		local, err := dynamostoretest.StartLocal(ctx, dynamostoretest.LocalOptions{})
		if err != nil {
			return err
		}
		defer local.Close()
		endpoint = local.Endpoint
	}
	table := fmt.Sprintf("otel-example-%d", time.Now().UnixNano())
	if err := dynamostore.CreateTable(ctx, dynamostoretest.NewClient(endpoint), table); err != nil {
		return err
	}
	x, err := dynamostoretest.StartCrossAccount(endpoint, table, dynamostoretest.CrossAccountOptions{})
	if err != nil {
		return err
	}
	defer x.Close()
	x.STS.SetLifetime(lifetime)

	ca, err := dynamostore.NewCrossAccount(x.BaseConfig(), x.TableARN, x.RoleARN,
		x.Options(func(o *dynamostore.CrossAccountOptions) { o.MeterProvider = mp }))
	if err != nil {
		return err
	}
	defer ca.Credentials.Close()
	// Renew at the due time whatever the traffic: with credentials that live seconds, a slow
	// request could otherwise be the first to ask after the renewal was due, and wait.
	ca.Credentials.KeepWarm(ctx)
	client := ca.DynamoDB(x.ViaGateway, func(o *dynamodb.Options) { o.MeterProvider = mp })
	store, err := dynamostore.New(client,
		dynamostore.WithTableName(ca.Table.String()),
		dynamostore.WithKeyPairs([]byte("an-example-hash-key-of-32-bytes!")),
		dynamostore.WithMeterProvider(mp))
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			visit(ctx, store)
		}()
	}
	wg.Wait()
	return nil
}

// visit is one browser: it counts its visits in its session until ctx ends.
func visit(ctx context.Context, store *dynamostore.Store) {
	cookie := ""
	for ctx.Err() == nil {
		r := httptest.NewRequestWithContext(ctx, http.MethodGet, "https://example.com/", nil)
		if cookie != "" {
			r.Header.Set("Cookie", cookie)
		}
		w := httptest.NewRecorder()
		sess, err := store.Get(r, "session")
		if err == nil {
			n, _ := sess.Values["n"].(int)
			sess.Values["n"] = n + 1
			err = sess.Save(r, w)
		}
		if err != nil && ctx.Err() == nil {
			log.Printf("request failed: %v", err)
		}
		if c := w.Result().Cookies(); len(c) > 0 {
			cookie = c[0].Name + "=" + c[0].Value
		}
		time.Sleep(20 * time.Millisecond)
	}
}
