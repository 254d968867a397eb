package sandbox

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == InitArg {
		os.Exit(InitMain())
	}
	os.Exit(m.Run())
}

func testSpec(t *testing.T, script string) Spec {
	t.Helper()
	dirs, links := SystemDirs()
	base := t.TempDir()
	ws := filepath.Join(base, "ws")
	root := filepath.Join(base, "root")
	for _, d := range []string{ws, root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if !Rootless() {
		os.Chown(ws, HostStepUID, HostStepUID)
	}
	return Spec{
		Args:      []string{"sh", "-c", script},
		Env:       []string{"PATH=/usr/bin:/bin", "HOME=/tmp"},
		Dir:       WorkspaceDir,
		Workspace: ws,
		ReadOnly:  dirs,
		Symlinks:  links,
		Root:      root,
		Rlimits:   DefaultRlimits(Rootless()),
		Hostname:  "sandbox",
	}
}

func TestRunIsolation(t *testing.T) {
	if err := Probe(context.Background(), ""); errors.Is(err, ErrUnavailable) {
		t.Skipf("the sandbox needs unprivileged user namespaces or root: %v", err)
	}
	tests := []struct {
		name   string
		script string
		want   string
		code   int
	}{
		{"exit code", "exit 3", "", 3},
		{"no capabilities", "grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs)' /proc/self/status | tr -s '\\t' ' '", "CapPrm: 0000000000000000\nCapEff: 0000000000000000\nNoNewPrivs: 1", 0},
		{"uid", "id -u", "1000", 0},
		{"pid namespace", "tr '\\0' ' ' < /proc/1/cmdline | grep -c " + InitArg + "; cat /proc/1/environ >/dev/null 2>&1 || echo no-environ; cat /proc/1/mem >/dev/null 2>&1 || echo no-mem", "1\nno-environ\nno-mem", 0},
		{"root read-only", "touch /x 2>/dev/null || echo denied; touch /usr/x 2>/dev/null || echo denied2", "denied\ndenied2", 0},
		{"workspace writable", "echo hi > /workspace/f && cat /workspace/f", "hi", 0},
		{"only stdio inherited", "ls /proc/self/fd | tr '\\n' ' '", "0 1 2 3", 0},
		{"hostname", "cat /proc/sys/kernel/hostname", "sandbox", 0},
		{"no network", "cat /proc/net/dev | grep -c ':'", "1", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			res, err := Run(context.Background(), testSpec(t, tc.script), Options{Stdout: &out, Stderr: &out})
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode != tc.code {
				t.Fatalf("exit %d, want %d; output %q", res.ExitCode, tc.code, out.String())
			}
			got := strings.TrimSpace(out.String())
			if tc.name == "no capabilities" {
				// CapBnd may be non-zero in the fresh user namespace;
				// with no permitted caps and no_new_privs it gives nothing.
				var lines []string
				for _, l := range strings.Split(got, "\n") {
					if !strings.HasPrefix(l, "CapBnd") {
						lines = append(lines, l)
					}
				}
				got = strings.Join(lines, "\n")
			}
			if got != tc.want {
				t.Fatalf("output %q, want %q", got, tc.want)
			}
		})
	}
}
