package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/pipeguard/pipeguard/internal/attest"
	"github.com/pipeguard/pipeguard/internal/build"
	"github.com/pipeguard/pipeguard/internal/build/sandbox"
	"github.com/pipeguard/pipeguard/internal/home"
)

// buildFlags are shared by `build` and (partly) `run`.
type buildFlags struct {
	source       string
	artifacts    []string
	artifactsDir string
	bundle       string
	logFile      string
	tlog         logFlags
	hermetic     bool
	fetch        string
	allowDirty   bool
	env          []string
	ro           []string
	goModCache   string
	timeout      time.Duration
	noSandbox    bool
	output       string
}

func newBuildCmd(g *globals) *cobra.Command {
	var f buildFlags
	c := &cobra.Command{
		Use:   "build --source REPO[@REV] --artifact GLOB... [--hermetic] [--fetch CMD] -- BUILD_CMD...",
		Short: "Build a commit in a sandbox and sign SLSA provenance for its outputs",
		Long: `build checks out the exact commit into a fresh workspace, runs BUILD_CMD in a
sandbox made of Linux namespaces (no capabilities, read-only system, only the
workspace writable, no network with --hermetic), and after every process of the
step has ended hashes the declared outputs, copies them to --artifacts-dir and
signs SLSA Provenance v1 for them with the home's key.

The sandbox needs unprivileged user namespaces or root. Without them the step
runs unisolated and the provenance claims SLSA Build L2 only, under the builder
id suffixed with ` + build.DegradedSuffix + `.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if f.source == "" {
				return errored(errors.New("--source is required"))
			}
			if f.output != "text" && f.output != "json" {
				return errored(fmt.Errorf("--output must be text or json"))
			}
			h, err := g.openHome(ctx)
			if err != nil {
				return err
			}
			bopts, logClient, err := f.tlog.bundleOptions()
			if err != nil {
				return err
			}
			s, err := h.Signer(ctx, f.tlog.signerOptions(logClient)...)
			if err != nil {
				return errored(err)
			}
			opts := []build.Option{build.WithLogger(g.log), build.WithOutput(g.stderr), build.WithHidden(h.Dir), build.WithBundleOptions(bopts...)}
			if f.noSandbox {
				opts = append(opts, build.WithoutIsolation("disabled by --no-sandbox"))
			}
			b, err := build.New(s, h.Config.BuilderID, opts...)
			if err != nil {
				return errored(err)
			}
			repo, rev := build.ParseSourceArg(f.source)
			if f.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, f.timeout)
				defer cancel()
			}
			res, err := b.Build(ctx, build.Request{
				Source: repo, Rev: rev, AllowDirty: f.allowDirty, Command: args, Artifacts: f.artifacts,
				Hermetic: f.hermetic, Fetch: f.fetch, Env: f.env, ReadOnly: f.ro, GoModCache: f.goModCache, ArtifactsDir: f.artifactsDir,
			})
			if err != nil {
				return buildError(g, &f, err)
			}
			bundlePath, logPath := f.paths()
			if err := home.WriteFileAtomic(logPath, res.Log, 0o644); err != nil {
				return errored(err)
			}
			if err := attest.WriteBundle(bundlePath, res.Bundle); err != nil {
				return errored(err)
			}
			return printBuild(g, f.output, res, bundlePath, logPath)
		},
	}
	f.register(c)
	c.Flags().StringVar(&f.source, "source", "", "repository directory (or a folder in one) or git URL, optionally @REV (default HEAD)")
	c.Flags().StringArrayVar(&f.artifacts, "artifact", nil, "glob of an output, relative to the workspace root (repeatable)")
	c.Flags().StringVar(&f.output, "output", "text", "text or json")
	return c
}

func (f *buildFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.artifactsDir, "artifacts-dir", "pipeguard-out", "where the outputs are copied (their relative paths kept)")
	c.Flags().StringVar(&f.bundle, "bundle", "", "where the signed provenance (Sigstore bundle) is written (default ARTIFACTS_DIR/provenance.sigstore.json)")
	c.Flags().StringVar(&f.logFile, "build-log", "", "where the build log is written (default ARTIFACTS_DIR/build.log)")
	f.tlog.register(c)
	c.Flags().BoolVar(&f.hermetic, "hermetic", false, "no network for the build step")
	c.Flags().StringVar(&f.fetch, "fetch", "", "shell command run first, with network, to fetch dependencies (checked against go.sum / package-lock.json)")
	c.Flags().BoolVar(&f.allowDirty, "allow-dirty", false, "build the commit although the working tree has changes (recorded)")
	c.Flags().StringArrayVar(&f.env, "env", nil, "NAME=VALUE added to the steps' environment (recorded; credentials are refused)")
	c.Flags().StringArrayVar(&f.ro, "ro", nil, "extra host directory shown read-only in the sandbox (recorded)")
	c.Flags().StringVar(&f.goModCache, "go-mod-cache", "", "existing Go module cache shown read-only as the build's GOMODCACHE, instead of --fetch (recorded)")
	c.Flags().DurationVar(&f.timeout, "timeout", 0, "stop the steps after this long (e.g. 30m; 0: no limit); a timeout fails the build")
	c.Flags().BoolVar(&f.noSandbox, "no-sandbox", false, "run unisolated (provenance claims SLSA Build L2 only); for testing")
	c.Flags().MarkHidden("no-sandbox")
}

func (f *buildFlags) paths() (bundle, log string) {
	bundle, log = f.bundle, f.logFile
	if bundle == "" {
		bundle = filepath.Join(f.artifactsDir, "provenance.sigstore.json")
	}
	if log == "" {
		log = filepath.Join(f.artifactsDir, "build.log")
	}
	return bundle, log
}

// buildError maps a build error to an exit code: the step or its outputs
// failing is exit 1, pipeguard's own trouble exit 2.
func buildError(g *globals, f *buildFlags, err error) error {
	var se *build.StepError
	if errors.As(err, &se) {
		_, logPath := f.paths()
		if os.MkdirAll(filepath.Dir(logPath), 0o755) == nil && home.WriteFileAtomic(logPath, se.Log, 0o644) == nil {
			fmt.Fprintf(g.stderr, "build log: %s\n", logPath)
		}
		return failed(fmt.Errorf("%w; no provenance was written", err))
	}
	var re *build.RejectedError
	if errors.As(err, &re) {
		return failed(fmt.Errorf("%w; no provenance was written", err))
	}
	return errored(err)
}

func printBuild(g *globals, output string, res *build.Result, bundlePath, logPath string) error {
	p := res.Provenance
	if output == "json" {
		return json.NewEncoder(g.stdout).Encode(map[string]any{
			"subjects":       res.Subjects,
			"artifacts":      res.Artifacts,
			"bundle":         bundlePath,
			"log":            logPath,
			"builderId":      p.RunDetails.Builder.ID,
			"slsaBuildLevel": p.BuildDefinition.InternalParameters.SLSABuildLevel,
			"invocationId":   p.RunDetails.Metadata.InvocationID,
			"source":         p.BuildDefinition.ExternalParameters.Source,
		})
	}
	if res.Degraded {
		fmt.Fprintf(g.stdout, "WARNING: built WITHOUT isolation (%s): SLSA Build L2 only\n", p.BuildDefinition.InternalParameters.Isolation.Reason)
	}
	src := p.BuildDefinition.ExternalParameters.Source
	fmt.Fprintf(g.stdout, "built %s at %s as SLSA Build L%d by %s\n", src.URI, src.Digest["gitCommit"], p.BuildDefinition.InternalParameters.SLSABuildLevel, p.RunDetails.Builder.ID)
	for i, s := range res.Subjects {
		fmt.Fprintf(g.stdout, "  sha256:%s  %s\n", s.Digest["sha256"], res.Artifacts[i])
	}
	fmt.Fprintf(g.stdout, "provenance: %s\nlog: %s\n", bundlePath, logPath)
	return nil
}

// newSandboxInitCmd is the sandbox's init process (pid 1 of the build's
// pid namespace), entered by re-executing this binary.
func newSandboxInitCmd() *cobra.Command {
	return &cobra.Command{
		Use:                sandbox.InitArg,
		Hidden:             true,
		DisableFlagParsing: true,
		Run: func(*cobra.Command, []string) {
			os.Exit(sandbox.InitMain())
		},
	}
}
