package store

import (
	"context"
	"testing"

	"github.com/pipeguard/pipeguard/internal/store/storetest"
)

// openTestDBs opens a fresh database on every backend storetest offers.
func openTestDBs(t *testing.T) map[string]*DB {
	t.Helper()
	out := map[string]*DB{}
	for name, dsn := range storetest.DSNs(t) {
		db, err := Open(context.Background(), dsn)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(func() { db.Close() })
		out[name] = db
	}
	return out
}

func TestMigrateAndHoneytokenIndex(t *testing.T) {
	ctx := context.Background()
	for name, db := range openTestDBs(t) {
		t.Run(name, func(t *testing.T) {
			comp := "store_test_" + name
			steps := []string{`CREATE TABLE IF NOT EXISTS ` + comp + ` (id INTEGER PRIMARY KEY, v TEXT)`}
			for i := 0; i < 2; i++ { // applying twice is a no-op
				if err := db.Migrate(ctx, comp, steps); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Migrate(ctx, comp, append(steps, `NOT SQL`)); err == nil {
				t.Fatal("a failing migration step reported success")
			}
			fp := "fp-" + name
			if err := db.PutHoneytokenFingerprint(ctx, fp, "tok1"); err != nil {
				t.Fatal(err)
			}
			got, err := db.HoneytokenIDs(ctx, []string{fp, "unknown"})
			if err != nil {
				t.Fatal(err)
			}
			if got[fp] != "tok1" || len(got) != 1 {
				t.Fatalf("HoneytokenIDs = %v", got)
			}
			if err := db.DeleteHoneytokenFingerprints(ctx, "tok1"); err != nil {
				t.Fatal(err)
			}
			if got, _ := db.HoneytokenIDs(ctx, []string{fp}); len(got) != 0 {
				t.Fatalf("revoked fingerprint still found: %v", got)
			}
		})
	}
}

func TestRebind(t *testing.T) {
	pg := &DB{Dialect: Postgres}
	if got := pg.Rebind("a = ? AND b = ?"); got != "a = $1 AND b = $2" {
		t.Fatalf("Rebind = %q", got)
	}
	if got := (&DB{}).Rebind("a = ?"); got != "a = ?" {
		t.Fatalf("SQLite Rebind = %q", got)
	}
}
