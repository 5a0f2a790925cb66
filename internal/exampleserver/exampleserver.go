// Package exampleserver holds what the example servers share: serving until a context ends,
// and a session key kept next to their data so sessions survive a restart.
package exampleserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Serve listens on addr, calls ready with the server's URL, and serves handler until ctx ends;
// then it shuts down gracefully.
func Serve(ctx context.Context, addr string, handler http.Handler, ready func(url string)) error {
	return serve(ctx, addr, handler, nil, ready)
}

// ServeHTTPS is Serve over HTTPS with a self-signed certificate for 127.0.0.1 and localhost,
// made at start-up: enough for a browser told to accept it (make e2e), never for production.
func ServeHTTPS(ctx context.Context, addr string, handler http.Handler, ready func(url string)) error {
	cert, err := selfSigned()
	if err != nil {
		return err
	}
	return serve(ctx, addr, handler, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, ready)
}

func serve(ctx context.Context, addr string, handler http.Handler, tlsConfig *tls.Config, ready func(url string)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	scheme := "http"
	if tlsConfig != nil {
		ln, scheme = tls.NewListener(ln, tlsConfig), "https"
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if ready != nil {
		ready(scheme + "://" + ln.Addr().String() + "/")
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// selfSigned makes a certificate for 127.0.0.1 and localhost that lasts a day.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: "dynamostore example"},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// HashKey decodes hexKey when it is set; otherwise it reads the key kept in path, or creates
// and keeps one there. A real deployment takes its keys from a secret store instead.
func HashKey(hexKey, path string) ([]byte, error) {
	if hexKey != "" {
		key, err := hex.DecodeString(hexKey)
		if err != nil || len(key) < 32 {
			return nil, errors.New("the session hash key must be at least 64 hex characters (32 bytes)")
		}
		return key, nil
	}
	if b, err := os.ReadFile(path); err == nil {
		key, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(key) < 32 {
			return nil, fmt.Errorf("%s does not hold a hex key of 32 or more bytes; delete it to make a new one", path)
		}
		return key, nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	return key, os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600)
}

// BlockKey decodes hexKey, an optional AES key of 16, 24 or 32 bytes that encrypts cookies
// and stored sessions (SESSION_BLOCK_KEY, as `dynamostore keygen` prints it); "" is no key.
func BlockKey(hexKey string) ([]byte, error) {
	if hexKey == "" {
		return nil, nil
	}
	key, err := hex.DecodeString(hexKey)
	if err != nil || (len(key) != 16 && len(key) != 24 && len(key) != 32) {
		return nil, errors.New("the session block key must be 32, 48 or 64 hex characters (an AES key of 16, 24 or 32 bytes)")
	}
	return key, nil
}

// EnvOr returns the environment variable name, or def when it is empty.
func EnvOr(env func(string) string, name, def string) string {
	if v := env(name); v != "" {
		return v
	}
	return def
}
