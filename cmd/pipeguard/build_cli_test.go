package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeguard/pipeguard/internal/build/sandbox"
	"github.com/pipeguard/pipeguard/internal/testenv"
)

func needSandbox(t *testing.T) {
	t.Helper()
	if err := sandbox.Probe(context.Background(), ""); errors.Is(err, sandbox.ErrUnavailable) {
		t.Skipf("the sandbox needs unprivileged user namespaces or root: %v", err)
	}
}

// TestBuildWithLog: `build --log URL` logs the provenance; a policy that
// requires SLSA Build L3, the source and a log entry accepts what it built.
func TestBuildWithLog(t *testing.T) {
	needSandbox(t)
	dir := t.TempDir()
	srv, cliHome := startLogServer(t, filepath.Join(dir, "srv")), filepath.Join(dir, "cli")
	repo := filepath.Join(dir, "repo")
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	testenv.Git(t, repo, "", "init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(repo, "msg"), []byte("built in the sandbox\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.Git(t, repo, "", "add", "-A")
	testenv.Git(t, repo, "", "commit", "-q", "-m", "init")

	pub := filepath.Join(dir, "builder.pub")
	if err := os.WriteFile(pub, []byte(mustCLI(t, 0, cliHome, "key", "public")), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PIPEGUARD_LOG_TOKEN", strings.TrimSpace(mustCLI(t, 0, "", "server", "add-builder", "--home", srv.home, "--name", "ci", "--key", pub)))
	tr := filepath.Join(dir, "trusted_root.json")
	if err := os.WriteFile(tr, []byte(mustCLI(t, 0, "", "server", "trusted-root", "--home", srv.home, "--url", srv.url)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, bundle := filepath.Join(dir, "out"), filepath.Join(dir, "prov.json")
	mustCLI(t, 0, cliHome, "build", "--source", repo, "--artifact", "out/*", "--artifacts-dir", out, "--bundle", bundle,
		"--hermetic", "--log", srv.url, "--", "sh", "-c", "mkdir -p out && cp msg out/msg")

	pol := mustCLI(t, 0, "", "policy", "init", "--trust-key", pub, "--builder-id", "https://pipeguard.dev/builders/local/v1", "--source", "file://"+repo)
	pol = strings.Replace(pol, "require:\n", "trustedRoot: "+tr+"\nrequire:\n  transparencyLog: true\n", 1)
	polPath := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(polPath, []byte(pol), 0o644); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, 0, "", "verify", filepath.Join(out, "out", "msg"), "--policy", polPath, "--bundle", bundle)
	// The same output, rewritten after signing, is refused.
	if err := os.WriteFile(filepath.Join(out, "out", "msg"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, 1, "", "verify", filepath.Join(out, "out", "msg"), "--policy", polPath, "--bundle", bundle)
}

// TestRunExampleCLI is the README's main job exactly as a user types it, on
// a fresh clone of the committed tree with an empty home.
func TestRunExampleCLI(t *testing.T) {
	needSandbox(t)
	if testing.Short() {
		t.Skip("builds the example in the sandbox")
	}
	root := filepath.Join("..", "..")
	if _, err := os.Stat(filepath.Join(root, ".git")); err != nil {
		t.Skip("not in a git checkout")
	}
	clone := filepath.Join(t.TempDir(), "clone")
	testenv.Git(t, "/", "", "clone", "-q", "--no-hardlinks", mustAbs(t, root), clone)
	t.Chdir(clone)
	t.Setenv("PIPEGUARD_PASSWORD", "")
	code, out, errOut := cli(t, filepath.Join(t.TempDir(), "fresh-home"), "run", "examples/hello")
	if code != 0 {
		t.Fatalf("pipeguard run examples/hello: exit %d\n%s%s", code, out, errOut)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
