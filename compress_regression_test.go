package dynamostore_test

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/gorilla/sessions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/internal/sessiondata"
)

// Compression can be turned off with no migration of the items: the store reads compressed
// items. What it writes then is plain, so WithMaxLength must admit the largest plain session,
// as WithCompression's doc says: otherwise a session that fit only compressed gets ErrTooLarge
// at its next change (and keeps its stored values).
func TestTurningCompressionOffNeedsMaxLengthForPlainSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithMaxLength(8000), dynamostore.WithCompression(0))
	values, raw, err := sessiondata.Sized(3, 12000, dynamostore.GobCodec{}.Encode)
	require.NoError(t, err)
	require.Greater(t, raw, 8000)
	b := newBrowser()
	_, err = b.visit(t, f.store, fill(values))
	require.NoError(t, err, "stored compressed, under 8000 bytes")

	off := f.newStore(dynamostore.WithMaxLength(8000)) // compression off, MaxLength kept
	getErr, saveErr := b.visit(t, off, func(s *sessions.Session) bool {
		require.False(t, s.IsNew, "the compressed item is read")
		s.Values["flash"] = "saved"
		return true
	})
	require.NoError(t, getErr)
	assert.ErrorIs(t, saveErr, dynamostore.ErrTooLarge, "the plain form is over MaxLength")
	assert.NotContains(t, f.stored(t, b), "flash", "the stored session is unchanged")

	raised := f.newStore(dynamostore.WithMaxLength(2 * raw)) // as the doc says: raise MaxLength first
	_, err = b.visit(t, raised, func(s *sessions.Session) bool { s.Values["flash"] = "saved"; return true })
	require.NoError(t, err)
	assert.Equal(t, "saved", f.stored(t, b)["flash"])
}

// A session over MaxUncompressedLength gets a *SizeError whose Limit is MaxUncompressedLength
// and whose message names it, not "raise WithMaxLength", which cannot help.
func TestUncompressedLimitErrorNamesTheRightLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithMaxLength(dynamostore.MaxItemLength), dynamostore.WithCompression(0))
	_, err := newBrowser().visit(t, f.store, func(s *sessions.Session) bool {
		s.Values["zeros"] = strings.Repeat("0", dynamostore.MaxUncompressedLength)
		return true
	})
	var size *dynamostore.SizeError
	require.True(t, errors.As(err, &size), "%v", err)
	require.Equal(t, dynamostore.MaxUncompressedLength, size.Limit)
	assert.NotContains(t, err.Error(), "raise WithMaxLength", "MaxLength is already at its maximum; the limit hit is MaxUncompressedLength")
}

// README's Compression chapter quotes its write and read units from
// "docs/benchmarks.md, section 6", and the issue is done when that page shows them next to
// their baselines; the page has sections 1 to 5 only (its run predates the change).
func TestBenchmarksPageHasTheUnitsSection(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	page, err := os.ReadFile("docs/benchmarks.md")
	require.NoError(t, err)
	require.Contains(t, string(readme), "docs/benchmarks.md](docs/benchmarks.md), section 6")
	assert.True(t, regexp.MustCompile(`(?m)^## 6\.`).Match(page), "README cites section 6 of docs/benchmarks.md, which has no section 6")
}
