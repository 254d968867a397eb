package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// The attestation store keeps every bundle the log server accepted,
// indexed by what verifiers ask for: subject digest, predicate type,
// signer, builder id and time.
var attestationSchema = []string{
	`CREATE TABLE IF NOT EXISTS attestations (
		id TEXT PRIMARY KEY,
		bundle TEXT NOT NULL,
		predicate_type TEXT NOT NULL,
		signer TEXT NOT NULL,
		builder_id TEXT NOT NULL,
		log_index BIGINT NOT NULL,
		created_at BIGINT NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS attestation_subjects (
		attestation_id TEXT NOT NULL REFERENCES attestations(id),
		digest TEXT NOT NULL,
		name TEXT NOT NULL,
		PRIMARY KEY (attestation_id, digest, name)
	)`,
	`CREATE INDEX IF NOT EXISTS attestation_subjects_digest ON attestation_subjects (digest)`,
	`CREATE INDEX IF NOT EXISTS attestations_predicate_type ON attestations (predicate_type)`,
	`CREATE INDEX IF NOT EXISTS attestations_signer ON attestations (signer)`,
	`CREATE INDEX IF NOT EXISTS attestations_builder_id ON attestations (builder_id)`,
	`CREATE INDEX IF NOT EXISTS attestations_created_at ON attestations (created_at)`,
}

// Attestation is one stored bundle and what it is indexed by.
type Attestation struct {
	// ID is the hex SHA-256 of Bundle: storing the same bundle twice is a no-op.
	ID            string
	Bundle        []byte
	PredicateType string
	// Signer is the key id of the key that signed it.
	Signer    string
	BuilderID string
	// LogIndex is the bundle's entry in the log, or -1.
	LogIndex int64
	Created  time.Time
	Subjects []AttestationSubject
}

// AttestationSubject is one subject of an attestation. Digest is
// "alg:value" with lowercase hex values.
type AttestationSubject struct {
	Name   string
	Digest string
}

// AttestationQuery selects attestations; empty fields match everything.
type AttestationQuery struct {
	Digest        string
	PredicateType string
	Signer        string
	BuilderID     string
	Since, Until  time.Time
	// Limit caps the result (0: 1000).
	Limit int
}

// MigrateAttestations creates the attestation store's tables.
func (d *DB) MigrateAttestations(ctx context.Context) error {
	return d.Migrate(ctx, "attestations", attestationSchema)
}

// PutAttestation stores a, with its subjects, in one transaction. A bundle
// already stored is left as it is.
func (d *DB) PutAttestation(ctx context.Context, a *Attestation) error {
	if a.ID == "" || len(a.Subjects) == 0 {
		return fmt.Errorf("storing attestation: id and at least one subject are required")
	}
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storing attestation: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, d.Rebind(`INSERT INTO attestations (id, bundle, predicate_type, signer, builder_id, log_index, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`),
		a.ID, string(a.Bundle), a.PredicateType, a.Signer, a.BuilderID, a.LogIndex, a.Created.UnixNano())
	if err != nil {
		return fmt.Errorf("storing attestation: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	for _, s := range a.Subjects {
		if _, err := tx.ExecContext(ctx, d.Rebind(`INSERT INTO attestation_subjects (attestation_id, digest, name) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`),
			a.ID, strings.ToLower(s.Digest), s.Name); err != nil {
			return fmt.Errorf("storing attestation subject: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("storing attestation: %w", err)
	}
	return nil
}

// FindAttestations returns the attestations matching q, oldest first,
// each with its subjects.
func (d *DB) FindAttestations(ctx context.Context, q AttestationQuery) ([]Attestation, error) {
	var where []string
	var args []any
	if q.Digest != "" {
		where = append(where, `id IN (SELECT attestation_id FROM attestation_subjects WHERE digest = ?)`)
		args = append(args, strings.ToLower(q.Digest))
	}
	for _, f := range []struct{ col, v string }{{"predicate_type", q.PredicateType}, {"signer", q.Signer}, {"builder_id", q.BuilderID}} {
		if f.v != "" {
			where = append(where, f.col+` = ?`)
			args = append(args, f.v)
		}
	}
	if !q.Since.IsZero() {
		where = append(where, `created_at >= ?`)
		args = append(args, q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		where = append(where, `created_at < ?`)
		args = append(args, q.Until.UnixNano())
	}
	limit := q.Limit
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	sqlq := `SELECT id, bundle, predicate_type, signer, builder_id, log_index, created_at FROM attestations`
	if len(where) > 0 {
		sqlq += ` WHERE ` + strings.Join(where, ` AND `)
	}
	sqlq += fmt.Sprintf(` ORDER BY created_at, id LIMIT %d`, limit)
	rows, err := d.QueryContext(ctx, d.Rebind(sqlq), args...)
	if err != nil {
		return nil, fmt.Errorf("querying attestations: %w", err)
	}
	var out []Attestation
	for rows.Next() {
		var a Attestation
		var bundle string
		var created int64
		if err := rows.Scan(&a.ID, &bundle, &a.PredicateType, &a.Signer, &a.BuilderID, &a.LogIndex, &created); err != nil {
			rows.Close()
			return nil, fmt.Errorf("reading attestations: %w", err)
		}
		a.Bundle, a.Created = []byte(bundle), time.Unix(0, created)
		out = append(out, a)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("reading attestations: %w", err)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading attestations: %w", err)
	}
	for i := range out {
		subs, err := d.attestationSubjects(ctx, out[i].ID)
		if err != nil {
			return nil, err
		}
		out[i].Subjects = subs
	}
	return out, nil
}

func (d *DB) attestationSubjects(ctx context.Context, id string) ([]AttestationSubject, error) {
	rows, err := d.QueryContext(ctx, d.Rebind(`SELECT name, digest FROM attestation_subjects WHERE attestation_id = ? ORDER BY digest, name`), id)
	if err != nil {
		return nil, fmt.Errorf("reading attestation subjects: %w", err)
	}
	defer rows.Close()
	var out []AttestationSubject
	for rows.Next() {
		var s AttestationSubject
		if err := rows.Scan(&s.Name, &s.Digest); err != nil {
			return nil, fmt.Errorf("reading attestation subjects: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
