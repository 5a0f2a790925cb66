package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/internal/sessiondata"
)

// unitsRun is what DynamoDB Local billed for one kind of session, with or without compression.
type unitsRun struct {
	codec      string
	target     int     // the session's size class, in codec bytes
	raw        int     // its codec bytes
	compressed bool    // WithCompression on
	itemBytes  int     // the stored item's size, by DynamoDB's rules (names and values)
	wcu, rcu   float64 // per changed save and per (strongly consistent) load
}

const unitsRequests = 50

// units: realistic sessions (a user record, a cart, flashes; internal/sessiondata) of 1, 4
// and 16 KiB, with each codec, stored with and without WithCompression; then unitsRequests
// requests that load the session and change one value. DynamoDB Local reports the capacity
// each call consumed.
func units(ctx context.Context, e *env, o options, r *report) error {
	for _, codec := range []struct {
		name  string
		codec dynamostore.Codec
	}{{"gob", dynamostore.GobCodec{}}, {"json", dynamostore.JSONCodec{}}} {
		for _, target := range []int{1024, 4096, 16384} {
			values, raw, err := sessiondata.Sized(11, target, codec.codec.Encode)
			if err != nil {
				return err
			}
			for _, compressed := range []bool{false, true} {
				table, err := e.newTable(ctx)
				if err != nil {
					return err
				}
				metered := &meteredClient{inner: e.admin}
				opts := []dynamostore.Option{dynamostore.WithTableName(table), dynamostore.WithKeyPairs(benchKey, benchBlockKey),
					dynamostore.WithCodec(codec.codec)}
				if compressed {
					opts = append(opts, dynamostore.WithCompression(dynamostore.DefaultCompressionThreshold))
				}
				store, err := dynamostore.New(metered, opts...)
				if err != nil {
					return err
				}
				cookie, err := firstSession(store, values)
				if err != nil {
					return err
				}
				metered.reset()
				for i := 0; i < unitsRequests; i++ {
					r := httptest.NewRequest("GET", "/", nil)
					r.AddCookie(cookie)
					s, err := store.New(r, cookieName)
					if err != nil {
						return err
					}
					s.Values["last_seen"] = "2026-11-30T12:00:" + strconv.Itoa(10+i%50)
					if err := store.Save(r, http.ResponseWriter(discard{}), s); err != nil {
						return err
					}
				}
				size, err := itemSize(ctx, e.admin, table)
				if err != nil {
					return err
				}
				r.units = append(r.units, unitsRun{codec: codec.name, target: target, raw: raw, compressed: compressed, itemBytes: size,
					wcu: float64(metered.wcuTenths.Load()) / 10 / float64(metered.writes.Load()),
					rcu: float64(metered.rcuTenths.Load()) / 10 / float64(metered.reads.Load())})
			}
		}
	}
	return nil
}

// itemSize returns the size of the table's one item as DynamoDB counts it: the UTF-8 bytes of
// each attribute's name and value (numbers: about one byte per two digits, plus one).
func itemSize(ctx context.Context, client *dynamodb.Client, table string) (int, error) {
	out, err := client.Scan(ctx, &dynamodb.ScanInput{TableName: &table})
	if err != nil || len(out.Items) == 0 {
		return 0, err
	}
	n := 0
	for name, v := range out.Items[0] {
		n += len(name)
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			n += len(v.Value)
		case *types.AttributeValueMemberB:
			n += len(v.Value)
		case *types.AttributeValueMemberN:
			n += (len(v.Value)+1)/2 + 1
		}
	}
	return n, nil
}
