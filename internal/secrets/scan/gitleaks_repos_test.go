package scan

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/pipeguard/pipeguard/internal/testenv"
)

// copyRepo copies one of gitleaks' fixture repositories (stored with its
// .git as dotGit) into a temporary directory.
func copyRepo(t *testing.T, name string) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	src := testenv.Dir(t, "secrets", "gitleaks", "testdata", "repos", name)
	dst := t.TempDir()
	if out, err := exec.Command("cp", "-a", src+"/.", dst).CombinedOutput(); err != nil {
		t.Fatalf("copying fixture: %v: %s", err, out)
	}
	if err := os.Rename(filepath.Join(dst, "dotGit"), filepath.Join(dst, ".git")); err != nil {
		t.Fatal(err)
	}
	// Read-only source files arrive read-only; git needs to write.
	exec.Command("chmod", "-R", "u+w", dst).Run()
	return dst
}

// awsConfig writes a rule equivalent to the "simple" config gitleaks'
// own tests use for these fixtures.
func awsConfig(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "simple.toml")
	err := os.WriteFile(p, []byte(`
[[rules]]
id = "aws-access-key"
description = "AWS Access Key"
regex = '''(?:A3T[A-Z0-9]|AKIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ASIA)[A-Z0-9]{16}'''
keywords = ["akia", "agpa", "aida", "aroa", "aipa", "anpa", "anva", "asia", "a3t"]
tags = ["key", "AWS"]
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGitleaksFixtureRepos(t *testing.T) {
	type want struct {
		path, commit, author string
		line                 int
	}
	for _, tc := range []struct {
		name   string
		repo   string
		revs   []string
		staged bool
		want   []want
	}{
		{name: "small all history", repo: "small", want: []want{
			{"main.go", "1b6da43b82b22e4eaa10bcf8ee591e91abbfc587", "Zachary Rice", 20},
			{"foo/foo.go", "491504d5a31946ce75e22554cc34203d8e5ff3ca", "Zach Rice", 9},
		}},
		{name: "small one commit", repo: "small", revs: []string{"491504d5a31946ce75e22554cc34203d8e5ff3ca~1..491504d5a31946ce75e22554cc34203d8e5ff3ca"}, want: []want{
			{"foo/foo.go", "491504d5a31946ce75e22554cc34203d8e5ff3ca", "Zach Rice", 9},
		}},
		{name: "staged", repo: "staged", staged: true, want: []want{
			{"api/api.go", "", "", 7},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyRepo(t, tc.repo)
			src := SourceGit
			if tc.staged {
				src = SourceStaged
			}
			// The fixture's .gitleaksignore is honoured, as in gitleaks' tests.
			res, err := Run(context.Background(), Request{Source: src, Path: dir, Revs: tc.revs, ConfigPath: awsConfig(t), FingerprintKey: []byte("k"), MaxDecodeDepth: 5})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range res.Findings {
				t.Logf("found %s:%d %s %q", f.Path, f.StartLine, f.Commit, f.Author)
			}
			if len(res.Findings) != len(tc.want) {
				t.Fatalf("got %d findings, want %d", len(res.Findings), len(tc.want))
			}
			for _, w := range tc.want {
				ok := false
				for _, f := range res.Findings {
					if f.Path == w.path && f.Commit == w.commit && f.StartLine == w.line && (w.author == "" || f.Author == w.author) {
						ok = true
					}
				}
				if !ok {
					t.Errorf("missing %+v", w)
				}
			}
		})
	}
}
