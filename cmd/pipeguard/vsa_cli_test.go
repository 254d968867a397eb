package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeguard/pipeguard/internal/testenv"
)

// TestVSARoundTrip: verify writes a VSA on pass; a policy that trusts the
// verifier's key accepts that VSA alone, in place of a full evaluation,
// and refuses it for another artifact or from an untrusted key.
func TestVSARoundTrip(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	art, other := write("app", "the app\n"), write("other", "another\n")
	pub := write("home.pub", mustCLI(t, 0, home, "key", "public"))
	pred := write("pred.json", slsaPredicate)
	prov := filepath.Join(dir, "prov.json")
	mustCLI(t, 0, home, "attest", "--type", "https://slsa.dev/provenance/v1", "--predicate", pred, "--bundle", prov, art)
	pol := write("policy.yaml", mustCLI(t, 0, home, "policy", "init", "--trust-key", pub, "--builder-id", "https://pipeguard.dev/builders/local/v1", "--source", "github.com/acme/app"))
	vsa := filepath.Join(dir, "app.vsa.json")
	mustCLI(t, 0, home, "verify", art, "--policy", pol, "--bundle", prov, "--vsa-out", vsa, "--verifier-id", "https://pipeguard.dev/verifiers/ci/v1")

	// The deploy gate's policy: it trusts only the verifier.
	gate := write("gate.yaml", `apiVersion: pipeguard.dev/policy/v1
signers:
  verifiers:
    - id: https://pipeguard.dev/verifiers/ci/v1
      keys:
        - path: `+pub+`
require:
  slsaBuildLevel: 3
`)
	out := mustCLI(t, 0, home, "verify", art, "--policy", gate, "--bundle", vsa)
	if !strings.Contains(out, "a trusted VSA") || !strings.Contains(out, "SLSA_BUILD_LEVEL_3") {
		t.Fatalf("pass not by VSA: %s", out)
	}
	mustCLI(t, 1, home, "verify", other, "--policy", gate, "--bundle", vsa)
	// A verifier id other than the one the VSA names does not pair.
	write("gate2.yaml", strings.Replace(readFile(t, gate), "verifiers/ci/v1", "verifiers/prod/v1", 1))
	mustCLI(t, 1, home, "verify", art, "--policy", filepath.Join(dir, "gate2.yaml"), "--bundle", vsa)
	// No VSA is written for a refused artifact.
	refusedVSA := filepath.Join(dir, "other.vsa.json")
	mustCLI(t, 1, home, "verify", other, "--policy", pol, "--bundle", prov, "--vsa-out", refusedVSA)
	if _, err := os.Stat(refusedVSA); err == nil {
		t.Fatal("a VSA was written for a refused artifact")
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestTrustedRootUpdate: a valid root is installed and used; an invalid
// one is refused and replaces nothing.
func TestTrustedRootUpdate(t *testing.T) {
	conf := testenv.Dir(t, "attest", "sigstore-conformance")
	home := filepath.Join(t.TempDir(), "home")
	// rekor2-happy-path verifies only with its own root, not the embedded one.
	cd := filepath.Join(conf, "rekor2-happy-path")
	args := []string{"verify-bundle", "--bundle", filepath.Join(cd, "bundle.sigstore.json"),
		"--certificate-identity", conformanceIdentity, "--certificate-oidc-issuer", conformanceIssuer, filepath.Join(conf, "a.txt")}
	if code, _, _ := cli(t, home, args...); code != 1 {
		t.Fatalf("verified with the embedded root: exit %d", code)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"mediaType":"nope"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := cli(t, home, "trusted-root", "update", "--from", bad); code != 2 {
		t.Fatalf("invalid root: exit %d, want 2", code)
	}
	if _, err := os.Stat(filepath.Join(home, "trusted_root.json")); err == nil {
		t.Fatal("an invalid root was installed")
	}
	if code, _, e := cli(t, home, "trusted-root", "update", "--from", filepath.Join(cd, "trusted_root.json")); code != 0 {
		t.Fatalf("valid root: exit %d: %s", code, e)
	}
	if code, _, e := cli(t, home, args...); code != 0 {
		t.Fatalf("the installed root is not used: exit %d: %s", code, e)
	}
}
