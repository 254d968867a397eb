package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSignWithLog walks the log's command contract: a server, a builder
// registered with its token, sign-blob and attest with --log, the server's
// trusted root, and verification that requires the log entry.
func TestSignWithLog(t *testing.T) {
	dir := t.TempDir()
	srv, cliHome := startLogServer(t, filepath.Join(dir, "srv")), filepath.Join(dir, "cli")
	srvHome, url := srv.home, srv.url

	pub := filepath.Join(dir, "builder.pub")
	if err := os.WriteFile(pub, []byte(mustCLI(t, 0, cliHome, "key", "public")), 0o644); err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(mustCLI(t, 0, "", "server", "add-builder", "--home", srvHome, "--name", "ci", "--key", pub))
	if token == "" || strings.Contains(token, "\n") {
		t.Fatalf("add-builder printed %q, want only the token", token)
	}
	trPath := filepath.Join(dir, "trusted_root.json")
	if err := os.WriteFile(trPath, []byte(mustCLI(t, 0, "", "server", "trusted-root", "--home", srvHome, "--url", url)), 0o644); err != nil {
		t.Fatal(err)
	}
	art := filepath.Join(dir, "a.txt")
	if err := os.WriteFile(art, []byte("logged artifact\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pred := filepath.Join(dir, "pred.json")
	if err := os.WriteFile(pred, []byte(slsaPredicate), 0o644); err != nil {
		t.Fatal(err)
	}

	// Without the token the log refuses the write, and nothing is written.
	t.Setenv("PIPEGUARD_LOG_TOKEN", "")
	mustCLI(t, 2, cliHome, "sign-blob", "--bundle", filepath.Join(dir, "no.json"), "--log", url, art)
	if _, err := os.Stat(filepath.Join(dir, "no.json")); err == nil {
		t.Fatal("a bundle was written although the log refused the entry")
	}
	t.Setenv("PIPEGUARD_LOG_TOKEN", token)
	blob, att := filepath.Join(dir, "blob.json"), filepath.Join(dir, "att.json")
	mustCLI(t, 0, cliHome, "sign-blob", "--bundle", blob, "--log", url, art)
	mustCLI(t, 0, cliHome, "attest", "--type", "https://slsa.dev/provenance/v1", "--predicate", pred, "--bundle", att, "--log", url, art)
	unlogged := filepath.Join(dir, "unlogged.json")
	mustCLI(t, 0, cliHome, "attest", "--type", "https://slsa.dev/provenance/v1", "--predicate", pred, "--bundle", unlogged, art)

	mustCLI(t, 0, "", "verify-bundle", "--bundle", blob, "--key", pub, "--trusted-root", trPath, "--require-tlog", art)
	mustCLI(t, 1, "", "verify-bundle", "--bundle", unlogged, "--key", pub, "--trusted-root", trPath, "--require-tlog", art)

	// A policy requiring the log accepts the logged attestation only.
	out := mustCLI(t, 0, "", "policy", "init", "--trust-key", pub, "--builder-id", "https://pipeguard.dev/builders/local/v1", "--source", "github.com/acme/app")
	pol := filepath.Join(dir, "policy.yaml")
	out = strings.Replace(out, "require:\n", "trustedRoot: "+trPath+"\nrequire:\n  transparencyLog: true\n", 1)
	if err := os.WriteFile(pol, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, 0, "", "verify", art, "--policy", pol, "--bundle", att)
	if got := mustCLI(t, 1, "", "verify", art, "--policy", pol, "--bundle", unlogged); !strings.Contains(got, "require.transparencyLog") &&
		!strings.Contains(got, "transparency log") {
		t.Fatalf("refusal does not name the log: %s", got)
	}

	if cosign, err := exec.LookPath("cosign"); err == nil {
		cmd := exec.Command(cosign, "verify-blob", "--bundle", blob, "--trusted-root", trPath, "--key", pub, art)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cosign refused our logged bundle: %v\n%s", err, b)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not come up", url)
}

type logServer struct{ home, url string }

// startLogServer runs `pipeguard server` in process until the test ends.
func startLogServer(t *testing.T, home string) logServer {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		var out, errb bytes.Buffer
		g := &globals{stdout: &out, stderr: &errb, stdin: strings.NewReader(""), log: slog.Default()}
		done <- execute(ctx, g, []string{"server", "--listen", addr, "--home", home})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
	waitHTTP(t, "http://"+addr+"/healthz")
	return logServer{home: home, url: "http://" + addr}
}
