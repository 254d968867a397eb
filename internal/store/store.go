// Package store opens pipeguard's database: SQLite (pure Go) in the home
// for a single machine, PostgreSQL for a shared deployment. Each component
// that keeps state (attestations, secret findings, honeytokens) owns its
// own tables and registers its schema with Migrate.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// Dialect names the SQL flavour of a DB.
type Dialect int

// The supported dialects.
const (
	SQLite Dialect = iota
	Postgres
)

// DB is an open database and its dialect.
type DB struct {
	*sql.DB
	Dialect Dialect
}

// IsPostgresDSN reports whether dsn names a PostgreSQL database.
func IsPostgresDSN(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open opens dsn: a postgres:// URL, or else the path of a SQLite file
// (created if missing) opened in WAL mode with a busy timeout so that
// concurrent writers wait rather than fail.
func Open(ctx context.Context, dsn string) (*DB, error) {
	var (
		db  *sql.DB
		d   Dialect
		err error
	)
	if IsPostgresDSN(dsn) {
		d = Postgres
		db, err = sql.Open("pgx", dsn)
	} else {
		d = SQLite
		db, err = sql.Open("sqlite", "file:"+dsn+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	}
	if err != nil {
		return nil, fmt.Errorf("opening database: %w", err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to database: %w", err)
	}
	s := &DB{DB: db, Dialect: d}
	if err := s.ensureMigrations(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Rebind rewrites '?' placeholders into the dialect's form ($1, $2 … for
// PostgreSQL), so components write each query once.
func (d *DB) Rebind(q string) string {
	if d.Dialect != Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

func (d *DB) ensureMigrations(ctx context.Context) error {
	_, err := d.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		component TEXT NOT NULL,
		version INTEGER NOT NULL,
		PRIMARY KEY (component, version))`)
	if err != nil {
		return fmt.Errorf("creating migrations table: %w", err)
	}
	return nil
}

// Migrate applies the schema steps of one component that have not been
// applied yet. steps[i] is version i+1; steps are never edited once
// released, only appended. Each step runs in its own transaction.
func (d *DB) Migrate(ctx context.Context, component string, steps []string) error {
	for i, stmt := range steps {
		v := i + 1
		var n int
		err := d.QueryRowContext(ctx, d.Rebind(`SELECT COUNT(*) FROM schema_migrations WHERE component = ? AND version = ?`), component, v).Scan(&n)
		if err != nil {
			return fmt.Errorf("reading schema version of %s: %w", component, err)
		}
		if n > 0 {
			continue
		}
		tx, err := d.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrating %s: %w", component, err)
		}
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrating %s to version %d: %w", component, v, err)
		}
		if _, err := tx.ExecContext(ctx, d.Rebind(`INSERT INTO schema_migrations (component, version) VALUES (?, ?)`), component, v); err != nil {
			tx.Rollback()
			return fmt.Errorf("recording %s version %d: %w", component, v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrating %s to version %d: %w", component, v, err)
		}
	}
	return nil
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
