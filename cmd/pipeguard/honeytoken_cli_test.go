package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeguard/pipeguard/internal/testenv"
)

// TestIngestCloudTrailCLI: a CloudTrail batch in which a registered canary
// key was used exits 1 and names the hits; a batch without one exits 0.
func TestIngestCloudTrailCLI(t *testing.T) {
	dir := testenv.Dir(t, "secrets", "ggcanary", "lambda", "tests", "data")
	home := filepath.Join(t.TempDir(), "home")
	t.Setenv("PIPEGUARD_AWS_SECRET_ACCESS_KEY", "cli-test-secret-not-real-0000000000000000")
	if code, out, e := cli(t, home, "honeytoken", "create", "--type", "aws", "--note", "ggcanary Alice",
		"--aws-access-key-id", "AKIAEXAMPLEALICE0001", "--aws-user", "ggcanary-Alice", "--output", "json"); code != 0 {
		t.Fatalf("create: exit %d\n%s%s", code, out, e)
	}
	if code, out, e := cli(t, home, "honeytoken", "ingest-cloudtrail", filepath.Join(dir, "logs_no_ggcanary.json.gz")); code != 0 {
		t.Fatalf("batch without a canary: exit %d\n%s%s", code, out, e)
	}
	code, out, e := cli(t, home, "honeytoken", "ingest-cloudtrail", filepath.Join(dir, "logs_w_ggcanary.json.gz"))
	if code != 1 || !strings.Contains(e, "used a honeytoken") {
		t.Fatalf("batch with a canary: exit %d, want 1\n%s%s", code, out, e)
	}
	if code, _, _ := cli(t, home, "honeytoken", "ingest-cloudtrail", filepath.Join(dir, "missing.json.gz")); code != 2 {
		t.Fatalf("missing file: exit %d, want 2", code)
	}
}
