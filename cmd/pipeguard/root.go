package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/pipeguard/pipeguard/internal/home"
)

// Exit codes shared by every command: 0 passed, 1 a check found a problem,
// 2 usage or runtime error.
const (
	exitOK      = 0
	exitFail    = 1
	exitErrored = 2
)

// exitError carries the exit code a command wants.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// failed marks a check that found a problem (exit 1).
func failed(err error) error { return &exitError{code: exitFail, err: err} }

// errored marks a usage or runtime error (exit 2).
func errored(err error) error { return &exitError{code: exitErrored, err: err} }

// globals are the flags every command shares.
type globals struct {
	homeFlag string
	verbose  bool
	stdout   io.Writer
	stderr   io.Writer
	stdin    io.Reader
	log      *slog.Logger
}

// homeDir resolves --home, $PIPEGUARD_HOME or ~/.pipeguard.
func (g *globals) homeDir() (string, error) { return home.Resolve(g.homeFlag) }

// openHome opens the home, creating it with a key on first use.
func (g *globals) openHome(ctx context.Context) (*home.Home, error) {
	dir, err := g.homeDir()
	if err != nil {
		return nil, errored(err)
	}
	h, err := home.Open(ctx, dir, home.WithPassword(g.password), home.WithLogger(g.log))
	if err != nil {
		return nil, errored(err)
	}
	return h, nil
}

// password reads the key password from the environment, else prompts on
// the terminal; with neither it returns nil.
func (g *globals) password(confirm bool) ([]byte, error) {
	if p, _ := home.EnvPasswordFunc(confirm); p != nil {
		return p, nil
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil || !term.IsTerminal(int(tty.Fd())) {
		if tty != nil {
			tty.Close()
		}
		return nil, nil
	}
	defer tty.Close()
	fmt.Fprint(tty, "Password for the signing key: ")
	p, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return nil, err
	}
	if confirm {
		fmt.Fprint(tty, "Repeat the password: ")
		p2, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		if err != nil {
			return nil, err
		}
		if string(p) != string(p2) {
			return nil, errors.New("passwords do not match")
		}
	}
	return p, nil
}

func newRootCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "pipeguard",
		Short:         "Keep a software delivery pipeline honest",
		Long:          "pipeguard signs and verifies attestations, builds in a sandbox, judges artifacts against a policy, and guards the systems around the pipeline.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			level := slog.LevelInfo
			if g.verbose {
				level = slog.LevelDebug
			}
			g.log = slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level}))
		},
	}
	root.SetOut(g.stdout)
	root.SetErr(g.stderr)
	root.SetIn(g.stdin)
	root.PersistentFlags().StringVar(&g.homeFlag, "home", "", "pipeguard's state directory (default $PIPEGUARD_HOME, else ~/.pipeguard)")
	root.PersistentFlags().BoolVarP(&g.verbose, "verbose", "v", false, "log debug detail to stderr")
	// One line per capability; each lives in its own file of this package.
	root.AddCommand(
		// Keys, signing, verification and policy (the foundation).
		newInitCmd(g),
		newKeyCmd(g),
		newSignBlobCmd(g),
		newAttestCmd(g),
		newVerifyBundleCmd(g),
		newVerifyEnvelopeCmd(g),
		newTrustedRootCmd(g),
		newVerifyCmd(g),
		newPolicyCmd(g),
		// The hardened builder and the guarded pipeline.
		newBuildCmd(g),
		newRunCmd(g),
		newSandboxInitCmd(),
		// The transparency log and attestation store.
		newServerCmd(g),
		newLogCmd(g),
		// The deploy gate.
		newAttachCmd(g),
		newWebhookCmd(g),
		// Secrets and honeytokens.
		newSecretsCmd(g),
		newHoneytokenCmd(g),
	)
	return root
}

func run(ctx context.Context, args []string) int {
	g := &globals{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, log: slog.Default()}
	return execute(ctx, g, args)
}

// execute runs the command line and maps errors to exit codes. Usage errors
// from cobra exit 2.
func execute(ctx context.Context, g *globals, args []string) int {
	root := newRootCmd(g)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(g.stderr, "pipeguard:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitErrored
}
