package main

import (
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
)

// keyBytes is the length of both keys keygen prints: 32 bytes, the hash key length
// dynamostore.WithKeyPairs asks for at least, and the block key length of AES-256.
const keyBytes = 32

// runKeygen prints a new hash key and block key, hex-encoded as examples/cross-account reads
// SESSION_HASH_KEY, one per line, so the output can be appended to an environment file.
func runKeygen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dynamostore keygen\n\nPrints a new random 32-byte hash key and 32-byte block key, hex-encoded, as\nSESSION_HASH_KEY=... and SESSION_BLOCK_KEY=... lines. Keep them in your secret store.")
	}
	if err := parseFlags(fs, args); err != nil {
		if err == errHelp {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "dynamostore: keygen takes no arguments, got %q\n", fs.Args())
		return exitUsage
	}
	hashKey, err := randomHex(keyBytes)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail
	}
	blockKey, err := randomHex(keyBytes)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail
	}
	fmt.Fprintf(stdout, "SESSION_HASH_KEY=%s\nSESSION_BLOCK_KEY=%s\n", hashKey, blockKey)
	return exitOK
}

// randomHex returns n random bytes from crypto/rand, hex-encoded.
func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("dynamostore: read random bytes: %w", err)
	}
	return hex.EncodeToString(b), nil
}
