package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pipeguard/pipeguard/internal/honeytoken"
	"github.com/pipeguard/pipeguard/internal/store"
)

func newHoneytokenCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "honeytoken",
		Short: "Decoy credentials that raise an alert when used",
	}
	c.AddCommand(
		newHoneytokenCreateCmd(g),
		newHoneytokenPlantCmd(g),
		newHoneytokenListCmd(g),
		newHoneytokenShowCmd(g),
		newHoneytokenRevokeCmd(g),
		newHoneytokenAlertsCmd(g),
		newHoneytokenServeCmd(g),
		newHoneytokenIngestCmd(g),
		newHoneytokenSightingsCmd(g),
	)
	return c
}

// openHoneytokens opens the home's registry; the caller closes the DB.
func openHoneytokens(ctx context.Context, g *globals) (*honeytoken.Registry, *store.DB, error) {
	h, err := g.openHome(ctx)
	if err != nil {
		return nil, nil, err
	}
	reg, db, err := honeytoken.OpenHome(ctx, h)
	if err != nil {
		return nil, nil, errored(err)
	}
	return reg, db, nil
}

func checkOutput(o string) error {
	if o != "text" && o != "json" {
		return errored(fmt.Errorf("--output must be text or json, not %q", o))
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// tokenView is a token as commands print it; the credential only when
// asked for (create, show --reveal).
type tokenView struct {
	ID           string          `json:"id"`
	Type         honeytoken.Type `json:"type"`
	Note         string          `json:"note"`
	Created      time.Time       `json:"created"`
	Revoked      *time.Time      `json:"revoked,omitempty"`
	Planted      []string        `json:"planted,omitempty"`
	Token        string          `json:"token,omitempty"`
	File         string          `json:"file,omitempty"`
	FileName     string          `json:"file_name,omitempty"`
	ExposureOnly bool            `json:"exposure_only"`
}

func viewOf(t *honeytoken.Token, reveal bool) tokenView {
	v := tokenView{ID: t.ID, Type: t.Type, Note: t.Note, Created: t.Created, Revoked: t.Revoked, Planted: t.Planted, ExposureOnly: t.Type.ExposureOnly()}
	if reveal {
		v.Token = t.Material.Value
		if f, ok := honeytoken.FileFor(t); ok {
			v.File, v.FileName = f.Content, f.Name
		}
	}
	return v
}

func newHoneytokenCreateCmd(g *globals) *cobra.Command {
	var (
		typ, output string
		o           honeytoken.CreateOptions
	)
	c := &cobra.Command{
		Use:   "create --type TYPE --note TEXT",
		Short: "Make and register a decoy credential",
		Long: "Make and register a decoy credential of TYPE (url, dns, aws, github, npm, docker, kubeconfig, env-db, slack, stripe).\n" +
			"--base-url is the public address of `honeytoken serve --http` (url, npm, docker, kubeconfig; aws endpoint_url), --zone the zone of `serve --dns` (dns),\n" +
			"--db-addr the address of `serve --db` (env-db). github, slack and stripe tokens are exposure-only: no decoy endpoint sees their use.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			t, err := honeytoken.ParseType(typ)
			if err != nil {
				return errored(err)
			}
			o.Type = t
			if o.AWSSecretKey == "" {
				o.AWSSecretKey = os.Getenv("PIPEGUARD_AWS_SECRET_ACCESS_KEY")
			}
			reg, db, err := openHoneytokens(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer db.Close()
			tok, err := reg.Create(cmd.Context(), o)
			if err != nil {
				return errored(err)
			}
			v := viewOf(tok, true)
			if output == "json" {
				return writeJSON(g.stdout, v)
			}
			fmt.Fprintf(g.stdout, "id:    %s\ntype:  %s\nnote:  %s\ntoken: %s\n", tok.ID, tok.Type, tok.Note, v.Token)
			if v.File != "" {
				fmt.Fprintf(g.stdout, "file (%s):\n%s", v.FileName, v.File)
			}
			if tok.Type.ExposureOnly() {
				fmt.Fprintln(g.stderr, "note: this type is exposure-only: it alerts when the secret scanner sights it, not when it is used")
			}
			return nil
		},
	}
	c.Flags().StringVar(&typ, "type", "", "token type")
	c.Flags().StringVar(&o.Note, "note", "", "where the token is planted (shown in every alert)")
	c.Flags().StringVar(&o.BaseURL, "base-url", "", "public URL of the HTTP decoys")
	c.Flags().StringVar(&o.Zone, "zone", "", "DNS zone served by the DNS decoy")
	c.Flags().StringVar(&o.DBAddr, "db-addr", "", "host:port of the database decoy (env-db)")
	c.Flags().StringVar(&o.AWSAccessKeyID, "aws-access-key-id", "", "register this real AWS access key id (made in a dedicated account) instead of generating one")
	c.Flags().StringVar(&o.AWSUser, "aws-user", "", "IAM user name of a real AWS canary key, matched in CloudTrail (secret key from $PIPEGUARD_AWS_SECRET_ACCESS_KEY)")
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	c.MarkFlagRequired("type")
	c.MarkFlagRequired("note")
	return c
}

func newHoneytokenPlantCmd(g *globals) *cobra.Command {
	var id, into string
	var force bool
	c := &cobra.Command{
		Use:   "plant --token ID --into PATH",
		Short: "Write a convincing file holding the token (credentials, .npmrc, config.json, kubeconfig, .env)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reg, db, err := openHoneytokens(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer db.Close()
			p, err := reg.Plant(cmd.Context(), id, into, force)
			if err != nil {
				return errored(err)
			}
			fmt.Fprintf(g.stderr, "planted %s at %s\n", id, p)
			return nil
		},
	}
	c.Flags().StringVar(&id, "token", "", "token id")
	c.Flags().StringVar(&into, "into", "", "file (or directory) to write")
	c.Flags().BoolVar(&force, "force", false, "replace an existing file")
	c.MarkFlagRequired("token")
	c.MarkFlagRequired("into")
	return c
}

func newHoneytokenListCmd(g *globals) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "list",
		Short: "List honeytokens",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			reg, db, err := openHoneytokens(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer db.Close()
			ts, err := reg.List(cmd.Context())
			if err != nil {
				return errored(err)
			}
			if output == "json" {
				vs := make([]tokenView, len(ts))
				for i, t := range ts {
					vs[i] = viewOf(t, false)
				}
				return writeJSON(g.stdout, vs)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTYPE\tCREATED\tSTATE\tNOTE")
			for _, t := range ts {
				state := "live"
				if t.Revoked != nil {
					state = "revoked"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Type, t.Created.Format(time.RFC3339), state, t.Note)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return c
}

func newHoneytokenShowCmd(g *globals) *cobra.Command {
	var output string
	var reveal bool
	c := &cobra.Command{
		Use:   "show ID",
		Short: "Show a honeytoken (its credential only with --reveal)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			reg, db, err := openHoneytokens(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer db.Close()
			t, err := reg.Get(cmd.Context(), args[0])
			if err != nil {
				return errored(err)
			}
			hits, err := reg.HitCount(cmd.Context(), t.ID)
			if err != nil {
				return errored(err)
			}
			v := viewOf(t, reveal)
			if output == "json" {
				return writeJSON(g.stdout, struct {
					tokenView
					Hits int64 `json:"hits"`
				}{v, hits})
			}
			fmt.Fprintf(g.stdout, "id:       %s\ntype:     %s\nnote:     %s\ncreated:  %s\n", t.ID, t.Type, t.Note, t.Created.Format(time.RFC3339))
			if t.Revoked != nil {
				fmt.Fprintf(g.stdout, "revoked:  %s\n", t.Revoked.Format(time.RFC3339))
			}
			for _, p := range t.Planted {
				fmt.Fprintf(g.stdout, "planted:  %s\n", p)
			}
			fmt.Fprintf(g.stdout, "hits:     %d\n", hits)
			if reveal {
				fmt.Fprintf(g.stdout, "token:    %s\n", v.Token)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	c.Flags().BoolVar(&reveal, "reveal", false, "print the credential and its file")
	return c
}

func newHoneytokenRevokeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Retire a honeytoken: it stops alerting and leaves the scanner's index",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reg, db, err := openHoneytokens(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer db.Close()
			if err := reg.Revoke(cmd.Context(), args[0]); err != nil {
				return errored(err)
			}
			fmt.Fprintf(g.stderr, "revoked %s\n", args[0])
			return nil
		},
	}
}

func newHoneytokenAlertsCmd(g *globals) *cobra.Command {
	var output, token string
	var limit int
	c := &cobra.Command{
		Use:   "alerts",
		Short: "List alerts raised by honeytoken use, with their delivery state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			reg, db, err := openHoneytokens(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer db.Close()
			as, err := reg.Alerts(cmd.Context(), honeytoken.AlertFilter{TokenID: token, Limit: limit})
			if err != nil {
				return errored(err)
			}
			if output == "json" {
				if as == nil {
					as = []honeytoken.AlertRecord{}
				}
				return writeJSON(g.stdout, as)
			}
			for _, a := range as {
				state := "delivered"
				if len(a.Pending) > 0 {
					state = fmt.Sprintf("pending for %d sink(s)", len(a.Pending))
				}
				fmt.Fprintf(g.stdout, "%s  %s  [%s]\n", a.Time.Format(time.RFC3339), a.Text(), state)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	c.Flags().StringVar(&token, "token", "", "only this token's alerts")
	c.Flags().IntVar(&limit, "limit", 0, "only the newest N alerts")
	return c
}

// sinkFlags are the alert destinations shared by serve and ingest.
type sinkFlags struct {
	webhooks, slack []string
	syslog          string
	stdout          bool
}

func (f *sinkFlags) add(c *cobra.Command) {
	c.Flags().StringArrayVar(&f.webhooks, "webhook", nil, "POST each alert as JSON to URL (repeatable)")
	c.Flags().StringArrayVar(&f.slack, "slack-webhook", nil, "post each alert to a Slack-compatible incoming webhook URL (repeatable)")
	c.Flags().StringVar(&f.syslog, "syslog", "", "send alerts to syslog: local, udp://HOST:PORT, tcp://HOST:PORT or unix:///PATH")
	c.Flags().BoolVar(&f.stdout, "stdout", false, "write each alert as a JSON line to stdout")
}

func (f *sinkFlags) sinks(g *globals) ([]honeytoken.Sink, error) {
	var out []honeytoken.Sink
	for _, u := range f.webhooks {
		s, err := honeytoken.NewWebhookSink(u)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	for _, u := range f.slack {
		s, err := honeytoken.NewSlackSink(u)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if f.syslog != "" {
		s, err := honeytoken.NewSyslogSink(f.syslog)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if f.stdout {
		out = append(out, honeytoken.NewWriterSink("stdout", g.stdout))
	}
	return out, nil
}

func newHoneytokenServeCmd(g *globals) *cobra.Command {
	var (
		cfg       honeytoken.ServeConfig
		sf        sinkFlags
		dnsAnswer string
	)
	c := &cobra.Command{
		Use:   "serve --http ADDR --dns ADDR --zone ZONE --webhook URL [--db ADDR]",
		Short: "Run the decoy listeners (HTTP, DNS, PostgreSQL) and deliver alerts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sinks, err := sf.sinks(g)
			if err != nil {
				return errored(err)
			}
			if len(sinks) == 0 {
				g.log.Warn("no alert sink configured: alerts are only stored (see `pipeguard honeytoken alerts`)")
			}
			cfg.Sinks = sinks
			cfg.Log = g.log
			if dnsAnswer != "" {
				a, err := netip.ParseAddr(dnsAnswer)
				if err != nil || !a.Is4() {
					return errored(fmt.Errorf("--dns-answer %q is not an IPv4 address", dnsAnswer))
				}
				cfg.DNSAnswer = a
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			reg, db, err := openHoneytokens(ctx, g)
			if err != nil {
				return err
			}
			defer db.Close()
			srv, err := honeytoken.Start(ctx, reg, cfg)
			if err != nil {
				return errored(err)
			}
			for _, a := range []struct {
				name string
				addr net.Addr
			}{{"http", srv.HTTPAddr}, {"dns", srv.DNSAddr}, {"db", srv.DBAddr}} {
				if a.addr != nil {
					g.log.Info("honeytoken listener ready", "listener", a.name, "addr", a.addr.String())
				}
			}
			if err := srv.Wait(); err != nil {
				return errored(err)
			}
			return nil
		},
	}
	c.Flags().StringVar(&cfg.HTTPAddr, "http", "", "listen address of the HTTP decoys")
	c.Flags().StringVar(&cfg.DNSAddr, "dns", "", "listen address (UDP) of the authoritative DNS decoy")
	c.Flags().StringVar(&cfg.DBAddr, "db", "", "listen address of the PostgreSQL decoy")
	c.Flags().StringVar(&cfg.Zone, "zone", "", "DNS zone to answer for")
	c.Flags().StringVar(&dnsAnswer, "dns-answer", "", "IPv4 address returned for A queries under the zone (default 127.0.0.1)")
	c.Flags().DurationVar(&cfg.Window, "group-window", 5*time.Minute, "repeats of a token within this window become one follow-up alert")
	c.Flags().DurationVar(&cfg.MinBackoff, "retry-min", time.Second, "first retry delay for a failed delivery")
	c.Flags().DurationVar(&cfg.MaxBackoff, "retry-max", 2*time.Minute, "largest retry delay for a failed delivery")
	c.Flags().Float64Var(&cfg.RatePerSource, "rate", 20, "responses per second per source address (hits are always recorded)")
	c.Flags().IntVar(&cfg.Burst, "burst", 40, "burst of responses per source address")
	c.Flags().IntVar(&cfg.MaxConns, "max-conns", 4096, "concurrent connections per TCP listener")
	c.Flags().IntVar(&cfg.MaxConnsPerSource, "max-conns-per-source", 64, "concurrent connections per source address and TCP listener")
	sf.add(c)
	return c
}

func newHoneytokenIngestCmd(g *globals) *cobra.Command {
	return newIngestCmd(g, "ingest-cloudtrail FILE|DIR", "Match CloudTrail logs against AWS honeytokens; exit 1 when one was used",
		func(ctx context.Context, rec *honeytoken.Recorder, arg string) (ingestOutcome, error) {
			res, err := rec.IngestCloudTrail(ctx, arg)
			return ingestOutcome{
				result:  res,
				summary: fmt.Sprintf("%d file(s), %d record(s), %d honeytoken use(s)", res.Files, res.Records, res.Hits),
				alarms:  res.Hits, alarm: "CloudTrail event(s) used a honeytoken",
			}, err
		})
}

func newHoneytokenSightingsCmd(g *globals) *cobra.Command {
	return newIngestCmd(g, "ingest-sightings REPORT.json|-", "Alert on honeytokens the secret scanner sighted where they were not planted (exposure-only types); exit 1 when one was",
		func(ctx context.Context, rec *honeytoken.Recorder, arg string) (ingestOutcome, error) {
			in := g.stdin
			if arg != "-" {
				f, err := os.Open(arg)
				if err != nil {
					return ingestOutcome{}, err
				}
				defer f.Close()
				in = f
			}
			res, err := rec.IngestSightings(ctx, in, time.Now())
			return ingestOutcome{
				result:  res,
				summary: fmt.Sprintf("%d sighting(s): %d where planted, %d exposed, %d unverified", res.Sightings, res.Planted, res.Exposed, res.Unverified),
				alarms:  res.Exposed, alarm: "honeytoken(s) sighted where they were not planted",
			}, err
		})
}

// ingestOutcome is what an offline ingest found, for printing and the exit
// code.
type ingestOutcome struct {
	result  any
	summary string
	alarms  int    // > 0 exits 1
	alarm   string // what an alarm is, for the error
}

// newIngestCmd builds a command that records hits found offline and exits
// 1 when there were any.
func newIngestCmd(g *globals, use, short string, run func(context.Context, *honeytoken.Recorder, string) (ingestOutcome, error)) *cobra.Command {
	var (
		sf     sinkFlags
		output string
		window time.Duration
	)
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			sinks, err := sf.sinks(g)
			if err != nil {
				return errored(err)
			}
			var out ingestOutcome
			err = ingest(cmd.Context(), g, sinks, window, func(rec *honeytoken.Recorder) (err error) {
				out, err = run(cmd.Context(), rec, args[0])
				return err
			})
			if err != nil {
				return err
			}
			if output == "json" {
				if err := writeJSON(g.stdout, out.result); err != nil {
					return errored(err)
				}
			} else {
				fmt.Fprintln(g.stdout, out.summary)
			}
			if out.alarms > 0 {
				return failed(fmt.Errorf("%d %s", out.alarms, out.alarm))
			}
			return nil
		},
	}
	sf.add(c)
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	c.Flags().DurationVar(&window, "group-window", 5*time.Minute, "repeats of a token within this window become one follow-up alert")
	return c
}

// ingest records hits found offline (CloudTrail, scanner sightings) with a
// recorder whose alerts go to sinks, then delivers what it can within 30 s;
// the rest stays queued for the next serve with the same sinks.
func ingest(ctx context.Context, g *globals, sinks []honeytoken.Sink, window time.Duration, f func(*honeytoken.Recorder) error) error {
	reg, db, err := openHoneytokens(ctx, g)
	if err != nil {
		return err
	}
	defer db.Close()
	disp := honeytoken.NewDispatcher(reg, sinks, honeytoken.WithBackoff(500*time.Millisecond, 5*time.Second), honeytoken.WithDispatcherLogger(g.log))
	rec := honeytoken.NewRecorder(reg, honeytoken.WithWindow(window), honeytoken.WithSinks(disp.SinkNames()...), honeytoken.WithRecorderLogger(g.log))
	if err := f(rec); err != nil {
		return errored(err)
	}
	if len(sinks) == 0 {
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = disp.Drain(dctx)
	cancel()
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return errored(err)
	}
	if n, _ := disp.Pending(ctx); n > 0 {
		g.log.Warn("some alerts are not delivered yet; they stay queued for the next serve with the same sinks", "pending", n)
	}
	return nil
}
