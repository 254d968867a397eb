package findings

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipeguard/pipeguard/internal/secrets"
	"github.com/pipeguard/pipeguard/internal/store"
	"github.com/pipeguard/pipeguard/internal/store/storetest"
)

func openStores(t *testing.T) map[string]*store.DB {
	t.Helper()
	ctx := context.Background()
	dbs := map[string]*store.DB{}
	lite, err := store.Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lite.Close() })
	dbs["sqlite"] = lite
	dsn := storetest.PostgresDSN(t)
	if dsn == "" {
		t.Log(storetest.SkipReason)
		return dbs
	}
	pg, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	dbs["postgres"] = pg
	return dbs
}

func finding(t *testing.T, secret, rule, severity, commit, path string, line int) secrets.Finding {
	t.Helper()
	c, err := secrets.ParseConfig([]byte("[[rules]]\nid = \""+rule+"\"\nregex = '''tok_[a-z0-9]{12}'''\nkeywords = [\"tok_\"]\nseverity = \""+severity+"\"\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	fs := secrets.NewDetector(c, secrets.WithFingerprintKey([]byte("key"))).Scan(secrets.Fragment{Data: []byte(strings.Repeat("\n", line-1) + secret), Path: path})
	if len(fs) != 1 {
		t.Fatalf("fixture finding: got %d", len(fs))
	}
	fs[0].Commit, fs[0].Author, fs[0].Source = commit, "alice", "git"
	return fs[0]
}

func TestStore(t *testing.T) {
	for name, db := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s, err := Open(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
			s.now = func() time.Time { return now }
			a := finding(t, "tok_aaaaaaaaaaa1", "r-high", "high", "c1", "a.env", 3)
			a2 := finding(t, "tok_aaaaaaaaaaa1", "r-high", "high", "c2", "b.env", 7) // same secret elsewhere
			m := finding(t, "tok_bbbbbbbbbbb2", "r-med", "medium", "c1", "a.env", 4)
			n, err := s.Record(ctx, []secrets.Finding{a, a2, m})
			if err != nil || n != 2 {
				t.Fatalf("Record: %d new, %v; want 2 new secrets", n, err)
			}
			// Scanning again (history rewritten: new commit ids) adds no new secret.
			a3 := a
			a3.Commit = "rewritten"
			if n, err = s.Record(ctx, []secrets.Finding{a3}); err != nil || n != 0 {
				t.Fatalf("re-record: %d new, %v", n, err)
			}
			ts, err := s.Show(ctx, a.Fingerprint[:10])
			if err != nil || len(ts) != 1 || len(ts[0].Sightings) != 3 || ts[0].State != StateOpen {
				t.Fatalf("Show: %+v %v", ts, err)
			}
			if _, err := s.Show(ctx, "ffff"); err == nil {
				t.Error("short prefix accepted")
			}
			if _, err := s.Show(ctx, strings.Repeat("0", 16)); err != ErrNotFound {
				t.Errorf("unknown fingerprint: %v", err)
			}
			// 25 hours later the high one is overdue, the medium one not.
			now = now.Add(25 * time.Hour)
			od, err := s.Overdue(ctx, DefaultSLA())
			if err != nil || len(od) != 1 || od[0].Rule != "r-high" || od[0].Late != time.Hour {
				t.Fatalf("Overdue: %+v %v", od, err)
			}
			if err := s.SetState(ctx, a.Fingerprint, StateRotating, "bob", "INC-1"); err != nil {
				t.Fatal(err)
			}
			if od, _ = s.Overdue(ctx, DefaultSLA()); len(od) != 1 {
				t.Errorf("rotating is still overdue until rotated")
			}
			if err := s.SetState(ctx, a.Fingerprint, StateRotated, "", ""); err != nil {
				t.Fatal(err)
			}
			if od, _ = s.Overdue(ctx, DefaultSLA()); len(od) != 0 {
				t.Errorf("rotated secret overdue: %+v", od)
			}
			ts, _ = s.Show(ctx, a.Fingerprint)
			if ts[0].Owner != "bob" || ts[0].Note != "INC-1" || ts[0].State != StateRotated {
				t.Errorf("owner/note lost: %+v", ts[0])
			}
			if err := s.SetState(ctx, a.Fingerprint, "done", "", ""); err == nil {
				t.Error("unknown state accepted")
			}
			l, err := s.List(ctx, StateOpen)
			if err != nil || len(l) != 1 || l[0].Rule != "r-med" {
				t.Errorf("List open: %+v %v", l, err)
			}
		})
	}
}
