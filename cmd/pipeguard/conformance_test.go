package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeguard/pipeguard/internal/testenv"
)

// Default identity and issuer of the sigstore-conformance suite.
const (
	conformanceIdentity = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
	conformanceIssuer   = "https://token.actions.githubusercontent.com"
)

// TestSigstoreConformance drives every bundle-verify case of the
// sigstore-conformance suite through `pipeguard verify-bundle` exactly as
// the suite's harness does: a case whose directory ends in _fail must be
// refused, every other one accepted.
func TestSigstoreConformance(t *testing.T) {
	dir := testenv.Dir(t, "attest", "sigstore-conformance")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	cases, passed := 0, 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		cases++
		name := e.Name()
		ok := t.Run(name, func(t *testing.T) {
			cd := filepath.Join(dir, name)
			args := []string{"verify-bundle", "--bundle", filepath.Join(cd, "bundle.sigstore.json")}
			if exists(filepath.Join(cd, "key.pub")) {
				args = append(args, "--key", filepath.Join(cd, "key.pub"))
			} else {
				args = append(args,
					"--certificate-identity", readOr(filepath.Join(cd, "identity"), conformanceIdentity),
					"--certificate-oidc-issuer", readOr(filepath.Join(cd, "issuer"), conformanceIssuer))
			}
			if exists(filepath.Join(cd, "trusted_root.json")) {
				args = append(args, "--trusted-root", filepath.Join(cd, "trusted_root.json"))
			}
			artifact := filepath.Join(dir, "a.txt")
			if exists(filepath.Join(cd, "artifact")) {
				artifact = filepath.Join(cd, "artifact")
			}
			args = append(args, artifact)
			code, _, stderr := cli(t, home, args...)
			wantFail := strings.HasSuffix(name, "_fail")
			switch {
			case wantFail && code == 0:
				t.Errorf("accepted a bundle the suite says must be refused")
			case !wantFail && code != 0:
				t.Errorf("refused a valid bundle (exit %d): %s", code, stderr)
			}
		})
		if ok {
			passed++
		}
	}
	t.Logf("sigstore-conformance: %d/%d cases give the expected answer", passed, cases)
	if cases != 70 {
		t.Errorf("found %d conformance cases, the suite has 70", cases)
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func readOr(p, def string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return def
	}
	return strings.TrimSpace(string(b))
}
