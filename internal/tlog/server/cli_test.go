package server

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pipeguard/pipeguard/internal/sign"
)

// TestCommandContract drives the real binary through the commands issue 4
// fixes: server, add-builder (token only on stdout), trusted-root (origin
// must match the URL), sign-blob --log, and log monitor's exit codes when
// the log at the same URL later shows a shorter history.
func TestCommandContract(t *testing.T) {
	bin := pipeguardBinary(t)
	base := t.TempDir()
	homeDir := filepath.Join(base, "home")
	run := func(wantCode int, env []string, args ...string) (string, string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(append(os.Environ(), "PIPEGUARD_PASSWORD="), env...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != wantCode {
			t.Fatalf("pipeguard %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, wantCode, stdout.String(), stderr.String())
		}
		return stdout.String(), stderr.String()
	}
	k, _ := sign.GenerateKey(sign.AlgECDSAP256)
	priv, _ := sign.EncodePrivateKey(k, nil)
	pub, _ := sign.EncodePublicKey(k.Public())
	keyPath, pubPath := filepath.Join(base, "b.key"), filepath.Join(base, "b.pub")
	os.WriteFile(keyPath, priv, 0o600)
	os.WriteFile(pubPath, pub, 0o644)

	addr := freePort(t)
	url := "http://" + addr
	srv := startServer(t, bin, homeDir, addr)
	out, _ := run(0, nil, "server", "add-builder", "--home", homeDir, "--name", "ci", "--key", pubPath)
	if !regexp.MustCompile(`^pgl_[A-Za-z0-9_-]{43}\n$`).MatchString(out) {
		t.Fatalf("add-builder printed more than its token: %q", out)
	}
	token := strings.TrimSpace(out)
	tr, _ := run(0, nil, "server", "trusted-root", "--home", homeDir, "--url", url)
	if !strings.Contains(tr, `"baseUrl": "`+url+`"`) {
		t.Fatalf("trusted root does not list %s:\n%s", url, tr)
	}
	_, stderr := run(2, nil, "server", "trusted-root", "--home", homeDir, "--url", strings.Replace(url, "127.0.0.1", "localhost", 1))
	if !strings.Contains(stderr, "origin") {
		t.Fatalf("trusted-root for another host: %s", stderr)
	}
	art := filepath.Join(base, "art.txt")
	os.WriteFile(art, []byte("artifact"), 0o644)
	bundle := filepath.Join(base, "art.sigstore.json")
	run(0, []string{"PIPEGUARD_LOG_TOKEN=" + token}, "sign-blob", "--key", keyPath, "--bundle", bundle, "--log", url, art)
	run(2, []string{"PIPEGUARD_LOG_TOKEN=pgl_wrong"}, "sign-blob", "--key", keyPath, "--bundle", filepath.Join(base, "x.json"), "--log", url, art)

	state := filepath.Join(base, "monitor.json")
	run(0, nil, "log", "monitor", "--log", url, "--state", state, "--checkpoint-from", bundle)
	run(0, nil, "log", "monitor", "--log", url, "--state", state)

	// Another server with the same key and origin but none of the history
	// takes over the URL: the monitor must alert.
	srv.cmd.Process.Kill()
	srv.cmd.Wait()
	evil := filepath.Join(base, "evil")
	os.MkdirAll(filepath.Join(evil, "log"), 0o700)
	for _, f := range []string{"log.key", "log.pub", "origin"} {
		b, err := os.ReadFile(filepath.Join(LogDir(homeDir), f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(evil, "log", f), b, 0o600)
	}
	startServer(t, bin, evil, addr)
	_, stderr = run(1, nil, "log", "monitor", "--log", url, "--state", state)
	if !strings.Contains(stderr, "ALERT") || !strings.Contains(stderr, "shrank") {
		t.Fatalf("monitor message: %s", stderr)
	}
	_, stderr = run(1, nil, "log", "monitor", "--log", url, "--state", filepath.Join(base, "fresh.json"), "--checkpoint-from", bundle)
	if !strings.Contains(stderr, "ALERT") {
		t.Fatalf("monitor message for a bundle: %s", stderr)
	}
}
