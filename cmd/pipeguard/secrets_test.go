package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeguard/pipeguard/internal/home"
	"github.com/pipeguard/pipeguard/internal/store"
	"github.com/pipeguard/pipeguard/internal/testenv"
)

type scanJSON struct {
	Findings []struct {
		Rule        string `json:"rule"`
		Path        string `json:"path"`
		Line        int    `json:"line"`
		Commit      string `json:"commit"`
		Author      string `json:"author"`
		Fingerprint string `json:"fingerprint"`
		Redacted    string `json:"redacted"`
	} `json:"findings"`
	Honeytoken []struct {
		Honeytoken string `json:"honeytoken"`
	} `json:"honeytokenSightings"`
}

// TestSecretsCLIContract checks the command contract: JSON on stdout with
// the required fields, exit 1 on findings, 0 clean, 2 on errors; the
// rotation workflow; and honeytoken sightings not counting as leaks.
func TestSecretsCLIContract(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	t.Setenv(home.EnvPassword, "test-password")
	h := t.TempDir()
	token := "ghp_" + "Q7mZ2kP9xW4nR8tL1vB6cY3hJ5dF0gS2aE7u"
	decoy := "glpat-" + "Xr4Tq9LmZ2pW7vKd3Nh8"

	repo := t.TempDir()
	testenv.Git(t, repo, "Alice", "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(repo, "app.env"), []byte("NAME=demo\nGITHUB_TOKEN="+token+"\n"), 0o644)
	testenv.Git(t, repo, "Alice", "add", "-A")
	testenv.Git(t, repo, "Alice", "commit", "-q", "-m", "add env")
	os.Remove(filepath.Join(repo, "app.env"))
	testenv.Git(t, repo, "Alice", "commit", "-q", "-am", "remove env")

	code, out, errOut := cli(t, h, "secrets", "scan", "--git", "--output", "json", repo)
	if code != 1 {
		t.Fatalf("history scan exit %d, want 1; stderr: %s", code, errOut)
	}
	if strings.Contains(out, token) || strings.Contains(errOut, token) {
		t.Fatal("the secret was printed in clear")
	}
	var rep scanJSON
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, out)
	}
	if len(rep.Findings) != 1 {
		t.Fatalf("got %d findings, want 1: %s", len(rep.Findings), out)
	}
	f := rep.Findings[0]
	if f.Rule != "github-pat" || f.Path != "app.env" || f.Line != 2 || len(f.Commit) != 40 || f.Author != "Alice" || len(f.Fingerprint) != 64 || f.Redacted == "" {
		t.Errorf("finding lacks contract fields: %+v", f)
	}

	// The working tree no longer holds it: clean directory scan.
	code, out, _ = cli(t, h, "secrets", "scan", "--output", "json", repo)
	if code != 0 || !strings.Contains(out, `"findings": []`) {
		t.Errorf("clean directory scan: exit %d, output %s", code, out)
	}
	// Usage and config errors exit 2.
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("[[rules]]\nid = \"x\"\nregex = '''(unclosed'''\n"), 0o644)
	if code, _, _ = cli(t, h, "secrets", "scan", "--config", bad, repo); code != 2 {
		t.Errorf("bad config: exit %d, want 2", code)
	}
	if code, _, _ = cli(t, h, "secrets", "scan", "--output", "yaml", repo); code != 2 {
		t.Errorf("bad output format: exit %d, want 2", code)
	}
	// gitleaks-compatible and SARIF reports stay redacted.
	for _, format := range []string{"gitleaks", "sarif", "text"} {
		code, out, _ = cli(t, h, "secrets", "scan", "--git", "--no-store", "-o", format, repo)
		if code != 1 || strings.Contains(out, token) {
			t.Errorf("%s report: exit %d or secret in clear", format, code)
		}
	}

	// Rotation workflow: the finding is tracked as open, by fingerprint.
	code, out, _ = cli(t, h, "secrets", "findings", "list", "-o", "json")
	if code != 0 || !strings.Contains(out, f.Fingerprint) || !strings.Contains(out, `"state": "open"`) {
		t.Fatalf("findings list: exit %d, %s", code, out)
	}
	if code, _, _ = cli(t, h, "secrets", "findings", "overdue", "--sla-high", "1ns"); code != 1 {
		t.Errorf("an open high-severity secret past a 1ns SLA must be overdue (exit 1), got %d", code)
	}
	if code, _, e := cli(t, h, "secrets", "findings", "set-state", f.Fingerprint[:12], "rotated", "--owner", "bob"); code != 0 {
		t.Fatalf("set-state: exit %d: %s", code, e)
	}
	if code, _, _ = cli(t, h, "secrets", "findings", "set-state", f.Fingerprint[:12], "bogus"); code != 2 {
		t.Errorf("unknown state accepted")
	}
	code, out, _ = cli(t, h, "secrets", "findings", "show", f.Fingerprint, "-o", "json")
	if code != 0 || !strings.Contains(out, `"state": "rotated"`) || !strings.Contains(out, `"owner": "bob"`) || !strings.Contains(out, f.Commit) {
		t.Errorf("findings show: exit %d, %s", code, out)
	}
	if code, _, _ = cli(t, h, "secrets", "findings", "overdue", "--sla-high", "1ns"); code != 0 {
		t.Errorf("a rotated secret is not overdue, got exit %d", code)
	}
	// History rewritten (the commit is gone): the secret stays tracked.
	testenv.Git(t, repo, "Alice", "checkout", "-q", "--orphan", "fresh")
	testenv.Git(t, repo, "Alice", "commit", "-q", "--allow-empty", "-m", "fresh start")
	testenv.Git(t, repo, "Alice", "branch", "-D", "main")
	testenv.Git(t, repo, "Alice", "reflog", "expire", "--expire=now", "--all")
	testenv.Git(t, repo, "Alice", "gc", "-q", "--prune=now")
	if code, _, _ = cli(t, h, "secrets", "scan", "--git", repo); code != 0 {
		t.Errorf("rewritten history still has findings (exit %d)", code)
	}
	if code, out, _ = cli(t, h, "secrets", "findings", "show", f.Fingerprint); code != 0 || !strings.Contains(out, "rotated") {
		t.Errorf("tracking lost after rewrite: exit %d %s", code, out)
	}

	// Honeytokens: a planted decoy is a sighting, not a leak.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ci.yml"), []byte("env:\n  GITLAB_TOKEN: "+decoy+"\n"), 0o644)
	code, out, _ = cli(t, h, "secrets", "scan", "--no-store", "-o", "json", dir)
	if code != 1 {
		t.Fatalf("decoy before registration: exit %d", code)
	}
	json.Unmarshal([]byte(out), &rep)
	fp := rep.Findings[0].Fingerprint
	hm, err := home.Open(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), hm.DBPath())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PutHoneytokenFingerprint(context.Background(), fp, "ht-123"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	code, out, _ = cli(t, h, "secrets", "scan", "--no-store", "-o", "json", dir)
	rep = scanJSON{}
	json.Unmarshal([]byte(out), &rep)
	if code != 0 || len(rep.Findings) != 0 || len(rep.Honeytoken) != 1 || rep.Honeytoken[0].Honeytoken != "ht-123" {
		t.Errorf("honeytoken: exit %d, output %s", code, out)
	}
}
