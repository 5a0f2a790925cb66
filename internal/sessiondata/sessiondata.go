// Package sessiondata makes realistic session values for benchmarks and tests: a user record
// with a few strings, a shopping cart, and flashes, as a web shop keeps them. The values are
// deterministic for a seed, and sized to a target by the cart's length.
package sessiondata

import (
	"encoding/gob"
	"fmt"
	"math/rand/v2"
	"strings"
)

// User is the signed-in user's record.
type User struct {
	ID, Email, Name, Locale, Plan string
	Roles                         []string
}

// CartItem is one line of the cart.
type CartItem struct {
	SKU, Name, Description, Image string
	PriceCents, Quantity          int
	Options                       map[string]string
}

func init() {
	gob.Register(User{})
	gob.Register([]CartItem{})
}

var words = strings.Fields(`organic cotton slim fit shirt blue navy white black regular
	long sleeve short crew neck hoodie zip jacket waterproof breathable lightweight recycled
	wool merino blend soft stretch denim jeans straight leg tapered classic everyday premium
	running shoe trail road cushioned support men women kids unisex size colour pack of two
	three machine washable imported care instructions gentle cycle do not tumble dry`)

var (
	sizes   = []string{"XS", "S", "M", "L", "XL"}
	colours = []string{"navy", "black", "white", "olive", "grey", "red"}
)

func phrase(r *rand.Rand, n int) string {
	p := make([]string, n)
	for i := range p {
		p[i] = words[r.IntN(len(words))]
	}
	return strings.Join(p, " ")
}

func hex(r *rand.Rand, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[r.IntN(16)]
	}
	return string(b)
}

// Item returns the cart's i-th line for seed.
func Item(seed uint64, i int) CartItem {
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	sku := strings.ToUpper(hex(r, 10))
	return CartItem{
		SKU:         sku,
		Name:        phrase(r, 4),
		Description: phrase(r, 24+r.IntN(12)),
		Image:       "https://cdn.example.com/products/" + sku + "/" + hex(r, 16) + ".jpg",
		PriceCents:  500 + r.IntN(20000),
		Quantity:    1 + r.IntN(3),
		Options:     map[string]string{"size": sizes[r.IntN(len(sizes))], "colour": colours[r.IntN(len(colours))]},
	}
}

// Values returns a session of the user, n cart lines and two flashes, for seed.
func Values(seed uint64, n int) map[any]any {
	r := rand.New(rand.NewPCG(seed, 0))
	cart := make([]CartItem, n)
	for i := range cart {
		cart[i] = Item(seed, i)
	}
	return map[any]any{
		"user": User{ID: "u-" + hex(r, 12), Email: "ada.lovelace@example.com", Name: "Ada Lovelace",
			Locale: "en-GB", Plan: "premium", Roles: []string{"customer", "beta"}},
		"csrf":      hex(r, 43),
		"cart":      cart,
		"currency":  "EUR",
		"last_seen": "2026-11-30T12:00:00Z",
		"_flash":    []any{"Added to your cart.", fmt.Sprintf("Free shipping on orders over %d EUR.", 50)},
	}
}

// Sized returns the session with the fewest cart lines whose encoding by encode is at least
// target bytes, and that length.
func Sized(seed uint64, target int, encode func(map[any]any) ([]byte, error)) (map[any]any, int, error) {
	for n := 0; ; n++ {
		v := Values(seed, n)
		b, err := encode(v)
		if err != nil {
			return nil, 0, err
		}
		if len(b) >= target || n > 1000 {
			return v, len(b), nil
		}
	}
}
