package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/pipeguard/pipeguard/internal/home"
	"github.com/pipeguard/pipeguard/internal/tlog"
	"github.com/pipeguard/pipeguard/internal/tlog/server"
)

// logKeyPassword reads the log key's password from the environment only:
// a server must start unattended.
func logKeyPassword() ([]byte, error) { return home.EnvPasswordFunc(false) }

func newServerCmd(g *globals) *cobra.Command {
	var (
		listen, dsn, origin  string
		privateStore         bool
		batchSize            uint
		batchAge, cpInterval time.Duration
	)
	c := &cobra.Command{
		Use:   "server --listen ADDR [--home DIR] [--db postgres://...]",
		Short: "Serve the transparency log and the attestation store",
		Long: `Serve the transparency log (Rekor v2 style hashedrekord entries over Tessera tiles,
C2SP checkpoints signed by the log's key) and the attestation store.

The log's key and origin are created on first start; the origin is the
listen host unless --origin says otherwise, and never changes afterwards.
Writes need a builder token (see "server add-builder"); log reads are public.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := g.homeDir()
			if err != nil {
				return errored(err)
			}
			// Tessera logs through klog: route it into the same structured log.
			klog.SetSlogLogger(g.log.With("component", "tessera"))
			err = server.Run(cmd.Context(), server.Config{
				Home: dir, DSN: dsn, Listen: listen, Origin: origin, Password: logKeyPassword,
				PrivateStore: privateStore, Logger: g.log,
				LogOptions: []tlog.LogOption{tlog.WithBatching(batchSize, batchAge), tlog.WithCheckpointInterval(cpInterval)},
			})
			if err != nil {
				return errored(err)
			}
			return nil
		},
	}
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address to listen on")
	c.Flags().StringVar(&dsn, "db", "", "attestation store: postgres://... (default: SQLite in the home)")
	c.Flags().StringVar(&origin, "origin", "", "log origin, set once when the log is created (default: the listen host)")
	c.Flags().BoolVar(&privateStore, "private-store", false, "require a builder token to read the attestation store")
	c.Flags().UintVar(&batchSize, "batch-size", 1024, "most entries sequenced together")
	c.Flags().DurationVar(&batchAge, "batch-age", 50*time.Millisecond, "longest an entry waits to be sequenced")
	c.Flags().DurationVar(&cpInterval, "checkpoint-interval", 100*time.Millisecond, "how often a checkpoint is signed (>= 100ms)")
	c.AddCommand(newServerAddBuilderCmd(g), newServerTrustedRootCmd(g))
	return c
}

func newServerAddBuilderCmd(g *globals) *cobra.Command {
	var name, keyPath, dsn string
	c := &cobra.Command{
		Use:   "add-builder --name NAME --key PUB.pem [--home DIR] [--db postgres://...]",
		Short: "Register a builder's public key and print its write token",
		Long: `Register a builder's public key and print its write token on stdout (only
there, only once; the server keeps a hash). Clients read it from
PIPEGUARD_LOG_TOKEN. A running server honours the new builder at once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" || keyPath == "" {
				return errored(fmt.Errorf("--name and --key are required"))
			}
			dir, err := g.homeDir()
			if err != nil {
				return errored(err)
			}
			pub, err := os.ReadFile(keyPath)
			if err != nil {
				return errored(fmt.Errorf("reading builder key: %w", err))
			}
			tok, err := server.AddBuilder(cmd.Context(), dir, dsn, name, pub)
			if err != nil {
				return errored(err)
			}
			fmt.Fprintln(g.stdout, tok)
			return nil
		},
	}
	c.Flags().StringVar(&name, "name", "", "builder name")
	c.Flags().StringVar(&keyPath, "key", "", "the builder's public key (PEM)")
	c.Flags().StringVar(&dsn, "db", "", "store: postgres://... (default: SQLite in the home)")
	return c
}

func newServerTrustedRootCmd(g *globals) *cobra.Command {
	var u string
	c := &cobra.Command{
		Use:   "trusted-root --url URL [--home DIR]",
		Short: "Print a Sigstore trusted root listing this log at URL",
		Long: `Print a Sigstore trusted root (JSON) that lists this log's key and URL, for
sigstore-go, cosign (--trusted-root) and pipeguard verify. The URL's host
must be the log's origin, which sigstore verifiers expect in checkpoints.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if u == "" {
				return errored(fmt.Errorf("--url is required"))
			}
			dir, err := g.homeDir()
			if err != nil {
				return errored(err)
			}
			tr, err := server.TrustedRoot(dir, u, logKeyPassword, g.log)
			if err != nil {
				return errored(err)
			}
			g.stdout.Write(tr)
			return nil
		},
	}
	c.Flags().StringVar(&u, "url", "", "the log's base URL, e.g. http://127.0.0.1:8080")
	return c
}
