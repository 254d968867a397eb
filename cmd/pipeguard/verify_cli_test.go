package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeguard/pipeguard/internal/testenv"
)

// TestVerifyEnvelopeCLI drives the DSSE spec vector through the command.
func TestVerifyEnvelopeCLI(t *testing.T) {
	dir := testenv.Dir(t, "attest", "dsse-spec")
	key := filepath.Join(dir, "dsse-vector.pub.pem")
	tests := []struct {
		args []string
		want int
	}{
		{[]string{"--key", key, filepath.Join(dir, "dsse-vector.envelope.json")}, 0},
		{[]string{"--key", key, "--key-id", "66301bbf", filepath.Join(dir, "dsse-vector.envelope.json")}, 0},
		{[]string{"--key", key, "--key-id", "", filepath.Join(dir, "dsse-vector.envelope.json")}, 1},
		{[]string{"--key", key, filepath.Join(dir, "dsse-vector.tampered-type.json")}, 1},
		{[]string{"--key", key, filepath.Join(dir, "dsse-vector.tampered-payload.json")}, 1},
		{[]string{"--key", key, filepath.Join(dir, "missing.json")}, 2},
		{[]string{"--key", filepath.Join(dir, "dsse-vector.envelope.json"), filepath.Join(dir, "dsse-vector.envelope.json")}, 2},
		{[]string{filepath.Join(dir, "dsse-vector.envelope.json")}, 2},
	}
	for _, tc := range tests {
		code, _, stderr := cli(t, t.TempDir(), append([]string{"verify-envelope"}, tc.args...)...)
		if code != tc.want {
			t.Errorf("verify-envelope %v: exit %d, want %d (%s)", tc.args, code, tc.want, stderr)
		}
	}
}

// TestVerifyVSAByDigest judges a non-file subject (a GCE image id) by the
// slsa-verifier VSA, and shows the exit codes of verify.
func TestVerifyVSAByDigest(t *testing.T) {
	dir := testenv.Dir(t, "attest", "slsa-verifier", "vsa")
	work := t.TempDir()
	pol := filepath.Join(work, "policy.yaml")
	write := func(keyID string) {
		p := `apiVersion: pipeguard.dev/policy/v1
signers:
  verifiers:
    - id: https://bcid.corp.google.com/verifier/bcid_package_enforcer/v0.1
      keys:
        - path: ` + filepath.Join(dir, "vsa_signing_public_key.pem") + `
          keyID: "` + keyID + `"
require:
  attestations:
    - type: https://slsa.dev/verification_summary/v1
  verifiedLevels: ["BCID_L1", "SLSA_BUILD_LEVEL_2"]
  resourceURI: gce_image://gke-node-images:gke-12615-gke1418000-cos-101-17162-463-29-c-cgpv1-pre
`
		if err := os.WriteFile(pol, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vsa := filepath.Join(dir, "gke-gce-pre.bcid-vsa.jsonl")
	write("keystore://76574:prod:vsa_signing_public_key")
	if code, out, e := cli(t, work, "verify", "--subject-digest", "gce_image_id:8970095005306000053", "--policy", pol, "--bundle", vsa); code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, e)
	}
	code, out, _ := cli(t, work, "verify", "--subject-digest", "gce_image_id:1", "--policy", pol, "--bundle", vsa, "--output", "json")
	if code != 1 || !strings.Contains(out, `"passed": false`) {
		t.Fatalf("wrong subject: exit %d, %s", code, out)
	}
	write("my_key_id")
	if code, out, _ := cli(t, work, "verify", "--subject-digest", "gce_image_id:8970095005306000053", "--policy", pol, "--bundle", vsa); code != 1 || !strings.Contains(out, "no valid signature") {
		t.Fatalf("wrong key id: exit %d, %s", code, out)
	}
	// Unreadable input and a broken policy are errors (exit 2), not refusals.
	if code, _, _ := cli(t, work, "verify", "--subject-digest", "gce_image_id:1", "--policy", pol, "--bundle", filepath.Join(work, "nope")); code != 2 {
		t.Fatalf("missing bundle: exit %d", code)
	}
	if err := os.WriteFile(pol, []byte("apiVersion: pipeguard.dev/policy/v1\nsurprise: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := cli(t, work, "verify", "--subject-digest", "gce_image_id:1", "--policy", pol, "--bundle", vsa); code != 2 {
		t.Fatalf("bad policy: exit %d", code)
	}
}
