package honeytoken

import (
	"context"
	"testing"
	"time"

	"github.com/pipeguard/pipeguard/internal/store"
	"github.com/pipeguard/pipeguard/internal/store/storetest"
)

// postgresRegistry opens a registry in a fresh schema on the server named
// by PIPEGUARD_TEST_POSTGRES (the project's convention), or skips.
func postgresRegistry(t *testing.T) *Registry {
	t.Helper()
	dsn := storetest.PostgresDSN(t)
	if dsn == "" {
		t.Skip(storetest.SkipReason)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ca, err := LoadOrCreateCA(t.TempDir() + "/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, db, make([]byte, 32), make([]byte, 32), WithCA(ca))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The whole flow on PostgreSQL: create, index, hits with grouping, durable
// delivery, listing, CloudTrail-style dedupe, revoke.
func TestPostgresStore(t *testing.T) {
	r := postgresRegistry(t)
	ctx := context.Background()
	tok := mustCreate(t, r, allOptions(TypeURL))
	if ids, err := r.db.HoneytokenIDs(ctx, []string{r.Fingerprint(tok.Material.Label)}); err != nil || len(ids) != 1 {
		t.Fatalf("index: %v %v", ids, err)
	}
	rc := newReceiver(t)
	sink, _ := NewWebhookSink(rc.srv.URL)
	s := startServer(t, r, ServeConfig{HTTPAddr: "127.0.0.1:0", Sinks: []Sink{sink}, Window: 300 * time.Millisecond, RatePerSource: 1000, Burst: 1000})
	for i := 0; i < 4; i++ {
		getURL(t, webBugURL(s, tok))
	}
	rc.alertFor(t, tok.ID, KindFirst)
	if a := rc.alertFor(t, tok.ID, KindRepeat); a.Count != 3 {
		t.Errorf("repeat count %d, want 3", a.Count)
	}
	waitFor(t, "deliveries recorded", func() bool {
		as, _ := r.Alerts(ctx, AlertFilter{TokenID: tok.ID})
		return len(as) == 2 && len(as[0].Delivered) == 1 && len(as[1].Delivered) == 1
	})
	rec := NewRecorder(r)
	h := Hit{TokenID: tok.ID, Time: time.Now(), Channel: "cloudtrail", Source: "x", Summary: "y"}
	for i := 0; i < 2; i++ {
		if err := rec.Store(ctx, []Hit{h}, []string{"cloudtrail:e1:" + tok.ID}); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := r.HitCount(ctx, tok.ID); n != 5 {
		t.Errorf("%d hits, want 5 (4 HTTP + 1 deduplicated)", n)
	}
	if err := r.Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if ids, _ := r.db.HoneytokenIDs(ctx, []string{r.Fingerprint(tok.Material.Label)}); len(ids) != 0 {
		t.Error("revoked token still indexed")
	}
}
