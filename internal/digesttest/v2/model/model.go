// Package model has the same name as v1/model, for the digest test of types that differ by
// package path only.
package model

// User has the same name and shape as v1/model.User.
type User struct{ Name string }
