package dynamostore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
	mrand "math/rand/v2"
	"sync"
)

// The data attribute is an envelope:
//
//	version(1) flags(1) expires(8, big endian epoch seconds) token(8) [nonce(12)] payload mac(32)
//
// mac is HMAC-SHA256, under a key derived from a hash key, over the item key followed by
// everything before the mac, so an envelope cannot be moved to another item. With a block
// key, payload is AES-GCM ciphertext (the item key is its additional data). In a session
// item the payload is the session's metadata (sessionMeta) followed by the codec's bytes; in
// a user item's entry it is the entry (users.go). The expiry inside is authenticated: whoever can write the table cannot
// extend a session's life by editing the expires attribute.
//
// token is random for every write, so no two writes produce the same envelope: when a
// conditional write fails because the SDK retried it after DynamoDB had already applied it,
// the store recognises its own write in the item DynamoDB returns (see retrysafe.go).
// Version 1 envelopes, written before the token and the metadata existed, are still read:
// their payload is the codec's bytes alone.
const (
	envelopeVersion1 = 1
	envelopeVersion  = 2
	flagEncrypted    = 1
	flagCompressed   = 2 // the codec's bytes are DEFLATE-compressed (compress.go)
	headerLength1    = 1 + 1 + 8
	headerLength     = headerLength1 + tokenLength
	tokenLength      = 8
	macLength        = sha256.Size
	nonceLength      = 12
)

var errEnvelope = errors.New("malformed envelope")

// envelopeHeaderBytes is the start of a version 2 envelope: version, flags, expires and
// token. Its token names the write, so a condition on it (begins_with) holds only while the
// item still holds that write. It is zero when unknown, or for a version 1 envelope.
type envelopeHeaderBytes [headerLength]byte

// token is the write token the header carries; zero for a version 1 envelope or none.
func (h envelopeHeaderBytes) token() uint64 {
	if h[0] != envelopeVersion {
		return 0
	}
	return binary.BigEndian.Uint64(h[headerLength1:])
}

type itemKeys struct {
	mac  *sync.Pool  // of HMAC-SHA256 states under the item MAC key, reset before each use
	user []byte      // keys the hash of user IDs (users.go)
	kv   []byte      // keys the hash of KV keys (kv.go)
	aead cipher.AEAD // nil without a block key
}

// sum returns HMAC(item key || data) appended to out, from a pooled state.
func (k *itemKeys) sum(out []byte, key string, data []byte) []byte {
	m := k.mac.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte(key))
	m.Write(data)
	out = m.Sum(out)
	k.mac.Put(m)
	return out
}

// sealer seals envelopes with the first key pair and opens them with any, for key rotation.
type sealer struct {
	keys []itemKeys
}

func newSealer(keyPairs [][]byte) (*sealer, error) {
	s := &sealer{}
	for i := 0; i < len(keyPairs); i += 2 {
		macKey := derive(keyPairs[i], "dynamostore item mac v1", sha256.Size)
		k := itemKeys{
			mac:  &sync.Pool{New: func() any { return hmac.New(sha256.New, macKey) }},
			user: derive(keyPairs[i], "dynamostore user v1", sha256.Size),
			kv:   derive(keyPairs[i], "dynamostore kv v1", sha256.Size),
		}
		if i+1 < len(keyPairs) && len(keyPairs[i+1]) > 0 {
			block, err := aes.NewCipher(derive(keyPairs[i+1], "dynamostore item encryption v1", len(keyPairs[i+1])))
			if err != nil {
				return nil, err
			}
			if k.aead, err = cipher.NewGCM(block); err != nil {
				return nil, err
			}
		}
		s.keys = append(s.keys, k)
	}
	return s, nil
}

// derive separates the keys used for items from those securecookie uses for cookies.
func derive(key []byte, label string, n int) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	return m.Sum(nil)[:n]
}

// sealedLength is the envelope size for a body of n bytes, to check limits before sealing.
func (s *sealer) sealedLength(n int) int {
	size := headerLength + n + macLength
	if s.keys[0].aead != nil {
		size += nonceLength + s.keys[0].aead.Overhead()
	}
	return size
}

// seal returns the envelope of the payload made of parts, for the item key, with flags
// (flagCompressed or 0), carrying a fresh random write token. It writes into one buffer of the
// final size: the payload is copied once and, with a block key, encrypted in place.
func (s *sealer) seal(key string, expires int64, flags byte, parts ...[]byte) []byte {
	k := &s.keys[0]
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	token := newToken()
	out := make([]byte, headerLength, s.sealedLength(n))
	out[0] = envelopeVersion
	out[1] = flags
	binary.BigEndian.PutUint64(out[2:], uint64(expires))
	binary.BigEndian.PutUint64(out[headerLength1:], token)
	if k.aead != nil {
		out[1] |= flagEncrypted
		out = out[:headerLength+nonceLength]
		nonce := out[headerLength:]
		_, _ = rand.Read(nonce) // never fails: see newID
	}
	start := len(out)
	for _, p := range parts {
		out = append(out, p...)
	}
	if k.aead != nil {
		// In place: the ciphertext overwrites the plaintext it starts at, as cipher.AEAD allows.
		out = k.aead.Seal(out[:start], out[headerLength:start], out[start:], []byte(key))
	}
	return k.sum(out, key, out)
}

// newToken returns a non-zero random write token. It needs to be unique, not secret: an
// envelope with someone else's token still fails the MAC.
func newToken() uint64 {
	for {
		if t := mrand.Uint64(); t != 0 {
			return t
		}
	}
}

// opened is an authenticated envelope.
type opened struct {
	version byte
	flags   byte
	expires int64
	payload []byte
}

// open verifies the envelope with each key pair in turn and only then decrypts it.
func (s *sealer) open(key string, env []byte) (opened, error) {
	if len(env) < headerLength1+macLength {
		return opened{}, errEnvelope
	}
	header := headerLength
	switch env[0] {
	case envelopeVersion:
		if len(env) < headerLength+macLength {
			return opened{}, errEnvelope
		}
	case envelopeVersion1:
		header = headerLength1
	default:
		return opened{}, errEnvelope
	}
	signed, mac := env[:len(env)-macLength], env[len(env)-macLength:]
	var sum [macLength]byte
	for i := range s.keys {
		k := &s.keys[i]
		if !hmac.Equal(k.sum(sum[:0], key, signed), mac) {
			continue
		}
		o := opened{version: signed[0], flags: signed[1], expires: int64(binary.BigEndian.Uint64(signed[2:headerLength1]))}
		payload := signed[header:]
		if signed[1]&flagEncrypted == 0 {
			o.payload = payload
			return o, nil
		}
		if len(payload) < nonceLength {
			return opened{}, errEnvelope
		}
		if k.aead == nil {
			continue // the same hash key without a block key: another pair may have it
		}
		body, err := k.aead.Open(nil, payload[:nonceLength], payload[nonceLength:], []byte(key))
		if err != nil {
			continue // a pair that shares the hash key but not the block key: try the next
		}
		o.payload = body
		return o, nil
	}
	return opened{}, errors.New("no key pair authenticates the item")
}
