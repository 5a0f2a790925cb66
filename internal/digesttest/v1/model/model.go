// Package model has the same name as v2/model, for the digest test of types that differ by
// package path only.
package model

// User has the same name and shape as v2/model.User: only the package path tells them apart.
type User struct{ Name string }
