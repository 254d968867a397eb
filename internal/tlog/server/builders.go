package server

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/pipeguard/pipeguard/internal/sign"
	"github.com/pipeguard/pipeguard/internal/store"
)

// The builder registry: who may write, with which key. Tokens are random
// 256-bit secrets; only their SHA-256 is stored, which is enough for
// secrets of that entropy and lets the lookup be an index probe.
var builderSchema = []string{
	`CREATE TABLE IF NOT EXISTS tlog_builders (
		name TEXT PRIMARY KEY,
		key_id TEXT NOT NULL,
		public_key TEXT NOT NULL,
		token_hash TEXT NOT NULL UNIQUE,
		created_at BIGINT NOT NULL
	)`,
}

// tokenPrefix makes tokens recognisable to secret scanners.
const tokenPrefix = "pgl_"

var builderName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Builder is a registered writer.
type Builder struct {
	Name      string
	KeyID     string
	PublicKey crypto.PublicKey
	// PEM is the public key in PEM form, DER its PKIX encoding.
	PEM []byte
	DER []byte
}

// Builders is the registry, read from the database on every miss so that
// builders added while the server runs are honoured at once.
type Builders struct {
	db *store.DB

	mu    sync.Mutex
	cache map[string]cachedBuilder
	// lookups collapses concurrent misses for one token into one query, so
	// a cache expiry under load is one query, not one per waiting request.
	lookups singleflight.Group
}

type cachedBuilder struct {
	b       *Builder
	expires time.Time
}

// builderCacheTTL bounds how long a looked-up token is trusted from memory.
const builderCacheTTL = 5 * time.Second

// NewBuilders opens the registry in db, creating its table.
func NewBuilders(ctx context.Context, db *store.DB) (*Builders, error) {
	if err := db.Migrate(ctx, "tlog_builders", builderSchema); err != nil {
		return nil, err
	}
	return &Builders{db: db, cache: make(map[string]cachedBuilder)}, nil
}

// ErrBuilderExists means a builder of that name is already registered.
var ErrBuilderExists = errors.New("a builder of that name is already registered")

// Add registers a builder with its public key and returns its new write
// token, which is shown once and never stored in clear.
func (r *Builders) Add(ctx context.Context, name string, pubPEM []byte) (string, error) {
	if !builderName.MatchString(name) {
		return "", fmt.Errorf("invalid builder name %q: use letters, digits, '.', '_' or '-'", name)
	}
	pub, err := sign.DecodePublicKey(pubPEM)
	if err != nil {
		return "", err
	}
	kid, err := sign.KeyID(pub)
	if err != nil {
		return "", err
	}
	canon, err := sign.EncodePublicKey(pub)
	if err != nil {
		return "", err
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", fmt.Errorf("generating token: %w", err)
	}
	token := tokenPrefix + base64.RawURLEncoding.EncodeToString(secret)
	_, err = r.db.ExecContext(ctx, r.db.Rebind(`INSERT INTO tlog_builders (name, key_id, public_key, token_hash, created_at) VALUES (?, ?, ?, ?, ?)`),
		name, kid, string(canon), hashToken(token), time.Now().UnixNano())
	if err != nil {
		if n, _ := r.count(ctx, name); n > 0 {
			return "", fmt.Errorf("%w: %s", ErrBuilderExists, name)
		}
		return "", fmt.Errorf("registering builder: %w", err)
	}
	return token, nil
}

func (r *Builders) count(ctx context.Context, name string) (int, error) {
	var n int
	err := r.db.QueryRowContext(ctx, r.db.Rebind(`SELECT COUNT(*) FROM tlog_builders WHERE name = ?`), name).Scan(&n)
	return n, err
}

func hashToken(t string) string {
	s := sha256.Sum256([]byte(t))
	return hex.EncodeToString(s[:])
}

// ErrUnauthorized means the token is missing or unknown.
var ErrUnauthorized = errors.New("missing or unknown builder token")

// Authenticate returns the builder a token belongs to.
func (r *Builders) Authenticate(ctx context.Context, token string) (*Builder, error) {
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > 128 {
		return nil, ErrUnauthorized
	}
	h := hashToken(token)
	now := time.Now()
	r.mu.Lock()
	c, ok := r.cache[h]
	r.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.b, nil
	}
	v, err, _ := r.lookups.Do(h, func() (any, error) { return r.lookup(context.WithoutCancel(ctx), h) })
	if err != nil {
		return nil, err
	}
	b := v.(*Builder)
	r.mu.Lock()
	if len(r.cache) > 10000 {
		clear(r.cache)
	}
	r.cache[h] = cachedBuilder{b: b, expires: now.Add(builderCacheTTL)}
	r.mu.Unlock()
	return b, nil
}

func (r *Builders) lookup(ctx context.Context, h string) (*Builder, error) {
	var name, kid, pemText string
	err := r.db.QueryRowContext(ctx, r.db.Rebind(`SELECT name, key_id, public_key FROM tlog_builders WHERE token_hash = ?`), h).Scan(&name, &kid, &pemText)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrUnauthorized
	}
	if err != nil {
		return nil, fmt.Errorf("looking up builder token: %w", err)
	}
	pub, err := sign.DecodePublicKey([]byte(pemText))
	if err != nil {
		return nil, fmt.Errorf("registered key of builder %s: %w", name, err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("registered key of builder %s: %w", name, err)
	}
	return &Builder{Name: name, KeyID: kid, PublicKey: pub, PEM: []byte(pemText), DER: der}, nil
}
