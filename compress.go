package dynamostore

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"sync"
)

// DefaultCompressionThreshold is the threshold WithCompression suggests: below about 256
// bytes of codec output, DEFLATE rarely saves a write unit and costs CPU.
const DefaultCompressionThreshold = 256

// MaxUncompressedLength is the largest session, in codec bytes, that a store with compression
// writes or reads back: a compressed session over it is refused by Save (*SizeError), and an
// item whose data inflates past it is rejected (ErrInvalidItem), so no item, forged or not,
// can make the store allocate more.
const MaxUncompressedLength = 1 << 20

// compressionLevel is DEFLATE's level 4: measured on realistic sessions of 1 to 16 KiB (see
// docs/benchmarks.md), it compresses within 1 % of levels 6 to 9 at about half their CPU.
const compressionLevel = 4

// WithCompression compresses the codec's bytes with DEFLATE (compress/flate) before they are
// sealed, for sessions of threshold bytes or more, and only when that makes them smaller. It
// cuts the write and read units of large sessions (DynamoDB bills a write unit per started KB
// and a read unit per started 4 KB). Items say whether they are compressed, so stores with and
// without it read each other's items, and turning it on or off needs no migration of the items.
// Before turning it off, make sure WithMaxLength admits your largest sessions uncompressed: a
// session that fit only compressed is still read, but its next change gets ErrTooLarge.
//
// It is off by default, because compressed sizes can leak secrets (CRIME, BREACH): if a
// session holds a secret next to a value an attacker chooses, and the attacker can see the
// item's size (a reader of the table in the other account, or the consumed capacity), the
// size shrinks when the chosen value matches part of the secret. Turn it on for sessions
// without such a mix (carts, preferences, user records), or when nobody untrusted can observe
// item sizes. A session of more than MaxUncompressedLength codec bytes is then refused. A
// threshold below 0 or above MaxUncompressedLength is a *ConfigError; 0 compresses every
// session; DefaultCompressionThreshold is a good start.
func WithCompression(threshold int) Option {
	return func(o *Options) { o.Compression, o.CompressionThreshold = true, threshold }
}

var (
	deflaters = sync.Pool{New: func() any {
		w, _ := flate.NewWriter(nil, compressionLevel) // the level is valid: no error
		return w
	}}
	inflaters = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}

	errTooLargeInflated = fmt.Errorf("compressed data inflates past %d bytes", MaxUncompressedLength)
)

// sealedBody is a session's codec bytes as they are sealed.
type sealedBody struct {
	data  []byte
	flags byte // flagCompressed when data is deflated
}

// compress returns raw as it should be sealed: deflated if compression is on, raw is at
// least the threshold, and the result is smaller.
func (s *Store) compress(raw []byte) (sealedBody, error) {
	if !s.opts.Compression || len(raw) < s.opts.CompressionThreshold {
		return sealedBody{data: raw}, nil
	}
	if len(raw) > MaxUncompressedLength {
		return sealedBody{}, &SizeError{Size: len(raw), Limit: MaxUncompressedLength}
	}
	var buf bytes.Buffer
	buf.Grow(len(raw)/2 + 64)
	w := deflaters.Get().(*flate.Writer)
	w.Reset(&buf)
	_, err := w.Write(raw)
	if err == nil {
		err = w.Close()
	}
	deflaters.Put(w)
	if err != nil || buf.Len() >= len(raw) {
		return sealedBody{data: raw}, nil // bytes.Buffer cannot fail; incompressible data stays as it is
	}
	return sealedBody{data: buf.Bytes(), flags: flagCompressed}, nil
}

// inflate returns the codec bytes of an authenticated envelope's payload, reading at most
// MaxUncompressedLength bytes.
func inflate(flags byte, data []byte) ([]byte, error) {
	if flags&flagCompressed == 0 {
		return data, nil
	}
	r := inflaters.Get().(io.ReadCloser)
	defer inflaters.Put(r)
	if err := r.(flate.Resetter).Reset(bytes.NewReader(data), nil); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Grow(min(4*len(data), MaxUncompressedLength))
	n, err := out.ReadFrom(io.LimitReader(r, MaxUncompressedLength+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("inflate: %w", err)
	case n > MaxUncompressedLength:
		return nil, errTooLargeInflated
	}
	return out.Bytes(), nil
}
