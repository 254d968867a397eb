package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/pipeguard/pipeguard/internal/fingerprint"
	"github.com/pipeguard/pipeguard/internal/secrets"
	"github.com/pipeguard/pipeguard/internal/secrets/findings"
	"github.com/pipeguard/pipeguard/internal/secrets/gitscan"
	"github.com/pipeguard/pipeguard/internal/secrets/scan"
	"github.com/pipeguard/pipeguard/internal/store"
)

func newSecretsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "secrets", Short: "Find leaked secrets and track them until rotated"}
	cmd.AddCommand(newSecretsScanCmd(g), newSecretsFindingsCmd(g), newSecretsRulesCmd(g))
	return cmd
}

func newSecretsScanCmd(g *globals) *cobra.Command {
	var (
		gitMode, staged, stdin, noStore bool
		jira, slack                     string
		output, configPath, baseline    string
		ignoreFile, reportPath          string
		logOpts                         []string
		maxMB, decodeDepth, archive     int
	)
	cmd := &cobra.Command{
		Use:   "scan [PATH]",
		Short: "Scan git history, a directory, stdin, or a Jira/Slack export for secrets",
		Long: `Scan for secrets. Exit 0: clean; 1: findings; 2: error.
Honeytoken sightings are reported separately and do not cause exit 1.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			path := "."
			if len(args) == 1 {
				path = args[0]
			}
			req := scan.Request{Path: path, Revs: logOpts, ConfigPath: configPath, Baseline: baseline, IgnoreFile: ignoreFile,
				MaxTargetBytes: maxMB * 1_000_000, MaxDecodeDepth: decodeDepth, MaxArchive: archive, Stdin: g.stdin}
			switch {
			case staged:
				req.Source = scan.SourceStaged
			case gitMode:
				req.Source = scan.SourceGit
			case stdin:
				req.Source = scan.SourceStdin
			case jira != "":
				req.Source, req.Path = scan.SourceJira, jira
			case slack != "":
				req.Source, req.Path = scan.SourceSlack, slack
			default:
				req.Source = scan.SourceDir
			}
			switch output {
			case "text", "json", "sarif", "gitleaks":
			default:
				return errored(fmt.Errorf("unknown --output %q (want text, json, sarif or gitleaks)", output))
			}
			h, err := g.openHome(ctx)
			if err != nil {
				return err
			}
			key, err := fingerprint.LoadOrCreateKey(h.FingerprintKeyPath())
			if err != nil {
				return errored(err)
			}
			req.FingerprintKey = key
			db, err := store.Open(ctx, h.DBPath())
			if err != nil {
				return errored(err)
			}
			defer db.Close()
			req.Honeytokens = db
			if f, ok := g.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				req.Progress = func(p gitscan.Progress) {
					mbs := float64(p.Bytes) / 1e6 / max(p.Elapsed.Seconds(), 0.001)
					fmt.Fprintf(g.stderr, "\r%d commits, %d hunks, %.0f MB/s   ", p.Commits, p.Hunks, mbs)
				}
			}
			rep, err := scan.Run(ctx, req)
			if req.Progress != nil {
				fmt.Fprint(g.stderr, "\r\033[K")
			}
			if err != nil {
				return errored(err)
			}
			if !noStore && len(rep.Findings) > 0 {
				fst, err := findings.Open(ctx, db)
				if err != nil {
					return errored(err)
				}
				if _, err := fst.Record(ctx, rep.Findings); err != nil {
					return errored(err)
				}
			}
			cfg, _ := scan.LoadConfig(configPath, path)
			w := g.stdout
			if reportPath != "" {
				f, err := os.Create(reportPath)
				if err != nil {
					return errored(err)
				}
				defer f.Close()
				w = f
			}
			switch output {
			case "json":
				err = rep.WriteJSON(w)
			case "sarif":
				err = rep.WriteSARIF(w, cfg, "dev")
			case "gitleaks":
				err = rep.WriteGitleaks(w)
			default:
				err = rep.WriteText(w)
			}
			if err != nil {
				return errored(err)
			}
			for _, s := range rep.Honeytoken {
				g.log.Warn("honeytoken sighted", "honeytoken", s.Honeytoken, "path", s.Path, "line", s.StartLine, "commit", s.Commit)
			}
			if len(rep.Findings) > 0 {
				return failed(fmt.Errorf("%d secret(s) found", len(rep.Findings)))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&gitMode, "git", false, "scan all history of all refs of the repository at PATH")
	f.StringSliceVar(&logOpts, "log-opts", nil, "revisions to walk instead of all refs (e.g. main~20..main)")
	f.BoolVar(&staged, "staged", false, "scan the changes staged in the index (pre-commit)")
	f.BoolVar(&stdin, "stdin", false, "scan standard input")
	f.StringVar(&jira, "jira", "", "scan a Jira issue export (JSON file)")
	f.StringVar(&slack, "slack", "", "scan a Slack workspace export (zip or folder)")
	f.StringVarP(&output, "output", "o", "text", "output format: text, json, sarif, gitleaks")
	f.StringVarP(&reportPath, "report-path", "r", "", "write the report to a file instead of stdout")
	f.StringVarP(&configPath, "config", "c", "", "gitleaks-format TOML ruleset (default: PATH/.gitleaks.toml, else pipeguard's rules)")
	f.StringVarP(&baseline, "baseline-path", "b", "", "ignore findings present in this earlier report (pipeguard or gitleaks JSON)")
	f.StringVar(&ignoreFile, "gitleaks-ignore-path", "", "suppression file (default: PATH/.gitleaksignore and PATH/.pipeguardignore)")
	f.IntVar(&maxMB, "max-target-megabytes", 0, "skip files larger than this (0: no limit)")
	f.IntVar(&decodeDepth, "max-decode-depth", 5, "peel up to this many layers of base64/hex/percent encoding")
	f.IntVar(&archive, "max-archive-depth", secrets.DefaultMaxArchiveDepth, "open nested archives up to this depth")
	f.BoolVar(&noStore, "no-store", false, "do not record findings in the store")
	return cmd
}

func newSecretsFindingsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "findings", Short: "Track leaked secrets: list, show, set-state, overdue"}
	var output string
	open := func(cmd *cobra.Command) (*findings.Store, func(), error) {
		h, err := g.openHome(cmd.Context())
		if err != nil {
			return nil, nil, err
		}
		db, err := store.Open(cmd.Context(), h.DBPath())
		if err != nil {
			return nil, nil, errored(err)
		}
		s, err := findings.Open(cmd.Context(), db)
		if err != nil {
			db.Close()
			return nil, nil, errored(err)
		}
		return s, func() { db.Close() }, nil
	}
	emit := func(v any, text func()) error {
		if output == "json" {
			e := json.NewEncoder(g.stdout)
			e.SetIndent("", "  ")
			return e.Encode(v)
		}
		text()
		return nil
	}
	var state string
	list := &cobra.Command{Use: "list", Short: "List tracked secrets", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		s, done, err := open(cmd)
		if err != nil {
			return err
		}
		defer done()
		if state != "" && !findings.ValidState(state) {
			return errored(fmt.Errorf("unknown state %q", state))
		}
		ts, err := s.List(cmd.Context(), state)
		if err != nil {
			return errored(err)
		}
		if ts == nil {
			ts = []findings.Tracked{}
		}
		return emit(map[string]any{"findings": ts}, func() {
			for _, t := range ts {
				fmt.Fprintf(g.stdout, "%.16s  %-14s %-8s %-30s %s owner=%s first-seen=%s\n", t.Fingerprint, t.State, t.Severity, t.Rule, t.Redacted, t.Owner, t.FirstSeen.Format(time.RFC3339))
			}
		})
	}}
	list.Flags().StringVar(&state, "state", "", "only this state")
	show := &cobra.Command{Use: "show FINGERPRINT", Short: "Show a tracked secret and where it was seen", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		s, done, err := open(cmd)
		if err != nil {
			return err
		}
		defer done()
		ts, err := s.Show(cmd.Context(), args[0])
		if errors.Is(err, findings.ErrNotFound) {
			return failed(err)
		}
		if err != nil {
			return errored(err)
		}
		return emit(map[string]any{"findings": ts}, func() {
			for _, t := range ts {
				fmt.Fprintf(g.stdout, "%s %s %s state=%s owner=%s redacted=%s\n", t.Fingerprint, t.Rule, t.Severity, t.State, t.Owner, t.Redacted)
				for _, sg := range t.Sightings {
					fmt.Fprintf(g.stdout, "  %s %s:%d commit=%s author=%s\n", sg.Source, sg.Path, sg.Line, sg.Commit, sg.Author)
				}
			}
		})
	}}
	var owner, note string
	setState := &cobra.Command{Use: "set-state FINGERPRINT STATE", Short: "Move a secret to open, rotating, rotated or false-positive", Args: cobra.ExactArgs(2), RunE: func(cmd *cobra.Command, args []string) error {
		s, done, err := open(cmd)
		if err != nil {
			return err
		}
		defer done()
		if err := s.SetState(cmd.Context(), args[0], args[1], owner, note); err != nil {
			return errored(err)
		}
		return nil
	}}
	setState.Flags().StringVar(&owner, "owner", "", "who rotates it")
	setState.Flags().StringVar(&note, "note", "", "a note")
	var slaHigh, slaMedium time.Duration
	overdue := &cobra.Command{Use: "overdue", Short: "Report secrets past their rotation deadline (exit 1 if any)", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		s, done, err := open(cmd)
		if err != nil {
			return err
		}
		defer done()
		sla := findings.DefaultSLA()
		sla["high"], sla["critical"], sla["medium"] = slaHigh, slaHigh, slaMedium
		od, err := s.Overdue(cmd.Context(), sla)
		if err != nil {
			return errored(err)
		}
		if od == nil {
			od = []findings.Overdue{}
		}
		if err := emit(map[string]any{"overdue": od}, func() {
			for _, o := range od {
				fmt.Fprintf(g.stdout, "%.16s %-8s %-30s state=%s owner=%s deadline=%s late=%s\n", o.Fingerprint, o.Severity, o.Rule, o.State, o.Owner, o.Deadline.Format(time.RFC3339), o.Late.Round(time.Minute))
			}
		}); err != nil {
			return errored(err)
		}
		if len(od) > 0 {
			return failed(fmt.Errorf("%d secret(s) past their rotation deadline", len(od)))
		}
		return nil
	}}
	overdue.Flags().DurationVar(&slaHigh, "sla-high", 24*time.Hour, "rotation deadline for high-severity secrets")
	overdue.Flags().DurationVar(&slaMedium, "sla-medium", 7*24*time.Hour, "rotation deadline for medium-severity secrets")
	cmd.PersistentFlags().StringVarP(&output, "output", "o", "text", "text or json")
	cmd.AddCommand(list, show, setState, overdue)
	return cmd
}

func newSecretsRulesCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "rules", Short: "Print the default ruleset as gitleaks-format TOML", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		_, err := g.stdout.Write(secrets.DefaultConfigTOML())
		return err
	}}
}
