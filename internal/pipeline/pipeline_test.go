package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeguard/pipeguard/internal/attest"
	"github.com/pipeguard/pipeguard/internal/build"
	"github.com/pipeguard/pipeguard/internal/build/sandbox"
	"github.com/pipeguard/pipeguard/internal/home"
	"github.com/pipeguard/pipeguard/internal/sign"
	"github.com/pipeguard/pipeguard/internal/testenv"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == sandbox.InitArg {
		os.Exit(sandbox.InitMain())
	}
	os.Exit(m.Run())
}

func commitAll(t *testing.T, dir string) {
	testenv.Git(t, dir, "", "add", "-A")
	testenv.Git(t, dir, "", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "c")
}

type env struct {
	home *home.Home
	s    *sign.Signer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if err := sandbox.Probe(context.Background(), ""); errors.Is(err, sandbox.ErrUnavailable) {
		t.Skipf("the sandbox needs unprivileged user namespaces or root: %v", err)
	}
	h, err := home.Open(context.Background(), filepath.Join(t.TempDir(), "home"), home.WithPassword(func(bool) ([]byte, error) { return nil, nil }))
	if err != nil {
		t.Fatal(err)
	}
	s, err := h.Signer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &env{home: h, s: s}
}

// gates returns the standard pipeline, with extra gates inserted before
// verification (as later capabilities will be).
func (e *env) pipeline(t *testing.T, extra []Gate, opts ...build.Option) *Pipeline {
	t.Helper()
	b, err := build.New(e.s, e.home.Config.BuilderID, append([]build.Option{build.WithHidden(e.home.Dir)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := e.home.PublicKeyPEM()
	gates := Standard(b, e.s, make([]byte, 32), pub, extra...)
	return New(nil, gates...)
}

func (e *env) run(t *testing.T, dir string, extra []Gate, opts ...build.Option) *Report {
	t.Helper()
	st, err := Prepare(context.Background(), dir, false, filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	r := e.pipeline(t, extra, opts...).Run(context.Background(), st)
	for _, o := range r.Outcomes {
		t.Logf("%s %s: %s\n  %s", o.Status, o.Gate, o.Summary, strings.Join(o.Details, "\n  "))
	}
	return r
}

// TestRunExampleFreshClone is the acceptance check: a fresh clone of this
// repository, `run examples/hello`, passes with nothing set up but an
// empty home.
func TestRunExampleFreshClone(t *testing.T) {
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skip("not inside a git checkout of pipeguard")
	}
	src := strings.TrimSpace(string(top))
	if err := exec.Command("git", "-C", src, "cat-file", "-e", "HEAD:examples/hello/"+ConfigFile).Run(); err != nil {
		t.Skip("examples/hello is not committed at HEAD")
	}
	clone := filepath.Join(t.TempDir(), "clone")
	testenv.Git(t, "/", "", "clone", "-q", "--no-hardlinks", src, clone)
	e := newEnv(t)
	r := e.run(t, filepath.Join(clone, "examples", "hello"), nil)
	if !r.Passed || r.Path != "examples/hello" {
		t.Fatalf("run failed on a fresh clone: %+v", r.Outcomes)
	}
	vsa := r.Outcomes[1].Files
	if len(vsa) != 1 {
		t.Fatalf("no VSA written: %+v", r.Outcomes[1])
	}
	if _, err := os.Stat(vsa[0]); err != nil {
		t.Fatal(err)
	}
	if out := testenv.Git(t, clone, "", "status", "--porcelain"); out != "" {
		t.Fatalf("the run left the tree dirty: %s", out)
	}
}

const smallPolicy = `apiVersion: pipeguard.dev/policy/v1
signers:
  builders:
    - id: %q
      slsaBuildLevel: 3
      keys:
        - %s
require:
  attestations:
    - type: https://slsa.dev/provenance/v1
  slsaBuildLevel: 3
  source:
    repository: %q
`

// project makes a repository with a folder app/ holding a cheap build
// and the given policy.
func project(t *testing.T, policyText string, cfgEdit func(string) string) string {
	t.Helper()
	repo := filepath.Join(t.TempDir(), "repo")
	app := filepath.Join(repo, "app")
	os.MkdirAll(app, 0o755)
	cfg := `apiVersion: pipeguard.dev/pipeline/v1
build:
  command: ["sh", "-c", "mkdir -p out && echo artifact > out/a"]
  artifacts: ["out/a"]
verify:
  policy: policy.yaml
  homeKeyAs: local.pub
`
	if cfgEdit != nil {
		cfg = cfgEdit(cfg)
	}
	os.WriteFile(filepath.Join(app, ConfigFile), []byte(cfg), 0o644)
	os.WriteFile(filepath.Join(app, "policy.yaml"), []byte(strings.ReplaceAll(policyText, "REPO", repo)), 0o644)
	os.WriteFile(filepath.Join(app, "README"), []byte("app\n"), 0o644)
	testenv.Git(t, "/", "", "init", "-q", "-b", "main", repo)
	commitAll(t, repo)
	return app
}

// tamperGate stands for anything that changes an output after the build
// signed it.
type tamperGate struct{}

func (tamperGate) Name() string { return "tamper" }
func (tamperGate) Run(_ context.Context, st *State) Outcome {
	os.WriteFile(st.Artifacts[0].Path, []byte("changed after signing\n"), 0o644)
	return passed("changed "+st.Artifacts[0].Name, nil)
}

func TestRunFailures(t *testing.T) {
	e := newEnv(t)
	other, _ := sign.GenerateKey(sign.AlgECDSAP256)
	otherPEM, _ := sign.EncodePublicKey(other.Public())
	inline := "pem: |\n" + "            " + strings.ReplaceAll(strings.TrimSpace(string(otherPEM)), "\n", "\n            ")
	id := e.home.Config.BuilderID
	good := fmt.Sprintf(smallPolicy, id, "path: local.pub", "git+file://REPO")

	tests := []struct {
		name     string
		policy   string
		cfgEdit  func(string) string
		extra    []Gate
		opts     []build.Option
		wantFail string // gate that must fail
		errored  bool
	}{
		{name: "passes", policy: good},
		{name: "untrusted key", policy: fmt.Sprintf(smallPolicy, id, inline, "git+file://REPO"), wantFail: "verify"},
		{name: "wrong source", policy: fmt.Sprintf(smallPolicy, id, "path: local.pub", "https://example.com/elsewhere"), wantFail: "verify"},
		{name: "other builder id", policy: fmt.Sprintf(smallPolicy, "https://ci.example.com/builder", "path: local.pub", "git+file://REPO"), wantFail: "verify"},
		{name: "output changed after signing", policy: good, extra: []Gate{tamperGate{}}, wantFail: "verify"},
		{name: "unisolated build under an L3 policy", policy: good, opts: []build.Option{build.WithoutIsolation("forced by test")}, wantFail: "verify"},
		{name: "build fails", policy: good, cfgEdit: func(c string) string { return strings.Replace(c, "echo artifact > out/a", "exit 7", 1) }, wantFail: "build"},
		{name: "missing artifact", policy: good, cfgEdit: func(c string) string { return strings.Replace(c, `["out/a"]`, `["out/b"]`, 1) }, wantFail: "build"},
		{name: "policy not committed", policy: good, cfgEdit: func(c string) string { return strings.Replace(c, "policy: policy.yaml", "policy: generated.yaml", 1) }, errored: true},
		{name: "home key named like a committed file", policy: good, cfgEdit: func(c string) string { return strings.Replace(c, "homeKeyAs: local.pub", "homeKeyAs: README", 1) }, errored: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := project(t, tc.policy, tc.cfgEdit)
			r := e.run(t, dir, tc.extra, tc.opts...)
			switch {
			case tc.errored:
				if !r.Errored() || r.Passed {
					t.Fatalf("want an error, got %+v", r.Outcomes)
				}
			case tc.wantFail == "":
				if !r.Passed {
					t.Fatalf("refused: %+v", r.Outcomes)
				}
			default:
				if r.Passed || r.Errored() {
					t.Fatalf("want a failure, got %+v", r.Outcomes)
				}
				for _, o := range r.Outcomes {
					if o.Status == StatusFail && o.Gate != tc.wantFail {
						t.Fatalf("gate %s failed, want %s", o.Gate, tc.wantFail)
					}
				}
				if tc.wantFail == "build" && r.Outcomes[len(r.Outcomes)-1].Status != StatusSkipped {
					t.Fatal("verification ran after a failed build")
				}
			}
		})
	}
}

func TestPrepareRefusesDirtyTree(t *testing.T) {
	e := newEnv(t)
	dir := project(t, fmt.Sprintf(smallPolicy, e.home.Config.BuilderID, "path: local.pub", "git+file://REPO"), nil)
	os.WriteFile(filepath.Join(dir, "untracked"), []byte("x"), 0o644)
	if _, err := Prepare(context.Background(), dir, false, ""); !errors.Is(err, build.ErrDirty) {
		t.Fatalf("dirty tree accepted: %v", err)
	}
	st, err := Prepare(context.Background(), dir, true, filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	r := e.pipeline(t, nil).Run(context.Background(), st)
	if !r.Passed || !st.Provenance.BuildDefinition.InternalParameters.SourceTreeDirty {
		t.Fatalf("--allow-dirty run: passed=%v, dirty recorded=%v", r.Passed, st.Provenance != nil && st.Provenance.BuildDefinition.InternalParameters.SourceTreeDirty)
	}
	// The config is read from the commit: an uncommitted edit changes nothing.
	os.WriteFile(filepath.Join(dir, ConfigFile), []byte("garbage: ["), 0o644)
	if _, err := Prepare(context.Background(), dir, true, ""); err != nil {
		t.Fatalf("read the working tree's config instead of the commit's: %v", err)
	}
}

// TestSecretScanGate: a secret committed in the project folder fails the
// run at the secrets gate, and the signed attestation carries the
// finding redacted, never the secret; a clean commit's attestation is
// about the artifacts and the commit.
func TestSecretScanGate(t *testing.T) {
	e := newEnv(t)
	const secret = "ghp_R2u7bXkPq9LmZt4VwYc1Nh6JsDf0Ea3Kg8Ho"
	good := fmt.Sprintf(smallPolicy, e.home.Config.BuilderID, "path: local.pub", "git+file://REPO")

	t.Run("clean", func(t *testing.T) {
		dir := project(t, good, nil)
		st, err := Prepare(context.Background(), dir, false, filepath.Join(t.TempDir(), "out"))
		if err != nil {
			t.Fatal(err)
		}
		r := e.pipeline(t, nil).Run(context.Background(), st)
		if !r.Passed {
			t.Fatalf("refused: %+v", r.Outcomes)
		}
		data, err := os.ReadFile(filepath.Join(st.ArtifactsDir, SecretScanFile))
		if err != nil {
			t.Fatal(err)
		}
		items, err := attest.Load("scan", data)
		if err != nil {
			t.Fatal(err)
		}
		stmt, err := items[0].UnverifiedStatement()
		if err != nil {
			t.Fatal(err)
		}
		if !stmt.MatchesDigest("gitCommit", st.Source.Commit) || len(stmt.Subject) != 1+len(st.Artifacts) {
			t.Fatalf("subjects %v: want the commit and every artifact", stmt.SubjectDigests())
		}
	})
	t.Run("leaked secret", func(t *testing.T) {
		dir := project(t, good, nil)
		repo := filepath.Dir(dir)
		if err := os.WriteFile(filepath.Join(dir, "config.go"), []byte("package config\n\nconst token = \""+secret+"\"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		commitAll(t, repo)
		st, err := Prepare(context.Background(), dir, false, filepath.Join(t.TempDir(), "out"))
		if err != nil {
			t.Fatal(err)
		}
		r := e.pipeline(t, nil).Run(context.Background(), st)
		if r.Passed || r.Errored() {
			t.Fatalf("want a failure, got %+v", r.Outcomes)
		}
		var gate *Outcome
		for i := range r.Outcomes {
			if r.Outcomes[i].Status == StatusFail {
				gate = &r.Outcomes[i]
			}
		}
		if gate == nil || gate.Gate != "secrets" || !strings.Contains(strings.Join(gate.Details, "\n"), "config.go:3") {
			t.Fatalf("the secrets gate did not refuse it: %+v", r.Outcomes)
		}
		report, _ := json.Marshal(r)
		data, err := os.ReadFile(filepath.Join(st.ArtifactsDir, SecretScanFile))
		if err != nil {
			t.Fatal(err)
		}
		items, _ := attest.Load("scan", data)
		payload := string(items[0].Envelope.Payload)
		for where, text := range map[string]string{"report": string(report), "attestation": payload} {
			if strings.Contains(text, secret) || strings.Contains(text, secret[4:]) {
				t.Fatalf("the secret appears in clear in the %s", where)
			}
		}
		if !strings.Contains(payload, `"verdict":"fail"`) || !strings.Contains(payload, "github-pat") {
			t.Fatalf("attestation does not record the finding: %s", payload)
		}
	})
}
