// Package tlog is pipeguard's transparency log: a Rekor v2 style
// personality over Tessera (C2SP tlog-tiles). It logs hashedrekord v0.0.2
// entries, signs C2SP checkpoints with the log's Ed25519 key, and hands
// out inclusion proofs that sigstore-go and cosign verify offline.
package tlog

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"golang.org/x/mod/sumdb/note"

	"github.com/pipeguard/pipeguard/internal/home"
	"github.com/pipeguard/pipeguard/internal/sign"
)

// Files of the log's identity inside its directory. The origin file is
// written last: its presence marks a complete identity.
const (
	keyFile    = "log.key"
	pubFile    = "log.pub"
	originFile = "origin"
)

// noteAlgEd25519 is the C2SP signed-note signature type of Ed25519.
const noteAlgEd25519 = 0x01

// Identity is who the log is: its origin (the first line of every
// checkpoint) and its Ed25519 key. sigstore-go derives the expected origin
// from the host of the log's URL in the trusted root, so the origin is a
// host name and the log must be published under it.
type Identity struct {
	Origin string
	Public ed25519.PublicKey
	// Created is when the identity was made; trusted roots list the key
	// as valid from then.
	Created time.Time
	priv    ed25519.PrivateKey
}

// ValidOrigin reports whether s can be a checkpoint origin: a non-empty
// host name without spaces or '+'.
func ValidOrigin(s string) error {
	if s == "" || strings.IndexFunc(s, unicode.IsSpace) >= 0 || strings.ContainsAny(s, "+/") {
		return fmt.Errorf("invalid log origin %q: want a host name such as log.example.com or 127.0.0.1", s)
	}
	return nil
}

// CreateIdentity makes a new log key for origin in dir. The private key is
// encrypted with password when one is given (cosign's format), else stored
// with mode 0600. It refuses to replace an existing identity.
func CreateIdentity(dir, origin string, password []byte) (*Identity, error) {
	if err := ValidOrigin(origin); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, originFile)); err == nil {
		return nil, fmt.Errorf("log in %s already has an identity; refusing to replace it", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating log directory: %w", err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating log key: %w", err)
	}
	privPEM, err := sign.EncodePrivateKey(priv, password)
	if err != nil {
		return nil, err
	}
	pubPEM, err := sign.EncodePublicKey(pub)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{keyFile, privPEM, 0o600},
		{pubFile, pubPEM, 0o644},
		{originFile, []byte(origin + "\n"), 0o644},
	} {
		if err := home.WriteFileAtomic(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return nil, err
		}
	}
	return &Identity{Origin: origin, Public: pub, Created: time.Now(), priv: priv}, nil
}

// ErrNoIdentity means the log directory holds no identity yet.
var ErrNoIdentity = errors.New("the log has no identity yet")

// LoadPublicIdentity reads the origin and public key; no password needed.
func LoadPublicIdentity(dir string) (*Identity, error) {
	o, err := os.ReadFile(filepath.Join(dir, originFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoIdentity
	}
	if err != nil {
		return nil, fmt.Errorf("reading log origin: %w", err)
	}
	fi, err := os.Stat(filepath.Join(dir, pubFile))
	if err != nil {
		return nil, fmt.Errorf("reading log public key: %w", err)
	}
	origin := strings.TrimSpace(string(o))
	if err := ValidOrigin(origin); err != nil {
		return nil, err
	}
	p, err := os.ReadFile(filepath.Join(dir, pubFile))
	if err != nil {
		return nil, fmt.Errorf("reading log public key: %w", err)
	}
	pk, err := sign.DecodePublicKey(p)
	if err != nil {
		return nil, fmt.Errorf("reading log public key: %w", err)
	}
	edpk, ok := pk.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("log public key is %T, want Ed25519", pk)
	}
	return &Identity{Origin: origin, Public: edpk, Created: fi.ModTime()}, nil
}

// LoadIdentity reads the full identity, decrypting the key with password
// if it is encrypted.
func LoadIdentity(dir string, password func() ([]byte, error)) (*Identity, error) {
	id, err := LoadPublicIdentity(dir)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, keyFile))
	if err != nil {
		return nil, fmt.Errorf("reading log key: %w", err)
	}
	var pw []byte
	if sign.IsEncrypted(data) && password != nil {
		if pw, err = password(); err != nil {
			return nil, fmt.Errorf("reading log key password: %w", err)
		}
	}
	k, err := sign.DecodePrivateKey(data, pw)
	if err != nil {
		return nil, fmt.Errorf("loading log key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("log key is %T, want Ed25519", k)
	}
	if !priv.Public().(ed25519.PublicKey).Equal(id.Public) {
		return nil, errors.New("log key does not match log.pub")
	}
	id.priv = priv
	return id, nil
}

// LogID is the log's id as Rekor v2 and sigstore trusted roots name it:
// the full SHA-256 behind the C2SP signed-note key hash.
func (id *Identity) LogID() []byte {
	h := sha256.New()
	h.Write([]byte(id.Origin + "\n"))
	h.Write([]byte{noteAlgEd25519})
	h.Write(id.Public)
	return h.Sum(nil)
}

func (id *Identity) keyHash() uint32 { return binary.BigEndian.Uint32(id.LogID()[:4]) }

// VerifierKey is the C2SP signed-note verifier key ("origin+hash+key").
func (id *Identity) VerifierKey() string {
	return fmt.Sprintf("%s+%08x+%s", id.Origin, id.keyHash(), base64.StdEncoding.EncodeToString(append([]byte{noteAlgEd25519}, id.Public...)))
}

// NoteVerifier verifies the log's checkpoints.
func (id *Identity) NoteVerifier() (note.Verifier, error) {
	v, err := note.NewVerifier(id.VerifierKey())
	if err != nil {
		return nil, fmt.Errorf("building checkpoint verifier: %w", err)
	}
	return v, nil
}

// NoteSigner signs the log's checkpoints.
func (id *Identity) NoteSigner() (note.Signer, error) {
	if id.priv == nil {
		return nil, errors.New("log identity was loaded without its private key")
	}
	skey := fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", id.Origin, id.keyHash(), base64.StdEncoding.EncodeToString(append([]byte{noteAlgEd25519}, id.priv.Seed()...)))
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("building checkpoint signer: %w", err)
	}
	return s, nil
}
