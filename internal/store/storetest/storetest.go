// Package storetest gives tests of any component that keeps state a fresh
// database on each backend: SQLite always, and an isolated schema on the
// PostgreSQL server named by PIPEGUARD_TEST_POSTGRES (CI always sets it).
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

// EnvPostgres names the DSN of the PostgreSQL server tests may use.
const EnvPostgres = "PIPEGUARD_TEST_POSTGRES"

// SkipReason is what tests say when the PostgreSQL variant cannot run.
const SkipReason = EnvPostgres + " is not set (e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable): PostgreSQL variant not run; CI sets it"

// PostgresDSN creates a schema of its own on the server named by
// PIPEGUARD_TEST_POSTGRES and returns a DSN whose search_path is that
// schema; the schema is dropped when the test ends. Without the variable it
// returns "".
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		return ""
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("connecting to %s: %v", EnvPostgres, err)
	}
	defer admin.Close()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	schema := "t_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("creating a test schema on %s: %v", EnvPostgres, err)
	}
	t.Cleanup(func() {
		if a, err := sql.Open("pgx", base); err == nil {
			a.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			a.Close()
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

// DSNs returns a DSN per available backend: "sqlite" (a fresh file) always,
// "postgres" when PIPEGUARD_TEST_POSTGRES is set.
func DSNs(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{"sqlite": filepath.Join(t.TempDir(), "test.db")}
	if dsn := PostgresDSN(t); dsn != "" {
		out["postgres"] = dsn
	} else {
		t.Log(SkipReason)
	}
	return out
}
