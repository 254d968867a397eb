package verify

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeguard/pipeguard/internal/policy"
	"github.com/pipeguard/pipeguard/internal/testenv"
	"github.com/pipeguard/pipeguard/internal/trustroot"
)

const ghIssuer = "https://token.actions.githubusercontent.com"

// fileSubject hashes a test file the way the CLI does.
func fileSubject(t *testing.T, path string) Subject {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s256, s512 := sha256.Sum256(data), sha512.Sum512(data)
	return Subject{Name: filepath.Base(path), Digests: map[string]string{
		"sha256": hex.EncodeToString(s256[:]), "sha512": hex.EncodeToString(s512[:]),
	}}
}

func judge(t *testing.T, policyYAML string, subject Subject, files ...string) *Report {
	t.Helper()
	pol, err := policy.Parse([]byte(policyYAML))
	if err != nil {
		t.Fatalf("policy: %v\n%s", err, policyYAML)
	}
	tr, err := trustroot.PublicGood()
	if err != nil {
		t.Fatal(err)
	}
	v, err := New(pol, WithTrustedRoot(tr))
	if err != nil {
		t.Fatal(err)
	}
	var in []Input
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		in = append(in, Input{Name: filepath.Base(f), Data: data})
	}
	r, err := v.VerifyInputs(context.Background(), subject, in)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return r
}

func expect(t *testing.T, r *Report, accept bool, reason string) {
	t.Helper()
	if r.Passed != accept {
		t.Fatalf("passed = %v, want %v; failures: %v", r.Passed, accept, r.Failures)
	}
	if !accept && reason != "" {
		for _, f := range r.Failures {
			if strings.Contains(f.String(), reason) {
				return
			}
		}
		t.Fatalf("no failure mentions %q: %v", reason, r.Failures)
	}
}

// keylessBuilder is a policy trusting one GitHub workflow as a builder.
func keylessBuilder(builderID, refs, sanRegexp, extra string) string {
	return fmt.Sprintf(`apiVersion: pipeguard.dev/policy/v1
signers:
  builders:
    - id: %q
      refs: %s
      slsaBuildLevel: 3
      identities:
        - subjectRegexp: %q
          issuer: %q
require:
  attestations:
    - type: https://slsa.dev/provenance/v1
%s`, builderID, refs, sanRegexp, ghIssuer, extra)
}

// TestSLSAVerifierBCR replays slsa-verifier's bcr regression cases: Sigstore
// bundles v0.3 with keyless GitHub Actions provenance.
func TestSLSAVerifierBCR(t *testing.T) {
	dir := testenv.Dir(t, "attest", "slsa-verifier", "bcr")
	const (
		publish = "https://github.com/bazel-contrib/publish-to-bcr/.github/workflows/publish.yaml"
		ruleset = "https://github.com/bazel-contrib/.github/.github/workflows/release_ruleset.yaml"
		source  = "  source:\n    repository: github.com/aspect-build/rules_lint\n"
	)
	pol := func(id string) string {
		return keylessBuilder(id, `["refs/tags/*"]`, "^"+strings.ReplaceAll(id, ".", `\.`)+"@refs/tags/.*$", source)
	}
	module := filepath.Join(dir, "MODULE.bazel")
	tarball := filepath.Join(dir, "rules_lint-v1.3.1.tar.gz")
	wrong := filepath.Join(dir, "MODULE-wrong-signer.bazel")
	tests := []struct {
		name     string
		policy   string
		artifact string
		bundle   string
		accept   bool
		reason   string
	}{
		{"MODULE.bazel", pol(publish), module, module + ".intoto.jsonl", true, ""},
		{"tarball", pol(ruleset), tarball, tarball + ".intoto.jsonl", true, ""},
		{"wrong signer", pol(publish), wrong, wrong + ".intoto.jsonl", false, "not signed by any signer the policy trusts"},
		{"MODULE.bazel, other builder trusted", pol(ruleset), module, module + ".intoto.jsonl", false, "not signed by any signer"},
		{"tarball, other builder trusted", pol(publish), tarball, tarball + ".intoto.jsonl", false, "not signed by any signer"},
		{"MODULE.bazel, wrong source", strings.Replace(pol(publish), "rules_lint", "rules_lintX", 1), module, module + ".intoto.jsonl", false, "require.source.repository"},
		{"MODULE.bazel, builder ref not allowed", keylessBuilder(publish, `["refs/heads/*"]`, "^"+strings.ReplaceAll(publish, ".", `\.`)+"@.*$", source), module, module + ".intoto.jsonl", false, "must be the same"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, judge(t, tc.policy, fileSubject(t, tc.artifact), tc.bundle), tc.accept, tc.reason)
		})
	}

	// Even a policy that trusts the malicious workflow as a builder of its
	// own refuses it: its certificate proves it, not the builder its
	// predicate claims, and signer and builder must pair.
	t.Run("wrong signer trusted under its own id", func(t *testing.T) {
		mal := "https://github.com/loosebazooka/aa-test/.github/workflows/malicious_attestation.yaml"
		p := fmt.Sprintf(`apiVersion: pipeguard.dev/policy/v1
signers:
  builders:
    - id: %q
      refs: ["refs/*"]
      slsaBuildLevel: 3
      identities:
        - subjectRegexp: %q
          issuer: %q
require:
  attestations:
    - type: https://slsa.dev/provenance/v1
`, mal, "^"+strings.ReplaceAll(mal, ".", `\.`)+"@.*$", ghIssuer)
		expect(t, judge(t, p, fileSubject(t, wrong), wrong+".intoto.jsonl"), false, "the signer and the builder it claims must be the same")
	})
}

// TestSLSAVerifierContainerBased replays slsa-verifier's container-based
// builder cases (bundle v0.2, intoto/0.0.2 log entry).
func TestSLSAVerifierContainerBased(t *testing.T) {
	dir := testenv.Dir(t, "attest", "slsa-verifier", "gha_container-based-v2.1.0")
	artifact := filepath.Join(dir, "binary-linux-amd64-workflow_dispatch")
	bundle := artifact + ".intoto.build.slsa"
	const (
		builder = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/builder_container-based_slsa3.yml"
		san     = `^https://github\.com/slsa-framework/slsa-github-generator/\.github/workflows/builder_container-based_slsa3\.yml@refs/tags/v2\.1\.0$`
	)
	withSource := func(repo, refs string) string {
		s := "  source:\n    repository: " + repo + "\n"
		if refs != "" {
			s += "    refs: " + refs + "\n"
		}
		return s
	}
	src := "github.com/slsa-framework/example-package"
	tests := []struct {
		name, builderID, builderRefs, source string
		accept                               bool
		reason                               string
	}{
		{"builder id, any tag", builder, `["refs/tags/*"]`, withSource(src, ""), true, ""},
		{"builder id @v2.1.0", builder + "@v2.1.0", "[]", withSource(src, ""), true, ""},
		{"builder id @refs/tags/v2.1.0", builder + "@refs/tags/v2.1.0", "[]", withSource(src, ""), true, ""},
		{"branch main", builder, `["refs/tags/*"]`, withSource(src, `["refs/heads/main"]`), true, ""},
		{"branch main short form", builder, `["refs/tags/*"]`, withSource(src, `["main"]`), true, ""},
		{"builder id without ref permission", builder, "[]", withSource(src, ""), false, "must be the same"},
		{"builder id pinned to another tag", builder + "@v2.0.0", "[]", withSource(src, ""), false, "must be the same"},
		{"untrusted builder", "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/not-trusted.yml", `["refs/tags/*"]`, withSource(src, ""), false, "must be the same"},
		{"source tag v1.2.3", builder, `["refs/tags/*"]`, withSource(src, `["refs/tags/v1.2.3"]`), false, "require.source.refs"},
		{"source versioned tag v1", builder, `["refs/tags/*"]`, withSource(src, `["refs/tags/v1", "refs/tags/v1.*"]`), false, "require.source.refs"},
		{"branch master", builder, `["refs/tags/*"]`, withSource(src, `["refs/heads/master"]`), false, "require.source.refs"},
		{"source suffix", builder, `["refs/tags/*"]`, withSource(src+"A", ""), false, "require.source.repository"},
		{"source prefix", builder, `["refs/tags/*"]`, withSource("Agithub.com/slsa-framework/example-package", ""), false, "require.source.repository"},
		{"source org prefix", builder, `["refs/tags/*"]`, withSource("github.com/Aslsa-framework/example-package", ""), false, "require.source.repository"},
		{"source under another host", builder, `["refs/tags/*"]`, withSource("evil.com/github.com/slsa-framework/example-package", ""), false, "require.source.repository"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := keylessBuilder(tc.builderID, tc.builderRefs, san, tc.source)
			expect(t, judge(t, p, fileSubject(t, artifact), bundle), tc.accept, tc.reason)
		})
	}
}

// TestVSA replays slsa-verifier's VSA cases: a bare DSSE envelope with a
// raw r||s signature whose key id must match.
func TestVSA(t *testing.T) {
	dir := testenv.Dir(t, "attest", "slsa-verifier", "vsa")
	key := filepath.Join(dir, "vsa_signing_public_key.pem")
	vsa := filepath.Join(dir, "gke-gce-pre.bcid-vsa.jsonl")
	subject := Subject{Digests: map[string]string{"gce_image_id": "8970095005306000053"}}
	pol := func(keyID, levels, resource string) string {
		return fmt.Sprintf(`apiVersion: pipeguard.dev/policy/v1
signers:
  verifiers:
    - id: https://bcid.corp.google.com/verifier/bcid_package_enforcer/v0.1
      keys:
        - path: %q
%s
require:
  attestations:
    - type: https://slsa.dev/verification_summary/v1
  verifiedLevels: %s
  resourceURI: %q
`, key, keyID, levels, resource)
	}
	const (
		goodID   = `          keyID: "keystore://76574:prod:vsa_signing_public_key"`
		resource = "gce_image://gke-node-images:gke-12615-gke1418000-cos-101-17162-463-29-c-cgpv1-pre"
		levels   = `["BCID_L1", "SLSA_BUILD_LEVEL_2"]`
	)
	tests := []struct {
		name    string
		policy  string
		subject Subject
		accept  bool
		reason  string
	}{
		{"success", pol(goodID, levels, resource), subject, true, ""},
		{"empty key id", pol(`          keyID: ""`, levels, resource), subject, false, "no valid signature"},
		{"wrong key id", pol(`          keyID: "my_key_id"`, levels, resource), subject, false, "no valid signature"},
		{"missing level", pol(goodID, `["BCID_L2"]`, resource), subject, false, "require.verifiedLevels"},
		{"wrong resource", pol(goodID, levels, "gce_image://other"), subject, false, "require.resourceURI"},
		{"wrong subject", pol(goodID, levels, resource), Subject{Digests: map[string]string{"gce_image_id": "1"}}, false, "names subject"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, judge(t, tc.policy, tc.subject, vsa), tc.accept, tc.reason)
		})
	}
}

// TestSigstoreGoProvenance verifies sigstore-go's example: a bundle v0.1
// with a Statement v0.1 and SLSA provenance v0.2, subject by sha512.
func TestSigstoreGoProvenance(t *testing.T) {
	f := testenv.Dir(t, "attest", "sigstore-public-good", "sigstore-go-bundle-provenance.json")
	subject := Subject{Name: "pkg:npm/sigstore@1.3.0", Digests: map[string]string{"sha512": "76176ffa33808b54602c7c35de5c6e9a4deb96066dba6533f50ac234f4f1f4c6b3527515dc17c06fbe2860030f410eee69ea20079bd3a2c6f3dcf3b329b10751"}}
	p := func(san, repo string) string {
		return fmt.Sprintf(`apiVersion: pipeguard.dev/policy/v1
signers:
  builders:
    - id: https://github.com/actions/runner
      identities:
        - subject: %q
          issuer: %q
require:
  attestations:
    - type: https://slsa.dev/provenance/v0.2
  source:
    repository: %q
    refs: ["refs/heads/main"]
`, san, ghIssuer, repo)
	}
	const san = "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main"
	expect(t, judge(t, p(san, "github.com/sigstore/sigstore-js"), subject, f), true, "")
	expect(t, judge(t, p(san+"x", "github.com/sigstore/sigstore-js"), subject, f), false, "not signed by any signer")
	expect(t, judge(t, p(san, "github.com/sigstore/sigstore-jsx"), subject, f), false, "require.source.repository")
}

// TestWitnessCollection verifies go-witness's attestation collection: a
// bare DSSE envelope signed with Ed25519 carrying a Statement v0.1.
func TestWitnessCollection(t *testing.T) {
	dir := testenv.Dir(t, "attest", "witness")
	p := fmt.Sprintf(`apiVersion: pipeguard.dev/policy/v1
signers:
  attestors:
    - id: witness-test
      keys:
        - path: %q
require:
  attestations:
    - type: https://witness.testifysec.com/attestation-collection/v0.1
`, filepath.Join(dir, "testpub.pem"))
	good := Subject{Digests: map[string]string{"sha256": "54c5b3dd459d5ef778bb2fa1e23a5fb0e1b62ae66970bcb436e8f81a1a1a8e41"}}
	expect(t, judge(t, p, good, filepath.Join(dir, "cdx-att.json")), true, "")
	bad := Subject{Digests: map[string]string{"sha256": strings.Repeat("0", 64)}}
	expect(t, judge(t, p, bad, filepath.Join(dir, "cdx-att.json")), false, "names subject")
}
