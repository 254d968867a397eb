package honeytoken

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pipeguard/pipeguard/internal/fingerprint"
	"github.com/pipeguard/pipeguard/internal/home"
	"github.com/pipeguard/pipeguard/internal/honeytoken/decoy"
	"github.com/pipeguard/pipeguard/internal/store"
)

// component is this package's name in schema_migrations.
const component = "honeytoken"

// schema is append-only: released steps are never edited.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS honeytokens (
		id TEXT PRIMARY KEY,
		type TEXT NOT NULL,
		note TEXT NOT NULL,
		created_ns BIGINT NOT NULL,
		revoked_ns BIGINT,
		planted TEXT NOT NULL DEFAULT '[]',
		cloud_user TEXT NOT NULL DEFAULT '',
		sealed TEXT NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS honeytoken_hits (
		id TEXT PRIMARY KEY,
		token_id TEXT NOT NULL,
		at_ns BIGINT NOT NULL,
		channel TEXT NOT NULL,
		source TEXT NOT NULL,
		user_agent TEXT NOT NULL,
		summary TEXT NOT NULL,
		dedupe TEXT UNIQUE
	)`,
	`CREATE INDEX IF NOT EXISTS honeytoken_hits_token ON honeytoken_hits (token_id, at_ns)`,
	`CREATE TABLE IF NOT EXISTS honeytoken_alerts (
		id TEXT PRIMARY KEY,
		token_id TEXT NOT NULL,
		kind TEXT NOT NULL,
		at_ns BIGINT NOT NULL,
		count BIGINT NOT NULL,
		first_ns BIGINT NOT NULL,
		last_ns BIGINT NOT NULL,
		channel TEXT NOT NULL,
		source TEXT NOT NULL,
		user_agent TEXT NOT NULL,
		summary TEXT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS honeytoken_alerts_time ON honeytoken_alerts (at_ns)`,
	`CREATE TABLE IF NOT EXISTS honeytoken_groups (
		token_id TEXT PRIMARY KEY,
		window_end_ns BIGINT NOT NULL,
		count BIGINT NOT NULL,
		first_ns BIGINT NOT NULL,
		last_ns BIGINT NOT NULL,
		channel TEXT NOT NULL,
		source TEXT NOT NULL,
		user_agent TEXT NOT NULL,
		summary TEXT NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS honeytoken_deliveries (
		alert_id TEXT NOT NULL,
		sink TEXT NOT NULL,
		attempts BIGINT NOT NULL DEFAULT 0,
		next_ns BIGINT NOT NULL,
		delivered_ns BIGINT,
		last_error TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (alert_id, sink)
	)`,
	`CREATE INDEX IF NOT EXISTS honeytoken_deliveries_due ON honeytoken_deliveries (sink, delivered_ns, next_ns)`,
}

// ErrNotFound is returned for an unknown token id.
var ErrNotFound = errors.New("no such honeytoken")

// Registry keeps the tokens. Token material is sealed (AES-GCM) at rest;
// every secret string of a live token is in the shared fingerprint index.
type Registry struct {
	db    *store.DB
	fpKey []byte
	aead  cipher.AEAD
	now   func() time.Time

	ca *decoy.CA

	// refreshMu serialises Refresh, so that a reload that began earlier
	// can never overwrite the index a later one stored.
	refreshMu sync.Mutex
	mu        sync.RWMutex
	index     map[string]string // fingerprint -> token id
	cloudIDs  map[string]string // CloudTrail user name -> token id
}

// Open migrates the schema and returns the registry over db.
// fingerprintKey is the home's shared fingerprint key; sealKey (32 bytes)
// encrypts token material.
func Open(ctx context.Context, db *store.DB, fingerprintKey, sealKey []byte, opts ...RegistryOption) (*Registry, error) {
	if err := db.Migrate(ctx, component, schema); err != nil {
		return nil, err
	}
	if err := db.MigrateHoneytokenIndex(ctx); err != nil {
		return nil, err
	}
	blk, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, fmt.Errorf("honeytoken seal key: %w", err)
	}
	aead, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, fmt.Errorf("honeytoken seal key: %w", err)
	}
	r := &Registry{db: db, fpKey: fingerprintKey, aead: aead, now: time.Now}
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

// RegistryOption configures a Registry.
type RegistryOption func(*Registry)

// WithCA sets the decoys' certificate authority: kubeconfig decoys embed
// its certificate and the HTTP listener serves certificates it issues.
// Without it kubeconfigs skip TLS verification instead.
func WithCA(ca *decoy.CA) RegistryOption { return func(r *Registry) { r.ca = ca } }

// CA returns the decoys' certificate authority, or nil.
func (r *Registry) CA() *decoy.CA { return r.ca }

// CAPath is where the home keeps the decoys' CA (certificate and key).
func CAPath(h *home.Home) string { return h.Path("keys", "honeytoken-ca.pem") }

// LoadOrCreateCA reads the decoy CA at path, creating it (mode 0600) on
// first use.
func LoadOrCreateCA(path string) (*decoy.CA, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		return decoy.ParseCAPEM(data)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading decoy CA: %w", err)
	}
	ca, err := decoy.NewCA()
	if err != nil {
		return nil, err
	}
	pemData, err := ca.MarshalPEM()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating decoy CA: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadOrCreateCA(path) // another process made it first
	}
	if err != nil {
		return nil, fmt.Errorf("creating decoy CA: %w", err)
	}
	if _, err := f.Write(pemData); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing decoy CA: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("writing decoy CA: %w", err)
	}
	return ca, nil
}

// SealKeyPath is where the home keeps the key that seals token material.
func SealKeyPath(h *home.Home) string { return h.Path("keys", "honeytoken-seal.key") }

// OpenHome opens the home's store and the registry in it. The caller
// closes the returned DB.
func OpenHome(ctx context.Context, h *home.Home) (*Registry, *store.DB, error) {
	fpKey, err := fingerprint.LoadOrCreateKey(h.FingerprintKeyPath())
	if err != nil {
		return nil, nil, err
	}
	sealKey, err := fingerprint.LoadOrCreateKey(SealKeyPath(h))
	if err != nil {
		return nil, nil, fmt.Errorf("honeytoken seal key: %w", err)
	}
	ca, err := LoadOrCreateCA(CAPath(h))
	if err != nil {
		return nil, nil, err
	}
	db, err := store.Open(ctx, h.DBPath())
	if err != nil {
		return nil, nil, err
	}
	r, err := Open(ctx, db, fpKey, sealKey, WithCA(ca))
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return r, db, nil
}

// DB returns the registry's database.
func (r *Registry) DB() *store.DB { return r.db }

func (r *Registry) seal(id string, m *Material) (string, error) {
	plain, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, r.aead.NonceSize())
	rand.Read(nonce)
	out := r.aead.Seal(nonce, nonce, plain, []byte(id))
	return base64.StdEncoding.EncodeToString(out), nil
}

func (r *Registry) unseal(id, s string) (Material, error) {
	var m Material
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) < r.aead.NonceSize() {
		return m, fmt.Errorf("honeytoken %s: sealed material is corrupt", id)
	}
	plain, err := r.aead.Open(nil, raw[:r.aead.NonceSize()], raw[r.aead.NonceSize():], []byte(id))
	if err != nil {
		return m, fmt.Errorf("honeytoken %s: cannot unseal its material (wrong home key?)", id)
	}
	if err := json.Unmarshal(plain, &m); err != nil {
		return m, fmt.Errorf("honeytoken %s: %w", id, err)
	}
	return m, nil
}

// Create makes, registers and returns a new token.
func (r *Registry) Create(ctx context.Context, o CreateOptions) (*Token, error) {
	if o.Note == "" {
		return nil, errors.New("a note saying where the token is planted is required")
	}
	var caPEM []byte
	if r.ca != nil {
		caPEM = r.ca.CertPEM()
	}
	m, err := generate(o, caPEM)
	if err != nil {
		return nil, err
	}
	t := &Token{ID: NewID(), Type: o.Type, Note: o.Note, Created: r.now().UTC(), Material: m}
	sealed, err := r.seal(t.ID, &m)
	if err != nil {
		return nil, err
	}
	q := `INSERT INTO honeytokens (id, type, note, created_ns, planted, cloud_user, sealed) VALUES (?, ?, ?, ?, '[]', ?, ?)`
	if _, err := r.db.ExecContext(ctx, r.db.Rebind(q), t.ID, string(t.Type), t.Note, t.Created.UnixNano(), m.CloudUser, sealed); err != nil {
		return nil, fmt.Errorf("storing honeytoken: %w", err)
	}
	for _, s := range m.Secrets() {
		if err := r.db.PutHoneytokenFingerprint(ctx, fingerprint.Of(r.fpKey, s), t.ID); err != nil {
			r.db.DeleteHoneytokenFingerprints(ctx, t.ID)
			r.db.ExecContext(ctx, r.db.Rebind(`DELETE FROM honeytokens WHERE id = ?`), t.ID)
			return nil, err
		}
	}
	return t, nil
}

const tokenCols = `id, type, note, created_ns, revoked_ns, planted, sealed`

func (r *Registry) scanToken(row interface{ Scan(...any) error }, unseal bool) (*Token, error) {
	var (
		t               Token
		typ, planted, s string
		created         int64
		revoked         sql.NullInt64
	)
	if err := row.Scan(&t.ID, &typ, &t.Note, &created, &revoked, &planted, &s); err != nil {
		return nil, err
	}
	t.Type = Type(typ)
	t.Created = time.Unix(0, created).UTC()
	if revoked.Valid {
		rt := time.Unix(0, revoked.Int64).UTC()
		t.Revoked = &rt
	}
	if err := json.Unmarshal([]byte(planted), &t.Planted); err != nil {
		return nil, fmt.Errorf("honeytoken %s: planted list: %w", t.ID, err)
	}
	if unseal {
		m, err := r.unseal(t.ID, s)
		if err != nil {
			return nil, err
		}
		t.Material = m
	}
	return &t, nil
}

// Get returns a token with its material.
func (r *Registry) Get(ctx context.Context, id string) (*Token, error) {
	row := r.db.QueryRowContext(ctx, r.db.Rebind(`SELECT `+tokenCols+` FROM honeytokens WHERE id = ?`), id)
	t, err := r.scanToken(row, true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("reading honeytoken: %w", err)
	}
	return t, nil
}

// List returns every token, oldest first, without material.
func (r *Registry) List(ctx context.Context) ([]*Token, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT `+tokenCols+` FROM honeytokens ORDER BY created_ns, id`)
	if err != nil {
		return nil, fmt.Errorf("listing honeytokens: %w", err)
	}
	defer rows.Close()
	var out []*Token
	for rows.Next() {
		t, err := r.scanToken(rows, false)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Revoke retires a token: its fingerprints leave the shared index so it no
// longer alerts and the scanner no longer calls it a honeytoken.
func (r *Registry) Revoke(ctx context.Context, id string) error {
	res, err := r.db.ExecContext(ctx, r.db.Rebind(`UPDATE honeytokens SET revoked_ns = ? WHERE id = ? AND revoked_ns IS NULL`), r.now().UnixNano(), id)
	if err != nil {
		return fmt.Errorf("revoking honeytoken: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := r.Get(ctx, id); err != nil {
			return err
		}
	}
	return r.db.DeleteHoneytokenFingerprints(ctx, id)
}

// MarkPlanted records where a token was planted.
func (r *Registry) MarkPlanted(ctx context.Context, id, where string) error {
	t, err := r.Get(ctx, id)
	if err != nil {
		return err
	}
	t.Planted = append(t.Planted, where)
	b, _ := json.Marshal(t.Planted)
	if _, err := r.db.ExecContext(ctx, r.db.Rebind(`UPDATE honeytokens SET planted = ? WHERE id = ?`), string(b), id); err != nil {
		return fmt.Errorf("recording where the honeytoken is planted: %w", err)
	}
	return nil
}

// Refresh reloads the in-memory lookup index from the store, so that
// tokens created or revoked by another process take effect.
func (r *Registry) Refresh(ctx context.Context) error {
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	idx := make(map[string]string)
	rows, err := r.db.QueryContext(ctx, `SELECT fingerprint, token_id FROM honeytoken_fingerprints`)
	if err != nil {
		return fmt.Errorf("loading honeytoken index: %w", err)
	}
	for rows.Next() {
		var fp, id string
		if err := rows.Scan(&fp, &id); err != nil {
			rows.Close()
			return fmt.Errorf("loading honeytoken index: %w", err)
		}
		idx[fp] = id
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("loading honeytoken index: %w", err)
	}
	cloud := make(map[string]string)
	rows, err = r.db.QueryContext(ctx, `SELECT cloud_user, id FROM honeytokens WHERE cloud_user <> '' AND revoked_ns IS NULL`)
	if err != nil {
		return fmt.Errorf("loading honeytoken index: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var u, id string
		if err := rows.Scan(&u, &id); err != nil {
			return fmt.Errorf("loading honeytoken index: %w", err)
		}
		cloud[u] = id
	}
	r.mu.Lock()
	r.index, r.cloudIDs = idx, cloud
	r.mu.Unlock()
	return rows.Err()
}

// Lookup returns the live token that secret belongs to. It uses the index
// loaded by Refresh.
func (r *Registry) Lookup(secret string) (string, bool) {
	fp := fingerprint.Of(r.fpKey, secret)
	r.mu.RLock()
	id, ok := r.index[fp]
	r.mu.RUnlock()
	return id, ok
}

// lookupCloudUser returns the token registered for a cloud user name.
func (r *Registry) lookupCloudUser(name string) (string, bool) {
	r.mu.RLock()
	id, ok := r.cloudIDs[name]
	r.mu.RUnlock()
	return id, ok
}

// Fingerprint returns the keyed fingerprint of secret under the home key,
// as the secret scanner computes it.
func (r *Registry) Fingerprint(secret string) string { return fingerprint.Of(r.fpKey, secret) }
