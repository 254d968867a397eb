package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// cli runs pipeguard in-process with its own home and returns the exit
// code and both outputs.
func cli(t testing.TB, homeDir string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	g := &globals{stdout: &out, stderr: &errb, stdin: strings.NewReader(""), log: slog.Default()}
	if homeDir != "" {
		args = append([]string{"--home", homeDir}, args...)
	}
	code := execute(context.Background(), g, args)
	return code, out.String(), errb.String()
}

// mustCLI runs pipeguard in-process and fails the test unless it exits
// with want; it returns stdout.
func mustCLI(t testing.TB, want int, homeDir string, args ...string) string {
	t.Helper()
	code, out, errOut := cli(t, homeDir, args...)
	if code != want {
		t.Fatalf("pipeguard %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out
}
