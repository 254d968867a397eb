package scan

import (
	"context"
	"testing"

	"github.com/pipeguard/pipeguard/internal/testenv"
)

// TestGitleaksArchives scans gitleaks' archive fixtures: the key planted in
// main.go and api.go must be found inside zip, tar, gzip and nested
// tar.gz archives, with the member path and line.
func TestGitleaksArchives(t *testing.T) {
	dir := testenv.Dir(t, "secrets", "gitleaks", "testdata", "archives")
	rep, err := Run(context.Background(), Request{Source: SourceDir, Path: dir, ConfigPath: awsConfig(t), FingerprintKey: []byte("k"), MaxDecodeDepth: 5, MaxArchive: 3})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range rep.Findings {
		if f.RuleID == "aws-access-key" && f.StartLine == 20 {
			got[f.Path] = true
		}
	}
	for _, p := range []string{
		"files/main.go", "files/api.go",
		"files/main.go.gz!main.go",
		"files.zip!files/main.go", "files.zip!files/api.go",
		"files.tar!files/main.go", "files.tar!files/api.go",
		"nested.tar.gz!archives/files/main.go",
		"nested.tar.gz!archives/files.zip!files/api.go",
		"nested.tar.gz!archives/files.tar!files/main.go",
	} {
		if !got[p] {
			t.Errorf("missing finding in %s", p)
		}
	}
	// Depth 0 opens no archive.
	rep, err = Run(context.Background(), Request{Source: SourceDir, Path: dir, ConfigPath: awsConfig(t), FingerprintKey: []byte("k"), MaxDecodeDepth: 5, MaxArchive: 0})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Findings {
		if f.Path != "files/main.go" && f.Path != "files/api.go" {
			t.Errorf("archive opened at depth 0: %s", f.Path)
		}
	}
}
