package main

import (
	"errors"
	"fmt"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/spf13/cobra"

	"github.com/pipeguard/pipeguard/internal/tlog"
)

func newLogCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "log",
		Short: "Audit a pipeguard transparency log",
	}
	c.AddCommand(newLogMonitorCmd(g))
	return c
}

func newLogMonitorCmd(g *globals) *cobra.Command {
	var logURL, statePath, vkey string
	var bundles []string
	c := &cobra.Command{
		Use:   "monitor --log URL --state FILE [--checkpoint-from BUNDLE]...",
		Short: "Check that the log only grew since last time (exit 1 on a fork, rewrite or shrink)",
		Long: `Fetch the log's latest checkpoint, verify its signature and a consistency
proof from the checkpoint remembered in --state, then remember the new one.
With --checkpoint-from, also check that the checkpoint inside a bundle is
part of the history the log shows now. The log's verifier key is pinned in
the state file on first use unless --verifier-key gives it.

Exit 0: consistent. Exit 1: the log forked, was rewritten, shrank, or
signed with another key. Exit 2: the log could not be checked.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if logURL == "" || statePath == "" {
				return errored(errors.New("--log and --state are required"))
			}
			cl, err := tlog.NewClient(logURL, "")
			if err != nil {
				return errored(err)
			}
			cfg := tlog.MonitorConfig{StatePath: statePath, VerifierKey: vkey}
			for _, p := range bundles {
				b, err := bundle.LoadJSONFromPath(p)
				if err != nil {
					return errored(fmt.Errorf("reading bundle %s: %w", p, err))
				}
				cfg.Bundles = append(cfg.Bundles, b.Bundle)
			}
			res, err := tlog.Monitor(cmd.Context(), cl, cfg)
			var alert *tlog.Alert
			switch {
			case errors.As(err, &alert):
				return failed(fmt.Errorf("ALERT: %s: %w", logURL, err))
			case err != nil:
				return errored(err)
			}
			if res.TrustedNow {
				fmt.Fprintf(g.stderr, "pinned the log's verifier key on first use (state %s)\n", statePath)
			}
			switch {
			case res.HadPrevious:
				fmt.Fprintf(g.stdout, "log %s (%s): size %d, consistent with the remembered size %d\n", logURL, res.Origin, res.Size, res.PreviousSize)
			default:
				fmt.Fprintf(g.stdout, "log %s (%s): size %d, remembered\n", logURL, res.Origin, res.Size)
			}
			if res.BundlesSeen > 0 {
				fmt.Fprintf(g.stdout, "%d bundle checkpoint(s) consistent with the log\n", res.BundlesSeen)
			}
			return nil
		},
	}
	c.Flags().StringVar(&logURL, "log", "", "the log's base URL")
	c.Flags().StringVar(&statePath, "state", "", "file remembering the last checkpoint seen")
	c.Flags().StringVar(&vkey, "verifier-key", "", "the log's C2SP verifier key (origin+hash+key); default: pinned on first use")
	c.Flags().StringArrayVar(&bundles, "checkpoint-from", nil, "a Sigstore bundle whose log checkpoint must be consistent with the log (repeatable)")
	return c
}
