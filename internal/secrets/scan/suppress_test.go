package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestSuppression covers the ways to silence a finding: a pipeguard
// baseline (by fingerprint, so moved lines stay silent), a gitleaks
// baseline, .gitleaksignore ids, .pipeguardignore fingerprints (a new
// secret on the same line still fires) and inline allow comments.
func TestSuppression(t *testing.T) {
	dir := t.TempDir()
	tokA := "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
	tokB := "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"
	tokC := "ghp_" + "M4n5B6v7C8x9Z0a1S2d3F4g5H6j7K8l9Q0w1"
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.env", "A="+tokA+"\n")
	write("b.env", "B="+tokB+"\n")
	run := func(req Request) []string {
		t.Helper()
		req.Source, req.Path, req.FingerprintKey, req.MaxDecodeDepth = SourceDir, dir, []byte("k"), 5
		rep, err := Run(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range rep.Findings {
			out = append(out, f.Path)
		}
		return out
	}
	all, err := Run(context.Background(), Request{Source: SourceDir, Path: dir, FingerprintKey: []byte("k"), MaxDecodeDepth: 5})
	if err != nil || len(all.Findings) != 2 {
		t.Fatalf("baseline scan: %v, %d findings", err, len(all.Findings))
	}
	base := filepath.Join(t.TempDir(), "base.json")
	var buf bytes.Buffer
	all.Findings = all.Findings[:1] // only a.env in the baseline
	all.WriteJSON(&buf)
	os.WriteFile(base, buf.Bytes(), 0o644)

	// The line moves: a fingerprint baseline still silences it.
	write("a.env", "# moved\n\nA="+tokA+"\n")
	if got := run(Request{Baseline: base}); len(got) != 1 || got[0] != "b.env" {
		t.Errorf("pipeguard baseline: %v", got)
	}
	// gitleaks baseline: matched on rule, file, commit and lines.
	gl, _ := json.Marshal([]map[string]any{{"RuleID": "github-pat", "File": "b.env", "StartLine": 1, "EndLine": 1, "Commit": ""}})
	glPath := filepath.Join(t.TempDir(), "gl.json")
	os.WriteFile(glPath, gl, 0o644)
	if got := run(Request{Baseline: glPath}); len(got) != 1 || got[0] != "a.env" {
		t.Errorf("gitleaks baseline: %v", got)
	}
	// A corrupt baseline is an error, not silence.
	os.WriteFile(glPath, []byte("not json"), 0o644)
	if _, err := Run(context.Background(), Request{Source: SourceDir, Path: dir, FingerprintKey: []byte("k"), Baseline: glPath}); err == nil {
		t.Error("corrupt baseline accepted")
	}
	// .gitleaksignore with a gitleaks id.
	write(".gitleaksignore", "# comment\nb.env:github-pat:1\n")
	if got := run(Request{}); len(got) != 1 || got[0] != "a.env" {
		t.Errorf(".gitleaksignore: %v", got)
	}
	os.Remove(filepath.Join(dir, ".gitleaksignore"))
	// .pipeguardignore with a fingerprint: that secret is silent anywhere,
	// a new secret on the same line is not.
	write(".pipeguardignore", "fingerprint:"+all.Findings[0].Fingerprint+"\n")
	if got := run(Request{}); len(got) != 1 || got[0] != "b.env" {
		t.Errorf(".pipeguardignore: %v", got)
	}
	write("a.env", "# moved\n\nA="+tokC+"\n")
	if got := run(Request{}); len(got) != 2 {
		t.Errorf("new secret on an ignored line must fire: %v", got)
	}
	os.Remove(filepath.Join(dir, ".pipeguardignore"))
	// Inline allow comments.
	write("a.env", "A="+tokA+" # pipeguard:allow\n")
	write("b.env", "B="+tokB+" # gitleaks:allow\n")
	if got := run(Request{}); len(got) != 0 {
		t.Errorf("inline allow: %v", got)
	}
}
