package tlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	flog "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/pipeguard/pipeguard/internal/home"
)

// PathVerifierKey serves the log's C2SP verifier key, for monitors that
// trust on first use.
const PathVerifierKey = "/api/v1/log/verifier-key"

// Alert is a finding of the monitor: the log is not append-only as seen
// from here (fork, rewrite, shrink, or a checkpoint it did not sign).
type Alert struct{ Msg string }

func (a *Alert) Error() string { return a.Msg }

func alertf(format string, args ...any) error { return &Alert{Msg: fmt.Sprintf(format, args...)} }

// MonitorState is what the monitor remembers between runs.
type MonitorState struct {
	Log         string `json:"log"`
	VerifierKey string `json:"verifierKey"`
	Checkpoint  string `json:"checkpoint"`
}

// MonitorConfig says what to check.
type MonitorConfig struct {
	StatePath string
	// VerifierKey is the log's C2SP verifier key; empty means the one in
	// the state file, else trust on first use.
	VerifierKey string
	// Bundles are checkpoints' carriers to compare with the log's view.
	Bundles []*protobundle.Bundle
}

// MonitorResult reports a run that found nothing wrong.
type MonitorResult struct {
	Origin       string
	Size         uint64
	PreviousSize uint64
	HadPrevious  bool
	TrustedNow   bool // the verifier key was pinned on this run
	BundlesSeen  int
}

// Monitor fetches the log's latest checkpoint, verifies its signature and
// its consistency with the one remembered in the state file (and with the
// checkpoints of any bundles), then remembers the new one. Problems with
// the log are returned as *Alert; anything else is an operational error.
func Monitor(ctx context.Context, c *Client, cfg MonitorConfig) (*MonitorResult, error) {
	var st MonitorState
	data, err := os.ReadFile(cfg.StatePath)
	switch {
	case err == nil:
		if err := json.Unmarshal(data, &st); err != nil {
			return nil, fmt.Errorf("reading monitor state %s: %w", cfg.StatePath, err)
		}
		if st.Log != "" && st.Log != c.URL() {
			return nil, fmt.Errorf("monitor state %s belongs to log %s, not %s", cfg.StatePath, st.Log, c.URL())
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("reading monitor state: %w", err)
	}
	res := &MonitorResult{}
	vkey := cfg.VerifierKey
	if vkey == "" {
		vkey = st.VerifierKey
	}
	if vkey == "" {
		b, err := c.get(ctx, PathVerifierKey, false)
		if err != nil {
			return nil, fmt.Errorf("fetching the log's verifier key: %w", err)
		}
		vkey = strings.TrimSpace(string(b))
		res.TrustedNow = true
	}
	if st.VerifierKey != "" && vkey != st.VerifierKey {
		return nil, alertf("the log's verifier key changed from %q to %q", st.VerifierKey, vkey)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("invalid verifier key %q: %w", vkey, err)
	}
	raw, err := c.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	latest, _, _, err := flog.ParseCheckpoint(raw, v.Name(), v)
	if err != nil {
		return nil, alertf("the log's checkpoint is not signed by its key %s: %v", v.Name(), err)
	}
	res.Origin, res.Size = latest.Origin, latest.Size
	if st.Checkpoint != "" {
		prev, _, _, err := flog.ParseCheckpoint([]byte(st.Checkpoint), v.Name(), v)
		if err != nil {
			return nil, fmt.Errorf("remembered checkpoint does not verify: %w", err)
		}
		res.PreviousSize, res.HadPrevious = prev.Size, true
		if err := consistent(ctx, c, prev, latest, "the checkpoint remembered in "+cfg.StatePath); err != nil {
			return nil, err
		}
	}
	for i, b := range cfg.Bundles {
		n, err := checkBundle(ctx, c, v, b, latest)
		if err != nil {
			return nil, fmt.Errorf("bundle %d: %w", i+1, err)
		}
		res.BundlesSeen += n
	}
	if cfg.Bundles != nil && res.BundlesSeen == 0 {
		return nil, fmt.Errorf("no bundle carries an entry of log %s", v.Name())
	}
	st = MonitorState{Log: c.URL(), VerifierKey: vkey, Checkpoint: string(raw)}
	out, err := json.MarshalIndent(&st, "", "  ")
	if err != nil {
		return nil, err
	}
	if dir := filepath.Dir(cfg.StatePath); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("writing monitor state: %w", err)
		}
	}
	if err := home.WriteFileAtomic(cfg.StatePath, append(out, '\n'), 0o644); err != nil {
		return nil, err
	}
	return res, nil
}

// consistent checks that latest extends older, wrapping failures as alerts.
func consistent(ctx context.Context, c *Client, older, latest *flog.Checkpoint, what string) error {
	if latest.Size < older.Size {
		return alertf("log shrank: it now shows size %d, but %s has size %d", latest.Size, what, older.Size)
	}
	if latest.Size == older.Size && !bytes.Equal(latest.Hash, older.Hash) {
		return alertf("log forked: size %d has root %x, but %s has root %x", latest.Size, latest.Hash, what, older.Hash)
	}
	if err := VerifyConsistency(ctx, c.ReadTile, older, latest); err != nil {
		var a *Alert
		if errors.As(err, &a) {
			return alertf("%s (compared with %s)", a.Msg, what)
		}
		return fmt.Errorf("checking consistency with %s: %w", what, err)
	}
	return nil
}

// checkBundle compares the checkpoints in a bundle's entries of this log
// with the log's latest one. It returns how many entries it checked.
func checkBundle(ctx context.Context, c *Client, v note.Verifier, b *protobundle.Bundle, latest *flog.Checkpoint) (int, error) {
	n := 0
	for _, tle := range b.GetVerificationMaterial().GetTlogEntries() {
		env := tle.GetInclusionProof().GetCheckpoint().GetEnvelope()
		if env == "" {
			continue
		}
		bcp, _, _, err := flog.ParseCheckpoint([]byte(env), v.Name(), v)
		if err != nil {
			continue // another log's entry
		}
		if err := consistent(ctx, c, bcp, latest, fmt.Sprintf("the bundle's checkpoint for entry %d", tle.GetLogIndex())); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
