package build

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pipeguard/pipeguard/internal/attest"
	"github.com/pipeguard/pipeguard/internal/build/sandbox"
	"github.com/pipeguard/pipeguard/internal/home"
	"github.com/pipeguard/pipeguard/internal/policy"
	"github.com/pipeguard/pipeguard/internal/testenv"
	"github.com/pipeguard/pipeguard/internal/verify"
)

// TestMain lets the test binary serve as the sandbox's init and, inside a
// sandbox, as an attacker program that tries what a shell cannot.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case sandbox.InitArg:
			os.Exit(sandbox.InitMain())
		case "__attack":
			os.Exit(attack(os.Args[2:]))
		}
	}
	os.Exit(m.Run())
}

// attack runs inside a build step: "ptrace PID..." tries to attach to each
// pid, "dial ADDR..." tries to connect. It prints one line per attempt and
// exits 0 either way; the test reads the lines.
func attack(args []string) int {
	switch args[0] {
	case "ptrace":
		for _, p := range args[1:] {
			var pid int
			fmt.Sscan(p, &pid)
			err := syscall.PtraceAttach(pid)
			if err == nil {
				fmt.Printf("ptrace %d: ATTACHED\n", pid)
				syscall.PtraceDetach(pid)
				continue
			}
			fmt.Printf("ptrace %d: %v\n", pid, err)
		}
	case "key":
		for _, a := range args[1:] {
			var id int
			fmt.Sscan(a, &id)
			buf := make([]byte, 256)
			n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0)
			if err == nil {
				fmt.Printf("key %d: READ %q\n", id, buf[:min(n, len(buf))])
				continue
			}
			fmt.Printf("key %d: %v\n", id, err)
		}
		if d, err := unix.KeyctlString(unix.KEYCTL_DESCRIBE, unix.KEY_SPEC_SESSION_KEYRING); err == nil {
			fmt.Printf("session keyring: %s\n", d)
		}
	case "dial":
		for _, a := range args[1:] {
			c, err := net.DialTimeout("tcp", a, 2*time.Second)
			if err == nil {
				fmt.Printf("dial %s: CONNECTED\n", a)
				c.Close()
				continue
			}
			fmt.Printf("dial %s: %v\n", a, err)
		}
	}
	return 0
}

const testPassword = "pw-canary-7f3a9c"

type fixture struct {
	home *home.Home
	b    *Builder
	out  string
	work string
}

// requireSandbox skips, saying why, where the kernel cannot isolate.
// Everything else runs: the degraded path has its own test.
func requireSandbox(t *testing.T) {
	t.Helper()
	if err := sandbox.Probe(context.Background(), ""); err != nil {
		if errors.Is(err, sandbox.ErrUnavailable) {
			t.Skipf("the sandbox needs unprivileged user namespaces or root: %v", err)
		}
		t.Fatal(err)
	}
}

func newFixture(t *testing.T, opts ...Option) *fixture {
	t.Helper()
	dir := t.TempDir()
	h, err := home.Init(context.Background(), filepath.Join(dir, "home"), home.WithPassword(func(bool) ([]byte, error) { return []byte(testPassword), nil }))
	if err != nil {
		t.Fatal(err)
	}
	s, err := h.Signer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(dir, "work")
	os.Mkdir(work, 0o700)
	b, err := New(s, h.Config.BuilderID, append([]Option{WithHidden(h.Dir), WithWorkRoot(work)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if b.noIsolate == "" {
		requireSandbox(t)
	}
	return &fixture{home: h, b: b, out: filepath.Join(dir, "artifacts"), work: work}
}

// newRepo commits files into a fresh git repository.
func newRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Git(t, dir, "", "init", "-q", "-b", "main")
	testenv.Git(t, dir, "", "add", ".")
	testenv.Git(t, dir, "", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "init")
	return dir
}

func (f *fixture) build(t *testing.T, req Request) (*Result, error) {
	t.Helper()
	if req.ArtifactsDir == "" {
		req.ArtifactsDir = f.out
	}
	return f.b.Build(context.Background(), req)
}

func script(s string) []string { return []string{"sh", "-c", s} }

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// checkTruthful asserts that every subject's digest is that of the copy
// handed out, that the provenance names the source commit, and that the
// signature verifies with the home's key.
func checkTruthful(t *testing.T, f *fixture, res *Result, repo string) {
	t.Helper()
	for i, s := range res.Subjects {
		data, err := os.ReadFile(res.Artifacts[i])
		if err != nil {
			t.Fatal(err)
		}
		if s.Digest["sha256"] != sha(data) {
			t.Fatalf("subject %s digest %s but the artifact hashes to %s", s.Name, s.Digest["sha256"], sha(data))
		}
	}
	if got, want := res.Provenance.BuildDefinition.ExternalParameters.Source.Digest["gitCommit"], testenv.Git(t, repo, "", "rev-parse", "HEAD"); got != want {
		t.Fatalf("provenance names commit %s, built %s", got, want)
	}
	if res.Provenance.BuildDefinition.InternalParameters.SLSABuildLevel != 3 || res.Degraded {
		t.Fatalf("isolated build recorded level %d", res.Provenance.BuildDefinition.InternalParameters.SLSABuildLevel)
	}
	rep := verifyWith(t, f, res, l3Policy(t, f, repo))
	if !rep.Passed {
		t.Fatalf("provenance refused: %v", rep.Failures)
	}
}

func l3Policy(t *testing.T, f *fixture, repo string) string {
	t.Helper()
	pub, err := f.home.PublicKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`apiVersion: pipeguard.dev/policy/v1
signers:
  builders:
    - id: %q
      slsaBuildLevel: 3
      keys:
        - pem: |
%s
require:
  attestations:
    - type: https://slsa.dev/provenance/v1
  slsaBuildLevel: 3
  source:
    repository: %q
`, f.home.Config.BuilderID, indent(string(pub), "            "), "git+file://"+repo)
}

func indent(s, pre string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		b.WriteString(pre + l + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

func verifyWith(t *testing.T, f *fixture, res *Result, pol string) *verify.Report {
	t.Helper()
	p, err := policy.Parse([]byte(pol))
	if err != nil {
		t.Fatalf("policy: %v\n%s", err, pol)
	}
	v, err := verify.New(p)
	if err != nil {
		t.Fatal(err)
	}
	data, err := attest.MarshalBundle(res.Bundle)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := v.Verify(context.Background(), verify.Subject{Name: res.Subjects[0].Name, Digests: res.Subjects[0].Digest}, [][]byte{data})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func readArtifact(t *testing.T, res *Result, name string) string {
	t.Helper()
	for i, s := range res.Subjects {
		if s.Name == name {
			b, err := os.ReadFile(res.Artifacts[i])
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
	t.Fatalf("no artifact %s in %v", name, res.Subjects)
	return ""
}

// TestGoBuildProvenance is the "Must show": a real Go program built
// hermetically, its provenance accepted by the verifier with a policy
// requiring SLSA Build L3 from this builder and source, and by cosign.
func TestGoBuildProvenance(t *testing.T) {
	f := newFixture(t)
	repo := newRepo(t, map[string]string{
		"go.mod":  "module example.com/hello\n\ngo 1.22\n",
		"main.go": "package main\n\nimport \"os\"\n\nfunc main() { os.Stdout.WriteString(\"hello\\n\") }\n",
	})
	res, err := f.build(t, Request{
		Source:    repo,
		Command:   script("mkdir -p out && CGO_ENABLED=0 go build -trimpath -o out/hello . && ./out/hello"),
		Artifacts: []string{"out/*"},
		Hermetic:  true,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkTruthful(t, f, res, repo)
	if !strings.Contains(string(res.Log), "hello") {
		t.Fatalf("log lacks the program's output: %s", res.Log)
	}
	p := res.Provenance
	var names []string
	for _, d := range p.BuildDefinition.ResolvedDependencies {
		names = append(names, d.Name)
	}
	for _, want := range []string{"source", "command:sh", "go", "go-tool:compile", "go-tool:link"} {
		if !strings.Contains(strings.Join(names, ","), want) {
			t.Errorf("resolvedDependencies lack %s: %v", want, names)
		}
	}
	if p.BuildDefinition.BuildType != BuildType || p.RunDetails.Metadata.InvocationID == "" || p.RunDetails.Byproducts[0].Digest["sha256"] != sha(res.Log) {
		t.Errorf("incomplete provenance: %+v", p.RunDetails)
	}
	if p.BuildDefinition.ExternalParameters.Source.Ref != "refs/heads/main" {
		t.Errorf("ref %q", p.BuildDefinition.ExternalParameters.Source.Ref)
	}

	// The same provenance under a policy for another source is refused.
	other := strings.Replace(l3Policy(t, f, repo), "git+file://"+repo, "git+https://example.com/other", 1)
	if rep := verifyWith(t, f, res, other); rep.Passed {
		t.Fatal("provenance accepted for a different source")
	}

	t.Run("cosign verify-blob-attestation", func(t *testing.T) { cosignAccepts(t, f, res) })
}

// cosignAccepts checks the provenance with the real cosign, offline.
func cosignAccepts(t *testing.T, f *fixture, res *Result) {
	cosign, err := exec.LookPath("cosign")
	if err != nil {
		t.Skip("cosign not on PATH: the interop check needs cosign v3.1.3 (CI puts it on PATH)")
	}
	dir := t.TempDir()
	pub, _ := f.home.PublicKeyPEM()
	os.WriteFile(filepath.Join(dir, "pub.pem"), pub, 0o644)
	attest.WriteBundle(filepath.Join(dir, "b.json"), res.Bundle)
	for _, tc := range []struct {
		name   string
		blob   string
		wantOK bool
	}{
		{"artifact", res.Artifacts[0], true},
		{"other blob", filepath.Join(dir, "pub.pem"), false},
	} {
		cmd := exec.Command(cosign, "verify-blob-attestation", "--type", "https://slsa.dev/provenance/v1", "--key", filepath.Join(dir, "pub.pem"),
			"--bundle", filepath.Join(dir, "b.json"), "--insecure-ignore-tlog", tc.blob)
		out, err := cmd.CombinedOutput()
		if (err == nil) != tc.wantOK {
			t.Fatalf("cosign on %s: err=%v want ok=%v\n%s", tc.name, err, tc.wantOK, out)
		}
	}
}

func TestBuildFailures(t *testing.T) {
	f := newFixture(t)
	repo := newRepo(t, map[string]string{"README": "x\n"})
	tests := []struct {
		name    string
		req     Request
		wantErr any
	}{
		{"step fails", Request{Command: script("echo building; exit 3"), Artifacts: []string{"out/*"}}, &StepError{}},
		{"no output", Request{Command: script("true"), Artifacts: []string{"out/*"}}, &RejectedError{}},
		{"command not found", Request{Command: []string{"no-such-tool"}, Artifacts: []string{"out/*"}}, &StepError{}},
		{"output is a symlink to the key", Request{Command: script("mkdir out && ln -s " + f.home.KeyPath() + " out/key"), Artifacts: []string{"out/*"}}, &RejectedError{}},
		{"output is a directory", Request{Command: script("mkdir -p out/d"), Artifacts: []string{"out/*"}}, &RejectedError{}},
		{"fetch fails", Request{Fetch: "exit 4", Command: script("true"), Artifacts: []string{"out/*"}}, &StepError{}},
		{"fetch leaves unchecked files", Request{Fetch: "echo x > /deps/blob", Command: script("true"), Artifacts: []string{"out/*"}}, &RejectedError{}},
		{"escaping pattern", Request{Command: script("true"), Artifacts: []string{"../x"}}, nil},
		{"credential env", Request{Command: script("true"), Artifacts: []string{"x"}, Env: []string{"GITHUB_TOKEN=abc"}}, nil},
		{"reserved env", Request{Command: script("true"), Artifacts: []string{"x"}, Env: []string{"GOPROXY=https://evil"}}, nil},
		{"mount inside the home", Request{Command: script("true"), Artifacts: []string{"x"}, ReadOnly: []string{filepath.Join(f.home.Dir, "keys")}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Source = repo
			res, err := f.build(t, tc.req)
			if err == nil {
				t.Fatalf("build succeeded: %v", res.Subjects)
			}
			switch tc.wantErr.(type) {
			case *StepError:
				var se *StepError
				if !errors.As(err, &se) {
					t.Fatalf("error %v (%T), want a StepError", err, err)
				}
			case *RejectedError:
				var re *RejectedError
				if !errors.As(err, &re) {
					t.Fatalf("error %v (%T), want a RejectedError", err, err)
				}
			}
			t.Log(err)
		})
	}
	if entries, _ := os.ReadDir(f.out); len(entries) > 0 {
		for _, e := range entries {
			if strings.Contains(e.Name(), "key") {
				t.Fatal("the key was copied out")
			}
		}
	}
	if entries, _ := os.ReadDir(f.work); len(entries) > 0 {
		t.Fatalf("workspaces left behind: %v", entries)
	}
}

func TestTimeout(t *testing.T) {
	f := newFixture(t)
	repo := newRepo(t, map[string]string{"README": "x\n"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := f.b.Build(ctx, Request{Source: repo, ArtifactsDir: f.out, Artifacts: []string{"out/a"}, Command: script("mkdir out; echo a > out/a; sleep 60")})
	var se *StepError
	if !errors.As(err, &se) || se.ExitCode >= 0 {
		t.Fatalf("a step past its deadline: %v", err)
	}
}

func TestLogTooLong(t *testing.T) {
	f := newFixture(t, WithMaxLog(1000))
	repo := newRepo(t, map[string]string{"README": "x\n"})
	_, err := f.build(t, Request{Source: repo, Artifacts: []string{"out/a"}, Command: script("mkdir out; echo a > out/a; head -c 5000 /dev/zero | tr '\\0' x")})
	var re *RejectedError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "exceeded") {
		t.Fatalf("overlong log accepted: %v", err)
	}
}

func TestDirtyTree(t *testing.T) {
	f := newFixture(t)
	repo := newRepo(t, map[string]string{"v": "committed\n"})
	os.WriteFile(filepath.Join(repo, "v"), []byte("dirty\n"), 0o644)
	req := Request{Source: repo, Command: script("mkdir out && cp v out/v"), Artifacts: []string{"out/v"}}
	if _, err := f.build(t, req); !errors.Is(err, ErrDirty) {
		t.Fatalf("dirty tree built: %v", err)
	}
	req.AllowDirty = true
	res, err := f.build(t, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := readArtifact(t, res, "out/v"); got != "committed\n" {
		t.Fatalf("built the working tree, not the commit: %q", got)
	}
	ip := res.Provenance.BuildDefinition
	if !ip.InternalParameters.SourceTreeDirty || !ip.ExternalParameters.AllowDirty {
		t.Fatal("--allow-dirty not recorded")
	}
}

func TestSubfolderAndRev(t *testing.T) {
	f := newFixture(t)
	repo := newRepo(t, map[string]string{"app/v": "one\n"})
	first := testenv.Git(t, repo, "", "rev-parse", "HEAD")
	os.WriteFile(filepath.Join(repo, "app/v"), []byte("two\n"), 0o644)
	testenv.Git(t, repo, "", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-am", "two")
	res, err := f.build(t, Request{Source: filepath.Join(repo, "app"), Rev: first, Command: script("mkdir -p out && cp v out/v"), Artifacts: []string{"app/out/v"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := readArtifact(t, res, "app/out/v"); got != "one\n" {
		t.Fatalf("built %q, want the first commit's content", got)
	}
	src := res.Provenance.BuildDefinition.ExternalParameters.Source
	if src.Path != "app" || src.Digest["gitCommit"] != first || src.Ref != "" {
		t.Fatalf("source recorded as %+v", src)
	}
	// A branch name is recorded as its full ref.
	res, err = f.build(t, Request{Source: filepath.Join(repo, "app"), Rev: "main", Command: script("mkdir -p out && cp v out/v"), Artifacts: []string{"app/out/v"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Provenance.BuildDefinition.ExternalParameters.Source.Ref; got != "refs/heads/main" || readArtifact(t, res, "app/out/v") != "two\n" {
		t.Fatalf("rev main recorded as ref %q", got)
	}
	if _, err := f.build(t, Request{Source: repo, Rev: "--output=/tmp/x", Command: script("true"), Artifacts: []string{"x"}}); err == nil {
		t.Fatal("an option-like revision was accepted")
	}
	if _, err := os.Stat(filepath.Join(f.out, "app", "out", "v")); err != nil {
		t.Fatal("artifact copy does not keep its relative path")
	}
}

// TestAdversarial runs build steps that try to break out. Each must fail
// at what it tries, and whatever provenance is written must stay truthful.
func TestAdversarial(t *testing.T) {
	t.Setenv("PIPEGUARD_PASSWORD", testPassword)
	t.Setenv("GITHUB_TOKEN", "token-canary-51c0")
	f := newFixture(t)
	repo := newRepo(t, map[string]string{"README": "x\n"})
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	selfDir := filepath.Dir(self)

	// A listener outside the sandbox that must never see a connection.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	outside := filepath.Join(t.TempDir(), "outside")
	os.Mkdir(outside, 0o777)

	tests := []struct {
		name  string
		req   Request
		check func(t *testing.T, out string)
	}{
		{
			name: "read the key and the home",
			req:  Request{Command: script(fmt.Sprintf(`mkdir out; { cat %[1]s/keys/signing.key; ls -la %[1]s %[1]s/keys; cat %[1]s/config.yaml; } > out/r 2>&1; echo done >> out/r`, f.home.Dir))},
			check: func(t *testing.T, out string) {
				if strings.Contains(out, "PRIVATE KEY") || strings.Contains(out, "signing.pub") || strings.Contains(out, "builderID") {
					t.Fatalf("home visible: %s", out)
				}
			},
		},
		{
			name: "read the key through a mount that contains the home",
			req:  Request{ReadOnly: []string{filepath.Dir(f.home.Dir)}, Command: script(fmt.Sprintf(`mkdir out; { ls -la %[1]s; cat %[1]s/keys/signing.key; ls %[2]s; } > out/r 2>&1; echo done >> out/r`, f.home.Dir, filepath.Dir(f.home.Dir)))},
			check: func(t *testing.T, out string) {
				if strings.Contains(out, "PRIVATE KEY") || strings.Contains(out, "signing.pub") || strings.Contains(out, "config.yaml") {
					t.Fatalf("home visible: %s", out)
				}
				if !strings.Contains(out, "home") {
					t.Fatalf("the mount itself is not visible, so the test proves nothing: %s", out)
				}
			},
		},
		{
			name: "read the control plane's environment and memory",
			req:  Request{Command: script(fmt.Sprintf(`mkdir out; { env; cat /proc/%[1]d/environ; cat /proc/1/environ; cat /proc/1/mem; head -c 64 /proc/%[1]d/mem; cat /proc/*/environ; } > out/r 2>&1; echo done >> out/r`, os.Getpid()))},
			check: func(t *testing.T, out string) {
				if strings.Contains(out, testPassword) || strings.Contains(out, "token-canary") || strings.Contains(out, "PIPEGUARD") {
					t.Fatalf("secret visible: %s", out)
				}
			},
		},
		{
			name: "ptrace the control plane and init",
			req:  Request{ReadOnly: []string{selfDir}, Command: []string{"sh", "-c", fmt.Sprintf(`mkdir out; %s __attack ptrace %d 1 %d > out/r 2>&1`, self, os.Getpid(), os.Getppid())}},
			check: func(t *testing.T, out string) {
				if strings.Contains(out, "ATTACHED") || !strings.Contains(out, "ptrace 1:") {
					t.Fatalf("ptrace: %s", out)
				}
			},
		},
		{
			name: "reach the network in hermetic mode",
			req:  Request{Hermetic: true, ReadOnly: []string{selfDir}, Command: []string{"sh", "-c", fmt.Sprintf(`mkdir out; %s __attack dial %s 10.255.255.53:53 1.1.1.1:443 > out/r 2>&1`, self, ln.Addr())}},
			check: func(t *testing.T, out string) {
				if strings.Contains(out, "CONNECTED") || accepted.Load() != 0 {
					t.Fatalf("network reached (%d connections): %s", accepted.Load(), out)
				}
			},
		},
		{
			name: "write outside the workspace",
			req:  Request{ReadOnly: []string{outside}, Command: script(fmt.Sprintf(`mkdir out; for p in /evil /usr/evil /etc/evil /workspace/../evil %[1]s/evil %[2]s/evil %[3]s/evil /proc/sys/kernel/hostname; do (echo x > $p) 2>/dev/null && echo "wrote $p"; done > out/r; echo done >> out/r`, outside, repo, f.home.Dir))},
			check: func(t *testing.T, out string) {
				if strings.Contains(out, "wrote") {
					t.Fatalf("wrote outside the workspace: %s", out)
				}
				for _, p := range []string{filepath.Join(outside, "evil"), filepath.Join(repo, "evil"), filepath.Join(f.home.Dir, "evil"), "/evil", "/usr/evil", "/etc/evil"} {
					if _, err := os.Stat(p); err == nil {
						os.Remove(p)
						t.Fatalf("%s was written", p)
					}
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Source = repo
			tc.req.Artifacts = []string{"out/r"}
			tc.req.ArtifactsDir = filepath.Join(t.TempDir(), "a")
			res, err := f.b.Build(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			out := readArtifact(t, res, "out/r")
			t.Logf("step output:\n%s", out)
			tc.check(t, out)
			checkTruthful(t, f, res, repo)
		})
	}

	// The same dial from a networked build does reach the listener: the
	// hermetic check above can fail.
	res, err := f.b.Build(context.Background(), Request{Source: repo, ReadOnly: []string{selfDir}, Artifacts: []string{"out/r"}, ArtifactsDir: filepath.Join(t.TempDir(), "a"),
		Command: []string{"sh", "-c", fmt.Sprintf(`mkdir out; %s __attack dial %s > out/r 2>&1`, self, ln.Addr())}})
	if err != nil {
		t.Fatal(err)
	}
	if out := readArtifact(t, res, "out/r"); !strings.Contains(out, "CONNECTED") {
		t.Fatalf("a networked build could not reach the listener, so the hermetic test proves nothing: %s", out)
	}
}

// TestOutputModifiedAfterHashing: the step leaves processes behind that
// rewrite the output later. They are dead before hashing, so the
// artifact handed out is what was attested.
func TestOutputModifiedAfterHashing(t *testing.T) {
	f := newFixture(t)
	repo := newRepo(t, map[string]string{"README": "x\n"})
	res, err := f.build(t, Request{Source: repo, Artifacts: []string{"out/a"}, Command: script(
		`mkdir out; echo good > out/a; (sleep 1; echo evil > /workspace/out/a) & setsid sh -c 'sleep 1; echo evil > /workspace/out/a' & nohup sh -c 'trap "" HUP TERM; sleep 1; echo evil > /workspace/out/a' >/dev/null 2>&1 & exit 0`)})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if got := readArtifact(t, res, "out/a"); got != "good\n" {
		t.Fatalf("artifact changed after hashing: %q", got)
	}
	checkTruthful(t, f, res, repo)
	// No process of the step survives on the host.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte("/workspace/out/a")) {
			t.Fatalf("a step process survived: %s %q", p, b)
		}
	}
}

// TestNothingLeftForTheNextBuild: a first build plants files wherever it
// can write; a second build of the same commit sees none of them and
// produces the same bytes.
func TestNothingLeftForTheNextBuild(t *testing.T) {
	f := newFixture(t)
	repo := newRepo(t, map[string]string{"README": "x\n"})
	probe := `mkdir -p out; for p in /tmp/m /workspace/../m /workspace/m /deps/m /dev/shm/m $HOME/m $GOCACHE/m /tmp/go-build/m; do [ -e $p ] && echo "found $p"; done > out/r; echo end >> out/r; ` +
		`mkdir -p $GOCACHE; for p in /tmp/m /workspace/../m /workspace/m /deps/m /dev/shm/m $HOME/m $GOCACHE/m; do (echo x > $p) 2>/dev/null; done; true`
	var digests []string
	for i := 0; i < 2; i++ {
		res, err := f.build(t, Request{Source: repo, Artifacts: []string{"out/r"}, Command: script(probe), ArtifactsDir: filepath.Join(t.TempDir(), "a")})
		if err != nil {
			t.Fatal(err)
		}
		if out := readArtifact(t, res, "out/r"); out != "end\n" {
			t.Fatalf("build %d saw leftovers: %q", i+1, out)
		}
		digests = append(digests, res.Subjects[0].Digest["sha256"])
	}
	if digests[0] != digests[1] {
		t.Fatal("the second build's output differs")
	}
	if entries, _ := os.ReadDir(f.work); len(entries) > 0 {
		t.Fatalf("workspaces left behind: %v", entries)
	}
}

// TestDegradedIsL2: without isolation the provenance says so, under a
// distinct builder id, and a policy requiring L3 refuses it, even one that
// (wrongly) trusts the degraded id for L3.
func TestDegradedIsL2(t *testing.T) {
	f := newFixture(t, WithoutIsolation("forced by test"))
	repo := newRepo(t, map[string]string{"README": "x\n"})
	res, err := f.build(t, Request{Source: repo, Artifacts: []string{"out/a"}, Command: script("mkdir out; echo a > out/a")})
	if err != nil {
		t.Fatal(err)
	}
	// Even unisolated, the step gets only stdio.
	res2, err := f.build(t, Request{Source: repo, Artifacts: []string{"out/fds"}, ArtifactsDir: filepath.Join(t.TempDir(), "a"), Command: script("mkdir out; ls /proc/self/fd | tr '\\n' ' ' > out/fds")})
	if err != nil {
		t.Fatal(err)
	}
	if got := readArtifact(t, res2, "out/fds"); got != "0 1 2 3 " {
		t.Errorf("unisolated step inherited descriptors: %q", got)
	}
	p := res.Provenance
	if !res.Degraded || p.BuildDefinition.InternalParameters.SLSABuildLevel != 2 || p.RunDetails.Builder.ID != f.home.Config.BuilderID+DegradedSuffix ||
		p.BuildDefinition.InternalParameters.Isolation.Sandbox != "none" {
		t.Fatalf("degraded build not recorded as such: %+v", p.BuildDefinition.InternalParameters)
	}
	pol := l3Policy(t, f, repo)
	if rep := verifyWith(t, f, res, pol); rep.Passed {
		t.Fatal("L3 policy accepted an unisolated build")
	}
	lenient := strings.Replace(pol, fmt.Sprintf("id: %q", f.home.Config.BuilderID), fmt.Sprintf("id: %q", f.home.Config.BuilderID+DegradedSuffix), 1)
	if rep := verifyWith(t, f, res, lenient); rep.Passed {
		t.Fatal("the signed slsaBuildLevel 2 did not cap the level")
	}
	l2 := strings.Replace(lenient, "  slsaBuildLevel: 3\n  source", "  slsaBuildLevel: 2\n  source", 1)
	if rep := verifyWith(t, f, res, l2); !rep.Passed {
		t.Fatalf("an L2 policy for the degraded builder refused it: %v", rep.Failures)
	}
}

// TestFetchGoModules fetches a real module through a file:// proxy made of
// the host's module cache, checks it against go.sum, records it, and
// builds hermetically with it.
func TestFetchGoModules(t *testing.T) {
	modcache := strings.TrimSpace(goEnv(t, "GOMODCACHE"))
	dl := filepath.Join(modcache, "cache", "download")
	if _, err := os.Stat(filepath.Join(dl, "github.com/google/uuid/@v/v1.6.0.zip")); err != nil {
		t.Skip("github.com/google/uuid v1.6.0 is not in the module cache (go mod download github.com/google/uuid@v1.6.0)")
	}
	t.Setenv("GOPROXY", "file://"+dl)
	t.Setenv("GOSUMDB", "off")
	gosum := "github.com/google/uuid v1.6.0 h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=\ngithub.com/google/uuid v1.6.0/go.mod h1:TIyPZe4MgqvfeYDBFedMoGGpEw/LqOeaOT+nhxU+yHo=\n"
	files := map[string]string{
		"go.mod":  "module example.com/u\n\ngo 1.22\n\nrequire github.com/google/uuid v1.6.0\n",
		"go.sum":  gosum,
		"main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\t\"github.com/google/uuid\"\n)\n\nfunc main() { fmt.Println(uuid.NameSpaceDNS) }\n",
	}
	f := newFixture(t)
	repo := newRepo(t, files)
	// A read-only module cache instead of a fetch phase.
	res, err := f.build(t, Request{Source: repo, GoModCache: modcache, Hermetic: true, Artifacts: []string{"out/r"},
		Command: script("mkdir out && go list -m -f '{{.Dir}}' github.com/google/uuid > out/r")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := readArtifact(t, res, "out/r"), filepath.Join(modcache, "github.com/google/uuid@v1.6.0")+"\n"; got != want {
		t.Fatalf("module from %q, want %q", got, want)
	}
	if res.Provenance.BuildDefinition.ExternalParameters.GoModCache != modcache {
		t.Fatal("module cache not recorded")
	}

	req := Request{Source: repo, ReadOnly: []string{dl}, Fetch: "go mod download", Hermetic: true, Artifacts: []string{"out/r"},
		Command: script("mkdir out && go run . > out/r")}
	res, err = f.build(t, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := readArtifact(t, res, "out/r"); got != "6ba7b810-9dad-11d1-80b4-00c04fd430c8\n" {
		t.Fatalf("output %q", got)
	}
	found := false
	for _, d := range res.Provenance.BuildDefinition.ResolvedDependencies {
		if d.URI == "pkg:golang/github.com/google/uuid@v1.6.0" && d.Annotations["lock"] == "h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=" {
			found = true
		}
	}
	if !found {
		t.Fatalf("fetched module not recorded: %+v", res.Provenance.BuildDefinition.ResolvedDependencies)
	}

	// A fetch step that tampers with the extracted module is caught.
	req.Fetch = "go mod download && chmod -R u+w /deps/gomod/github.com/google && echo '// x' >> /deps/gomod/github.com/google/uuid@v1.6.0/uuid.go"
	var re *RejectedError
	if _, err := f.build(t, req); !errors.As(err, &re) {
		t.Fatalf("tampered module accepted: %v", err)
	}
	// So is a go.sum that does not pin what was fetched.
	files["go.sum"] = "github.com/google/uuid v1.6.0/go.mod h1:TIyPZe4MgqvfeYDBFedMoGGpEw/LqOeaOT+nhxU+yHo=\n"
	repo2 := newRepo(t, files)
	req.Source, req.Fetch = repo2, "GOFLAGS=-mod=mod go mod download github.com/google/uuid"
	if _, err := f.build(t, req); !errors.As(err, &re) {
		t.Fatalf("unpinned module accepted: %v", err)
	}
}

func goEnv(t *testing.T, k string) string {
	out, err := exec.Command("go", "env", k).Output()
	if err != nil {
		t.Skip("go not on PATH")
	}
	return string(out)
}

func TestProvenanceJSONNames(t *testing.T) {
	b, _ := json.Marshal(Provenance{})
	for _, k := range []string{`"buildDefinition"`, `"externalParameters"`, `"internalParameters"`, `"resolvedDependencies"`, `"runDetails"`, `"invocationId"`, `"startedOn"`, `"finishedOn"`} {
		if !bytes.Contains(b, []byte(k)) {
			t.Errorf("provenance JSON lacks %s: %s", k, b)
		}
	}
}

// TestFetchNpm runs a real `npm ci` in the fetch sandbox (with network),
// checks the downloaded tarball against package-lock.json's integrity and
// builds hermetically with it.
func TestFetchNpm(t *testing.T) {
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("npm not on PATH")
	}
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("https://registry.npmjs.org/left-pad")
	if err != nil {
		t.Skipf("npm registry unreachable: %v", err)
	}
	resp.Body.Close()
	files := map[string]string{}
	for _, n := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "npm", n))
		if err != nil {
			t.Fatal(err)
		}
		files[n] = string(b)
	}
	f := newFixture(t)
	repo := newRepo(t, files)
	req := Request{Source: repo, Fetch: "npm ci --ignore-scripts --no-audit --no-fund", Hermetic: true, Artifacts: []string{"out/r"},
		Command: script(`mkdir out && node -e "process.stdout.write(require('left-pad')('x', 5, '.'))" > out/r`)}
	res, err := f.build(t, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := readArtifact(t, res, "out/r"); got != "....x" {
		t.Fatalf("output %q", got)
	}
	found := false
	for _, d := range res.Provenance.BuildDefinition.ResolvedDependencies {
		found = found || d.URI == "pkg:npm/left-pad@1.3.0" && strings.HasPrefix(d.Annotations["lock"], "sha512-")
	}
	if !found {
		t.Fatalf("npm package not recorded: %+v", res.Provenance.BuildDefinition.ResolvedDependencies)
	}
	// A fetch that swaps the cached tarball's bytes is caught.
	req.Fetch += ` && find /deps/npm/_cacache/content-v2 -type f -exec sh -c 'echo x >> "$1"' _ {} \;`
	var re *RejectedError
	if _, err := f.build(t, req); !errors.As(err, &re) {
		t.Fatalf("tampered npm cache accepted: %v", err)
	}
}

// TestKeyringNotInherited: a key in the control plane's session keyring
// (a credential helper's, say) is possessed by every child that inherits
// the keyring; the step must not be one of them.
func TestKeyringNotInherited(t *testing.T) {
	f := newFixture(t)
	repo := newRepo(t, map[string]string{"README": "x\n"})
	// Session keyrings belong to threads: build from this one.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if _, err := unix.KeyctlJoinSessionKeyring("pipeguard-test"); err != nil {
		t.Skipf("no keyrings here: %v", err)
	}
	id, err := unix.AddKey("user", "pipeguard-canary", []byte("keyring-secret-9d2"), unix.KEY_SPEC_SESSION_KEYRING)
	if err != nil {
		t.Skipf("adding a key: %v", err)
	}
	// Readable by its possessors, viewable by all.
	unix.KeyctlSetperm(id, 0x3f010101)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.build(t, Request{Source: repo, ReadOnly: []string{filepath.Dir(self)}, Artifacts: []string{"out/r"}, Command: script(
		fmt.Sprintf(`mkdir out; { cat /proc/keys; %s __attack key %d; } > out/r 2>&1`, self, id))})
	if err != nil {
		t.Fatal(err)
	}
	out := readArtifact(t, res, "out/r")
	t.Logf("step output:\n%s", out)
	// (Rootless, the step is the caller's uid, so /proc/keys may list a key
	// whose owner let that uid view it; what matters is possession.)
	if strings.Contains(out, "keyring-secret") || strings.Contains(out, "READ") || strings.Contains(out, "session keyring: keyring;") && strings.Contains(out, ";pipeguard-test") {
		t.Fatalf("the step reached the control plane's keyring: %s", out)
	}
}
