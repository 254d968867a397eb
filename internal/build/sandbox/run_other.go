//go:build !linux

package sandbox

import (
	"context"
	"fmt"
	"os"
	"runtime"
)

// DefaultRlimits has nothing to apply where there is no sandbox.
func DefaultRlimits(bool) []Rlimit { return nil }

// Run cannot isolate anything outside Linux.
func Run(context.Context, Spec, Options) (*Result, error) {
	return nil, fmt.Errorf("%w on %s", ErrUnavailable, runtime.GOOS)
}

// InitMain is never entered outside Linux.
func InitMain() int {
	fmt.Fprintln(os.Stderr, "sandbox init: Linux only")
	return 125
}
