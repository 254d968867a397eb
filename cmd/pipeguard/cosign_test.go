package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cosignBin finds the real cosign (CI installs v3.1.3) or skips.
func cosignBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("COSIGN"); p != "" {
		return p
	}
	p, err := exec.LookPath("cosign")
	if err != nil {
		t.Skip("cosign not on PATH: install it with `go install github.com/sigstore/cosign/v3/cmd/cosign@v3.1.3` to run the interoperability tests")
	}
	return p
}

func runCosign(t *testing.T, bin, dir string, wantOK bool, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=interop-pw", "COSIGN_YES=true")
	out, err := cmd.CombinedOutput()
	if (err == nil) != wantOK {
		t.Fatalf("cosign %s: err=%v, want ok=%v\n%s", strings.Join(args, " "), err, wantOK, out)
	}
	return string(out)
}

const slsaPredicate = `{"buildDefinition":{"buildType":"https://pipeguard.dev/buildtypes/sandbox/v1",
 "externalParameters":{"source":{"uri":"git+https://github.com/acme/app","ref":"refs/heads/main"}},
 "internalParameters":{"slsaBuildLevel":3}},
 "runDetails":{"builder":{"id":"https://pipeguard.dev/builders/local/v1"},"metadata":{"finishedOn":"2026-11-28T00:00:00Z"}}}`

// TestCosignInterop checks, with the real cosign binary, that each tool
// accepts what the other writes: bundles, attestations and encrypted keys.
func TestCosignInterop(t *testing.T) {
	cosign := cosignBin(t)
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	t.Setenv("PIPEGUARD_PASSWORD", "interop-pw")
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	art := write("artifact.txt", "hello, interop\n")
	other := write("other.txt", "not the artifact\n")
	pred := write("pred.json", slsaPredicate)

	// pipeguard's encrypted key, in cosign's format.
	mustCLI(t, 0, home, "key", "generate", "--out", filepath.Join(dir, "pg"))
	pgKey, pgPub := filepath.Join(dir, "pg.key"), filepath.Join(dir, "pg.pub")
	// cosign's encrypted key.
	runCosign(t, cosign, dir, true, "generate-key-pair")
	csKey, csPub := filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	offline := []string{"--use-signing-config=false", "--tlog-upload=false"}

	t.Run("cosign verifies pipeguard sign-blob", func(t *testing.T) {
		b := filepath.Join(dir, "pg-blob.json")
		mustCLI(t, 0, home, "sign-blob", "--key", pgKey, "--bundle", b, art)
		runCosign(t, cosign, dir, true, "verify-blob", "--key", pgPub, "--bundle", b, "--insecure-ignore-tlog", art)
		runCosign(t, cosign, dir, false, "verify-blob", "--key", pgPub, "--bundle", b, "--insecure-ignore-tlog", other)
		runCosign(t, cosign, dir, false, "verify-blob", "--key", csPub, "--bundle", b, "--insecure-ignore-tlog", art)
	})
	t.Run("cosign verifies pipeguard attest", func(t *testing.T) {
		b := filepath.Join(dir, "pg-att.json")
		mustCLI(t, 0, home, "attest", "--key", pgKey, "--type", "https://slsa.dev/provenance/v1", "--predicate", pred, "--bundle", b, art)
		runCosign(t, cosign, dir, true, "verify-blob-attestation", "--key", pgPub, "--bundle", b, "--type", "https://slsa.dev/provenance/v1", "--insecure-ignore-tlog", art)
		runCosign(t, cosign, dir, false, "verify-blob-attestation", "--key", pgPub, "--bundle", b, "--type", "https://slsa.dev/provenance/v1", "--insecure-ignore-tlog", other)
	})
	t.Run("cosign signs with pipeguard's encrypted key", func(t *testing.T) {
		b := filepath.Join(dir, "cs-with-pg-key.json")
		runCosign(t, cosign, dir, true, append([]string{"sign-blob", "--key", pgKey, "--bundle", b}, append(offline, art)...)...)
		mustCLI(t, 0, home, "verify-bundle", "--bundle", b, "--key", pgPub, art)
	})
	t.Run("pipeguard verifies cosign sign-blob", func(t *testing.T) {
		b := filepath.Join(dir, "cs-blob.json")
		runCosign(t, cosign, dir, true, append([]string{"sign-blob", "--key", csKey, "--bundle", b}, append(offline, art)...)...)
		mustCLI(t, 0, home, "verify-bundle", "--bundle", b, "--key", csPub, art)
		mustCLI(t, 1, home, "verify-bundle", "--bundle", b, "--key", csPub, other)
		mustCLI(t, 1, home, "verify-bundle", "--bundle", b, "--key", pgPub, art)
	})
	t.Run("pipeguard signs with cosign's encrypted key", func(t *testing.T) {
		b := filepath.Join(dir, "pg-with-cs-key.json")
		mustCLI(t, 0, home, "sign-blob", "--key", csKey, "--bundle", b, art)
		runCosign(t, cosign, dir, true, "verify-blob", "--key", csPub, "--bundle", b, "--insecure-ignore-tlog", art)
	})
	t.Run("pipeguard verifies cosign attest-blob against a policy", func(t *testing.T) {
		b := filepath.Join(dir, "cs-att.json")
		runCosign(t, cosign, dir, true, append([]string{"attest-blob", "--key", csKey, "--predicate", pred, "--type", "https://slsa.dev/provenance/v1", "--bundle", b}, append(offline, art)...)...)
		policy := filepath.Join(dir, "policy.yaml")
		out := mustCLI(t, 0, home, "policy", "init", "--trust-key", csPub, "--builder-id", "https://pipeguard.dev/builders/local/v1", "--source", "github.com/acme/app")
		if err := os.WriteFile(policy, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		mustCLI(t, 0, home, "verify", art, "--policy", policy, "--bundle", b)
		mustCLI(t, 1, home, "verify", other, "--policy", policy, "--bundle", b)
		// The same policy trusting pipeguard's key instead refuses it.
		out = mustCLI(t, 0, home, "policy", "init", "--trust-key", pgPub, "--builder-id", "https://pipeguard.dev/builders/local/v1", "--source", "github.com/acme/app")
		if err := os.WriteFile(policy, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := mustCLI(t, 1, home, "verify", art, "--policy", policy, "--bundle", b); !strings.Contains(got, "not signed by any signer the policy trusts") {
			t.Fatalf("refusal does not say why: %s", got)
		}
	})
}
