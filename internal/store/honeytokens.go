package store

import (
	"context"
	"fmt"
)

// The honeytoken fingerprint index is the one table two guardrails share:
// the honeytoken registry writes the keyed fingerprint of each token's
// secret, and the secret scanner looks its findings up in it, so that
// planted tokens are reported as sightings and never carry a marker.
var honeytokenIndexSchema = []string{
	`CREATE TABLE IF NOT EXISTS honeytoken_fingerprints (
		fingerprint TEXT PRIMARY KEY,
		token_id TEXT NOT NULL
	)`,
}

// MigrateHoneytokenIndex creates the shared fingerprint index.
func (d *DB) MigrateHoneytokenIndex(ctx context.Context) error {
	return d.Migrate(ctx, "honeytoken_index", honeytokenIndexSchema)
}

// PutHoneytokenFingerprint records that the secret with fingerprint fp is
// part of honeytoken tokenID.
func (d *DB) PutHoneytokenFingerprint(ctx context.Context, fp, tokenID string) error {
	if err := d.MigrateHoneytokenIndex(ctx); err != nil {
		return err
	}
	q := `INSERT INTO honeytoken_fingerprints (fingerprint, token_id) VALUES (?, ?) ON CONFLICT (fingerprint) DO UPDATE SET token_id = excluded.token_id`
	if _, err := d.ExecContext(ctx, d.Rebind(q), fp, tokenID); err != nil {
		return fmt.Errorf("recording honeytoken fingerprint: %w", err)
	}
	return nil
}

// DeleteHoneytokenFingerprints removes every fingerprint of tokenID.
func (d *DB) DeleteHoneytokenFingerprints(ctx context.Context, tokenID string) error {
	if err := d.MigrateHoneytokenIndex(ctx); err != nil {
		return err
	}
	if _, err := d.ExecContext(ctx, d.Rebind(`DELETE FROM honeytoken_fingerprints WHERE token_id = ?`), tokenID); err != nil {
		return fmt.Errorf("removing honeytoken fingerprints: %w", err)
	}
	return nil
}

// HoneytokenIDs returns the honeytoken id of every fingerprint in fps that
// belongs to one.
func (d *DB) HoneytokenIDs(ctx context.Context, fps []string) (map[string]string, error) {
	out := make(map[string]string)
	if len(fps) == 0 {
		return out, nil
	}
	if err := d.MigrateHoneytokenIndex(ctx); err != nil {
		return nil, err
	}
	stmt, err := d.PrepareContext(ctx, d.Rebind(`SELECT token_id FROM honeytoken_fingerprints WHERE fingerprint = ?`))
	if err != nil {
		return nil, fmt.Errorf("looking up honeytoken fingerprints: %w", err)
	}
	defer stmt.Close()
	for _, fp := range fps {
		var id string
		switch err := stmt.QueryRowContext(ctx, fp).Scan(&id); {
		case err == nil:
			out[fp] = id
		case isNoRows(err):
		default:
			return nil, fmt.Errorf("looking up honeytoken fingerprints: %w", err)
		}
	}
	return out, nil
}
