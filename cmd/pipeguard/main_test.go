package main

import (
	"os"
	"testing"

	"github.com/pipeguard/pipeguard/internal/build/sandbox"
)

// TestMain lets the test binary serve as the sandbox's init, as the real
// binary does, so that build and run can be tested in process.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == sandbox.InitArg {
		os.Exit(sandbox.InitMain())
	}
	os.Exit(m.Run())
}
