// Package fingerprint derives keyed fingerprints of secrets, so that a
// secret can be recognised and tracked without ever being stored in clear.
package fingerprint

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// KeySize is the length of a fingerprint key in bytes.
const KeySize = 32

// Of returns the hex HMAC-SHA256 of secret under key. The same secret
// always gives the same fingerprint under one key, and nothing about the
// secret can be learnt from it without the key.
func Of(key []byte, secret string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(secret))
	return hex.EncodeToString(m.Sum(nil))
}

// LoadOrCreateKey reads the fingerprint key at path, creating a random one
// (mode 0600) on first use.
func LoadOrCreateKey(path string) ([]byte, error) {
	k, err := os.ReadFile(path)
	if err == nil {
		if len(k) != KeySize {
			return nil, fmt.Errorf("fingerprint key %s has %d bytes, want %d", path, len(k), KeySize)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading fingerprint key: %w", err)
	}
	k = make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating fingerprint key: %w", err)
	}
	// O_EXCL: if another process created it meanwhile, use theirs.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadOrCreateKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("creating fingerprint key: %w", err)
	}
	if _, err := f.Write(k); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing fingerprint key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("writing fingerprint key: %w", err)
	}
	return k, nil
}
