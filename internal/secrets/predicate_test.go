package secrets

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestScanTreePredicate(t *testing.T) {
	dir := t.TempDir()
	tok := "glpat-" + "Ab3dE6gH9jK2mN5pQ8sT"
	os.WriteFile(filepath.Join(dir, "clean.txt"), []byte("nothing here\n"), 0o644)
	p, err := ScanTree(context.Background(), dir, []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Verdict != "pass" || len(p.Findings) != 0 {
		t.Fatalf("clean tree: %+v", p)
	}
	os.MkdirAll(filepath.Join(dir, "deploy"), 0o755)
	os.WriteFile(filepath.Join(dir, "deploy", "ci.env"), []byte("A=1\nGITLAB_TOKEN="+tok+"\n"), 0o644)
	p, err = ScanTree(context.Background(), dir, []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Verdict != "fail" || len(p.Findings) != 1 {
		t.Fatalf("leaky tree: %+v", p)
	}
	f := p.Findings[0]
	if f.Rule != "gitlab-pat" || f.Path != "deploy/ci.env" || f.Line != 2 || f.Fingerprint == "" {
		t.Errorf("finding %+v", f)
	}
	b, _ := json.Marshal(p)
	if strings.Contains(string(b), tok) {
		t.Fatal("predicate holds the secret in clear")
	}
	// A .gitleaks.toml at the root replaces the default rules.
	os.WriteFile(filepath.Join(dir, ".gitleaks.toml"), []byte("[[rules]]\nid = \"only-this\"\nregex = '''NEVERMATCHES[0-9]{40}'''\nkeywords = [\"nevermatches\"]\n"), 0o644)
	if p, err = ScanTree(context.Background(), dir, []byte("k")); err != nil || p.Verdict != "pass" || p.Scanner.Ruleset != ".gitleaks.toml" {
		t.Errorf("repo config not used: %+v %v", p, err)
	}
	// A broken config fails closed.
	os.WriteFile(filepath.Join(dir, ".gitleaks.toml"), []byte("[[rules]]\nid = \"x\"\nregex = '''('''\n"), 0o644)
	if _, err = ScanTree(context.Background(), dir, []byte("k")); err == nil {
		t.Error("broken config accepted")
	}
}
