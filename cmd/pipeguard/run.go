package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pipeguard/pipeguard/internal/build"
	"github.com/pipeguard/pipeguard/internal/fingerprint"
	"github.com/pipeguard/pipeguard/internal/pipeline"
)

func newRunCmd(g *globals) *cobra.Command {
	var allowDirty, noSandbox bool
	var artifactsDir, output string
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "run [DIR]",
		Short: "Run the guarded pipeline of a project folder: sandboxed build, signed provenance, policy check, VSA",
		Long: `run reads DIR's committed .pipeguard.yaml (default DIR is .), builds DIR's
repository at HEAD in the sandbox, signs SLSA provenance for the outputs,
verifies every output against the committed policy the file names, and writes
a signed VSA for each. Exit 0 when every gate passed, 1 when a gate found a
problem, 2 when one could not run.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if output != "text" && output != "json" {
				return errored(errors.New("--output must be text or json"))
			}
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			st, err := pipeline.Prepare(ctx, dir, allowDirty, artifactsDir)
			if err != nil {
				return errored(err)
			}
			h, err := g.openHome(ctx)
			if err != nil {
				return err
			}
			s, err := h.Signer(ctx)
			if err != nil {
				return errored(err)
			}
			pub, err := h.PublicKeyPEM()
			if err != nil {
				return errored(err)
			}
			opts := []build.Option{build.WithLogger(g.log), build.WithOutput(g.stderr), build.WithHidden(h.Dir)}
			if noSandbox {
				opts = append(opts, build.WithoutIsolation("disabled by --no-sandbox"))
			}
			b, err := build.New(s, h.Config.BuilderID, opts...)
			if err != nil {
				return errored(err)
			}
			fpKey, err := fingerprint.LoadOrCreateKey(h.FingerprintKeyPath())
			if err != nil {
				return errored(err)
			}
			// Later capabilities (dependency check, rebuild) plug in as
			// extra gates, between the secret scan and verification.
			p := pipeline.New(g.log, pipeline.Standard(b, s, fpKey, pub)...)
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			rep := p.Run(ctx, st)
			if err := printRun(g.stdout, output, rep); err != nil {
				return errored(err)
			}
			switch {
			case rep.Errored():
				return errored(errors.New("the pipeline could not complete"))
			case !rep.Passed:
				return failed(errors.New("the pipeline refused the build"))
			}
			return nil
		},
	}
	c.Flags().BoolVar(&allowDirty, "allow-dirty", false, "run although the working tree has changes (only the commit is built; recorded)")
	c.Flags().StringVar(&artifactsDir, "artifacts-dir", "", "where outputs and attestations are written (default DIR/pipeguard-out)")
	c.Flags().StringVarP(&output, "output", "o", "text", "report format: text or json")
	c.Flags().DurationVar(&timeout, "timeout", 0, "stop the build after this long (e.g. 30m; 0: no limit); a timeout fails the run")
	c.Flags().BoolVar(&noSandbox, "no-sandbox", false, "run the build unisolated (SLSA Build L2 only); for testing")
	c.Flags().MarkHidden("no-sandbox")
	return c
}

func printRun(w io.Writer, format string, r *pipeline.Report) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	src := r.Source
	if r.Path != "" {
		src += " (folder " + r.Path + ")"
	}
	fmt.Fprintf(w, "pipeguard run %s\n  source %s at %s\n", r.Dir, src, r.Commit)
	for _, o := range r.Outcomes {
		fmt.Fprintf(w, "  %-7s %-8s %s\n", strings.ToUpper(string(o.Status)), o.Gate, o.Summary)
		for _, d := range o.Details {
			fmt.Fprintf(w, "                   %s\n", d)
		}
	}
	verdict := "PASS"
	if !r.Passed {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "%s\n", verdict)
	return nil
}
