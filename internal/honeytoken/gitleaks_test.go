package honeytoken

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestGitleaksSeesOrdinarySecrets checks that the planted files are
// believable: gitleaks v8.30.1 (a peer tool, found on PATH) reports each
// as an ordinary secret of the right kind.
func TestGitleaksSeesOrdinarySecrets(t *testing.T) {
	bin, err := exec.LookPath("gitleaks")
	if err != nil {
		t.Skip("gitleaks not on PATH (CI: GOBIN=/tmp/peers/bin go install github.com/zricethezav/gitleaks/v8@v8.30.1)")
	}
	want := map[Type][]string{
		TypeAWS:        {"aws-access-token"},
		TypeGitHub:     {"github-pat"},
		TypeNPM:        {"npm-access-token"},
		TypeSlack:      {"slack-bot-token"},
		TypeStripe:     {"stripe-access-token"},
		TypeKubeconfig: {"jwt"},
		TypeDocker:     {"generic-api-key"},
		TypeEnvDB:      {"generic-api-key"},
	}
	r := newTestRegistry(t)
	dir := t.TempDir()
	files := map[string]Type{}
	for typ := range want {
		sub := filepath.Join(dir, string(typ))
		os.Mkdir(sub, 0o700)
		p, err := r.Plant(context.Background(), mustCreate(t, r, allOptions(typ)).ID, sub, false)
		if err != nil {
			t.Fatal(err)
		}
		files[p] = typ
	}
	report := filepath.Join(t.TempDir(), "report.json")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "dir", dir, "--no-banner", "--exit-code", "0", "-f", "json", "-r", report).CombinedOutput()
	if err != nil {
		t.Fatalf("gitleaks: %v\n%s", err, out)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var findings []struct{ RuleID, File string }
	if err := json.Unmarshal(data, &findings); err != nil {
		t.Fatal(err)
	}
	found := map[Type]map[string]bool{}
	for _, f := range findings {
		typ, ok := files[f.File]
		if !ok {
			t.Errorf("finding in unexpected file %s", f.File)
			continue
		}
		if found[typ] == nil {
			found[typ] = map[string]bool{}
		}
		found[typ][f.RuleID] = true
	}
	for typ, rules := range want {
		for _, rule := range rules {
			if !found[typ][rule] {
				t.Errorf("gitleaks did not report %s as %s (found %v)", typ, rule, found[typ])
			}
		}
	}
}
