package honeytoken

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestIngestSightings(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t)
	gh := mustCreate(t, r, allOptions(TypeGitHub))
	planted, err := r.Plant(ctx, gh.ID, t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	fp := r.Fingerprint(gh.Material.Value)
	report := func(ss ...map[string]any) string {
		b, _ := json.Marshal(map[string]any{"findings": []any{}, "honeytokenSightings": ss})
		return string(b)
	}
	rec := NewRecorder(r, WithWindow(time.Minute))
	now := time.Now()

	// Seen where it was planted: no alert.
	res, err := rec.IngestSightings(ctx, strings.NewReader(report(map[string]any{"honeytoken": gh.ID, "fingerprint": fp, "rule": "github-pat", "path": ".env", "line": 3})), now)
	if err != nil || res.Planted != 1 || res.Exposed != 0 {
		t.Fatalf("planted sighting: %+v %v (planted at %s)", res, err, planted)
	}
	// Seen in a commit of another repository: exposure alert.
	exposed := map[string]any{"honeytoken": gh.ID, "fingerprint": fp, "rule": "github-pat", "path": "deploy/ci.yml", "line": 12, "commit": "abc123", "author": "mallory", "source": "git"}
	res, err = rec.IngestSightings(ctx, strings.NewReader(report(exposed)), now)
	if err != nil || res.Exposed != 1 {
		t.Fatalf("exposed sighting: %+v %v", res, err)
	}
	as, _ := r.Alerts(ctx, AlertFilter{TokenID: gh.ID})
	if len(as) != 1 || as[0].Channel != "scanner" || !strings.Contains(as[0].Summary, "deploy/ci.yml:12") || strings.Contains(as[0].Summary, gh.Material.Value) {
		t.Fatalf("alerts %+v", as)
	}
	// Again: deduplicated.
	rec.IngestSightings(ctx, strings.NewReader(report(exposed)), now)
	if n, _ := r.HitCount(ctx, gh.ID); n != 1 {
		t.Errorf("re-ingest stored %d hits, want 1", n)
	}
	// A report naming a token with a fingerprint that is not its own is
	// ignored (forged or from another home).
	res, _ = rec.IngestSightings(ctx, strings.NewReader(report(map[string]any{"honeytoken": gh.ID, "fingerprint": strings.Repeat("0", 64), "path": "x", "line": 1})), now)
	if res.Unverified != 1 || res.Exposed != 0 {
		t.Errorf("forged sighting: %+v", res)
	}
	for _, bad := range []string{`not json`, `{"findings": []}`, `{"honeytokenSightings": 3}`} {
		if _, err := rec.IngestSightings(ctx, strings.NewReader(bad), now); err == nil {
			t.Errorf("report %q accepted", bad)
		}
	}
}
