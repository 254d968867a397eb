// Package findings tracks leaked secrets until they are rotated. A
// tracked secret is keyed by its keyed fingerprint, not by commit or
// line, so it stays tracked when the history that leaked it is rewritten.
// Nothing here ever holds the secret itself.
package findings

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/pipeguard/pipeguard/internal/secrets"
	"github.com/pipeguard/pipeguard/internal/store"
)

// States of a tracked secret.
const (
	StateOpen          = "open"
	StateRotating      = "rotating"
	StateRotated       = "rotated"
	StateFalsePositive = "false-positive"
)

// ValidState reports whether s is a known state.
func ValidState(s string) bool {
	switch s {
	case StateOpen, StateRotating, StateRotated, StateFalsePositive:
		return true
	}
	return false
}

var schema = []string{
	`CREATE TABLE secret_findings (
		fingerprint TEXT NOT NULL,
		rule TEXT NOT NULL,
		severity TEXT NOT NULL,
		redacted TEXT NOT NULL,
		state TEXT NOT NULL,
		owner TEXT NOT NULL DEFAULT '',
		first_seen TEXT NOT NULL,
		last_seen TEXT NOT NULL,
		state_changed TEXT NOT NULL,
		note TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (fingerprint, rule)
	)`,
	`CREATE TABLE secret_sightings (
		fingerprint TEXT NOT NULL,
		rule TEXT NOT NULL,
		source TEXT NOT NULL,
		path TEXT NOT NULL,
		line INTEGER NOT NULL,
		commit_sha TEXT NOT NULL,
		author TEXT NOT NULL,
		seen TEXT NOT NULL,
		PRIMARY KEY (fingerprint, rule, source, path, line, commit_sha)
	)`,
}

// Store keeps tracked secrets in the shared database.
type Store struct {
	db  *store.DB
	now func() time.Time
}

// Open migrates the schema and returns the store.
func Open(ctx context.Context, db *store.DB) (*Store, error) {
	if err := db.Migrate(ctx, "secret_findings", schema); err != nil {
		return nil, err
	}
	return &Store{db: db, now: time.Now}, nil
}

// Tracked is one tracked secret.
type Tracked struct {
	Fingerprint  string     `json:"fingerprint"`
	Rule         string     `json:"rule"`
	Severity     string     `json:"severity"`
	Redacted     string     `json:"redacted"`
	State        string     `json:"state"`
	Owner        string     `json:"owner"`
	FirstSeen    time.Time  `json:"firstSeen"`
	LastSeen     time.Time  `json:"lastSeen"`
	StateChanged time.Time  `json:"stateChanged"`
	Note         string     `json:"note,omitempty"`
	Sightings    []Sighting `json:"sightings,omitempty"`
}

// Sighting is one place a tracked secret was seen.
type Sighting struct {
	Source string    `json:"source"`
	Path   string    `json:"path"`
	Line   int       `json:"line"`
	Commit string    `json:"commit,omitempty"`
	Author string    `json:"author,omitempty"`
	Seen   time.Time `json:"seen"`
}

// Record adds the findings of a scan: new secrets open, known ones get
// their last-seen time and sightings updated, states are kept.
func (s *Store) Record(ctx context.Context, fs []secrets.Finding) (newCount int, err error) {
	now := s.now().UTC().Format(time.RFC3339)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("recording findings: %w", err)
	}
	defer tx.Rollback()
	for _, f := range fs {
		res, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO secret_findings (fingerprint, rule, severity, redacted, state, first_seen, last_seen, state_changed)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint, rule) DO NOTHING`),
			f.Fingerprint, f.RuleID, f.Severity, f.Redacted, StateOpen, now, now, now)
		if err != nil {
			return 0, fmt.Errorf("recording finding: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			newCount++
		} else if _, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE secret_findings SET last_seen = ? WHERE fingerprint = ? AND rule = ?`), now, f.Fingerprint, f.RuleID); err != nil {
			return 0, fmt.Errorf("recording finding: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO secret_sightings (fingerprint, rule, source, path, line, commit_sha, author, seen)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
			f.Fingerprint, f.RuleID, f.Source, f.Path, f.StartLine, f.Commit, f.Author, now); err != nil {
			return 0, fmt.Errorf("recording sighting: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("recording findings: %w", err)
	}
	return newCount, nil
}

// ErrNotFound is returned for an unknown fingerprint.
var ErrNotFound = errors.New("no tracked secret with that fingerprint")

// List returns tracked secrets, optionally only those in state.
func (s *Store) List(ctx context.Context, state string) ([]Tracked, error) {
	q := `SELECT fingerprint, rule, severity, redacted, state, owner, first_seen, last_seen, state_changed, note FROM secret_findings`
	var args []any
	if state != "" {
		q += ` WHERE state = ?`
		args = append(args, state)
	}
	q += ` ORDER BY first_seen, fingerprint, rule`
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("listing findings: %w", err)
	}
	defer rows.Close()
	var out []Tracked
	for rows.Next() {
		t, err := scanTracked(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func scanTracked(rows interface{ Scan(...any) error }) (Tracked, error) {
	var t Tracked
	var fs, ls, sc string
	if err := rows.Scan(&t.Fingerprint, &t.Rule, &t.Severity, &t.Redacted, &t.State, &t.Owner, &fs, &ls, &sc, &t.Note); err != nil {
		return t, fmt.Errorf("reading finding: %w", err)
	}
	t.FirstSeen, _ = time.Parse(time.RFC3339, fs)
	t.LastSeen, _ = time.Parse(time.RFC3339, ls)
	t.StateChanged, _ = time.Parse(time.RFC3339, sc)
	return t, nil
}

// Show returns one tracked secret (by full fingerprint or a unique prefix
// of at least 8 hex digits) with its sightings.
func (s *Store) Show(ctx context.Context, fp string) ([]Tracked, error) {
	if len(fp) < 8 {
		return nil, errors.New("give at least 8 characters of the fingerprint")
	}
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(`SELECT fingerprint, rule, severity, redacted, state, owner, first_seen, last_seen, state_changed, note
		FROM secret_findings WHERE fingerprint LIKE ? ORDER BY rule`), fp+"%")
	if err != nil {
		return nil, fmt.Errorf("reading finding: %w", err)
	}
	var out []Tracked
	for rows.Next() {
		t, err := scanTracked(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, t)
	}
	rows.Close()
	if len(out) == 0 {
		return nil, ErrNotFound
	}
	for i := range out {
		sr, err := s.db.QueryContext(ctx, s.db.Rebind(`SELECT source, path, line, commit_sha, author, seen FROM secret_sightings WHERE fingerprint = ? AND rule = ? ORDER BY seen, path, line`), out[i].Fingerprint, out[i].Rule)
		if err != nil {
			return nil, fmt.Errorf("reading sightings: %w", err)
		}
		for sr.Next() {
			var sg Sighting
			var seen string
			if err := sr.Scan(&sg.Source, &sg.Path, &sg.Line, &sg.Commit, &sg.Author, &seen); err != nil {
				sr.Close()
				return nil, err
			}
			sg.Seen, _ = time.Parse(time.RFC3339, seen)
			out[i].Sightings = append(out[i].Sightings, sg)
		}
		sr.Close()
	}
	return out, nil
}

// SetState moves a tracked secret to state, optionally assigning an owner.
func (s *Store) SetState(ctx context.Context, fp, state, owner, note string) error {
	if !ValidState(state) {
		return fmt.Errorf("unknown state %q (want open, rotating, rotated or false-positive)", state)
	}
	ts, err := s.Show(ctx, fp)
	if err != nil {
		return err
	}
	if len(ts) > 0 {
		first := ts[0].Fingerprint
		for _, t := range ts[1:] {
			if t.Fingerprint != first {
				return fmt.Errorf("fingerprint prefix %q is ambiguous", fp)
			}
		}
	}
	now := s.now().UTC().Format(time.RFC3339)
	q := `UPDATE secret_findings SET state = ?, state_changed = ?, note = CASE WHEN ? = '' THEN note ELSE ? END, owner = CASE WHEN ? = '' THEN owner ELSE ? END WHERE fingerprint = ?`
	if _, err := s.db.ExecContext(ctx, s.db.Rebind(q), state, now, note, note, owner, owner, ts[0].Fingerprint); err != nil {
		return fmt.Errorf("setting state: %w", err)
	}
	return nil
}

// SLA gives the rotation deadline per severity.
type SLA map[string]time.Duration

// DefaultSLA: high severity must be rotated within 24 hours.
func DefaultSLA() SLA {
	return SLA{"critical": 24 * time.Hour, "high": 24 * time.Hour, "medium": 7 * 24 * time.Hour, "low": 30 * 24 * time.Hour}
}

// Overdue is a tracked secret past its rotation deadline.
type Overdue struct {
	Tracked
	Deadline time.Time     `json:"deadline"`
	Late     time.Duration `json:"lateNanoseconds"`
}

// Overdue lists open or rotating secrets whose deadline has passed.
func (s *Store) Overdue(ctx context.Context, sla SLA) ([]Overdue, error) {
	all, err := s.List(ctx, "")
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []Overdue
	for _, t := range all {
		if t.State != StateOpen && t.State != StateRotating {
			continue
		}
		d, ok := sla[t.Severity]
		if !ok {
			d = sla["high"]
		}
		dl := t.FirstSeen.Add(d)
		if now.After(dl) {
			out = append(out, Overdue{Tracked: t, Deadline: dl, Late: now.Sub(dl)})
		}
	}
	return out, nil
}

var _ = sql.ErrNoRows
