package dynamostore

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
)

// Attribute names of a session item. The hash key's name is Options.PartitionKey.
const (
	attrData    = "data"    // B: the sealed envelope below
	attrExpires = "expires" // N: epoch seconds; enable DynamoDB TTL on it
	attrWritten = "written" // N: written by earlier versions; removed by the next update (the sealed metadata has it)
	attrVersion = "version" // N: present with optimistic locking
	attrMoved   = "moved"   // N: the session moved to a new ID (Regenerate): this item is a tombstone
)

// idBytes is the number of random bytes in a session ID (256 bits).
const idBytes = 32

// idLength is the length of an encoded ID: unpadded base64url of idBytes.
var idLength = base64.RawURLEncoding.EncodedLen(idBytes)

// newID returns a fresh session ID. crypto/rand.Read never fails (since Go 1.24 it crashes
// the program instead), so an ID is never weak.
func newID() string {
	b := make([]byte, idBytes)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// validID reports whether id has the exact shape newID produces. Cookies are user input:
// even a correctly signed one is checked before it becomes part of a request.
func validID(id string) bool {
	if len(id) != idLength {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil
}

// itemKey is the value of the hash key for a session ID. Only a hash of the ID is stored, so
// whoever can read the table (it may belong to another account) cannot replay a session.
func itemKey(prefix, id string) string {
	sum := sha256.Sum256([]byte(id))
	var b strings.Builder
	b.Grow(len(prefix) + base64.RawURLEncoding.EncodedLen(len(sum)))
	b.WriteString(prefix)
	enc := base64.NewEncoder(base64.RawURLEncoding, &b)
	enc.Write(sum[:])
	enc.Close()
	return b.String()
}

// sessionMeta is what the store keeps about a session besides its values, sealed with them
// at the start of a version 2 payload:
//
//	created(8) written(8) kind(1) [authTime(8) handle(16) user(16) listedUntil(8)]
//
// The bound part is there for a session that Login bound to a user (users.go); items of
// kind 1 (metaBoundV1) have no listedUntil.
type sessionMeta struct {
	created  int64 // epoch seconds: the session's creation, or the Login that bound it
	written  int64 // epoch seconds of this write
	bound    bool
	authTime int64              // epoch seconds of the last Login
	handle   [handleBytes]byte  // the session's public handle
	user     [userKeyBytes]byte // keyed hash of the user ID: names the user's item
	// listedUntil is the absolute deadline the last Login gave the session, which the user's
	// item was made to outlive (its expiry only moves later): the session never lives past
	// it, even if WithAbsoluteTimeout is raised later. Zero when unknown (kind 1).
	listedUntil int64
}

const (
	metaAnonymous   = 0
	metaBoundV1     = 1 // without listedUntil
	metaBound       = 2
	metaBaseLength  = 8 + 8 + 1
	metaBoundLength = metaBaseLength + 8 + handleBytes + userKeyBytes + 8
)

func (m *sessionMeta) length() int {
	if m.bound {
		return metaBoundLength
	}
	return metaBaseLength
}

func (m *sessionMeta) appendTo(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(m.created))
	b = binary.BigEndian.AppendUint64(b, uint64(m.written))
	if !m.bound {
		return append(b, metaAnonymous)
	}
	b = append(b, metaBound)
	b = binary.BigEndian.AppendUint64(b, uint64(m.authTime))
	b = append(b, m.handle[:]...)
	b = append(b, m.user[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(m.listedUntil))
}

// parseMeta splits a version 2 payload into the metadata and the codec's bytes.
func parseMeta(payload []byte) (sessionMeta, []byte, error) {
	var m sessionMeta
	if len(payload) < metaBaseLength {
		return m, nil, errEnvelope
	}
	m.created = int64(binary.BigEndian.Uint64(payload))
	m.written = int64(binary.BigEndian.Uint64(payload[8:]))
	switch payload[16] {
	case metaAnonymous:
		return m, payload[metaBaseLength:], nil
	case metaBound, metaBoundV1:
		n := metaBoundLength
		if payload[16] == metaBoundV1 {
			n -= 8
		}
		if len(payload) < n {
			return m, nil, errEnvelope
		}
		m.bound = true
		m.authTime = int64(binary.BigEndian.Uint64(payload[metaBaseLength:]))
		copy(m.handle[:], payload[metaBaseLength+8:])
		copy(m.user[:], payload[metaBaseLength+8+handleBytes:])
		if payload[16] == metaBound {
			m.listedUntil = int64(binary.BigEndian.Uint64(payload[metaBaseLength+8+handleBytes+userKeyBytes:]))
		}
		return m, payload[n:], nil
	}
	return m, nil, errEnvelope
}
