// Command pipeguard keeps a software delivery pipeline honest: it signs and
// verifies attestations, builds in a sandbox, judges artifacts against a
// policy and guards the systems around the pipeline.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
