// Package scan runs a secret scan end to end: it picks the ruleset, reads
// the source (git history, staged changes, a directory, stdin, a Jira or
// Slack export), applies suppressions, and separates honeytoken sightings
// from leaks.
package scan

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pipeguard/pipeguard/internal/secrets"
	"github.com/pipeguard/pipeguard/internal/secrets/export"
	"github.com/pipeguard/pipeguard/internal/secrets/gitscan"
)

// Source names what to scan.
type Source string

// The sources.
const (
	SourceDir    Source = "dir"
	SourceGit    Source = "git"
	SourceStaged Source = "staged"
	SourceStdin  Source = "stdin"
	SourceJira   Source = "jira"
	SourceSlack  Source = "slack"
)

// Request describes one scan.
type Request struct {
	Source Source
	// Path is the directory, repository, or export file/folder.
	Path string
	// Revs limits a git scan (e.g. "main~10..main"); empty means all refs.
	Revs  []string
	Stdin io.Reader
	// ConfigPath is a gitleaks-format TOML; empty means PATH/.gitleaks.toml
	// when present, else pipeguard's default rules.
	ConfigPath string
	// FingerprintKey keys the secret fingerprints.
	FingerprintKey []byte
	// Baseline is a previous report (pipeguard JSON or gitleaks JSON):
	// findings in it are not reported again.
	Baseline string
	// IgnoreFile lists suppressed findings; empty means PATH/.gitleaksignore
	// and PATH/.pipeguardignore when present.
	IgnoreFile     string
	MaxTargetBytes int
	MaxDecodeDepth int
	MaxArchive     int
	// Honeytokens resolves fingerprints of planted decoys (may be nil).
	Honeytokens HoneytokenIndex
	Progress    func(gitscan.Progress)
}

// HoneytokenIndex maps secret fingerprints to honeytoken ids; the shared
// store implements it.
type HoneytokenIndex interface {
	HoneytokenIDs(ctx context.Context, fps []string) (map[string]string, error)
}

// LoadConfig picks the ruleset for a scan of path.
func LoadConfig(configPath, path string) (*secrets.Config, error) {
	if configPath != "" {
		return secrets.LoadConfig(configPath)
	}
	if path != "" {
		for _, name := range []string{".gitleaks.toml", ".pipeguard-secrets.toml"} {
			p := filepath.Join(path, name)
			if _, err := os.Stat(p); err == nil {
				return secrets.LoadConfig(p)
			}
		}
	}
	return secrets.DefaultConfig()
}

// Run performs the scan.
func Run(ctx context.Context, req Request) (*secrets.Report, error) {
	start := time.Now()
	cfg, err := LoadConfig(req.ConfigPath, req.Path)
	if err != nil {
		return nil, err
	}
	opts := []secrets.DetectorOption{secrets.WithFingerprintKey(req.FingerprintKey), secrets.WithMaxTargetBytes(req.MaxTargetBytes)}
	if req.MaxDecodeDepth >= 0 {
		opts = append(opts, secrets.WithMaxDecodeDepth(req.MaxDecodeDepth))
	}
	if req.MaxArchive >= 0 {
		opts = append(opts, secrets.WithMaxArchiveDepth(req.MaxArchive))
	}
	d := secrets.NewDetector(cfg, opts...)
	rep := &secrets.Report{Stats: secrets.Stats{Source: string(req.Source), Rules: len(cfg.Rules)}}
	var fs []secrets.Finding
	switch req.Source {
	case SourceGit, SourceStaged:
		res, err := gitscan.Scan(ctx, req.Path, d, gitscan.Options{Revs: req.Revs, Staged: req.Source == SourceStaged, Progress: req.Progress})
		if err != nil {
			return nil, err
		}
		fs = res.Findings
		rep.Stats.Commits, rep.Stats.Hunks, rep.Stats.Bytes = res.Commits, res.Hunks, res.Bytes
	case SourceDir:
		fs, err = d.ScanDir(ctx, req.Path)
		if err != nil {
			return nil, err
		}
	case SourceStdin:
		data, err := io.ReadAll(req.Stdin)
		if err != nil {
			return nil, fmt.Errorf("reading stdin: %w", err)
		}
		rep.Stats.Bytes = int64(len(data))
		fs = d.ScanFile("stdin", data, "")
		for i := range fs {
			fs[i].Source = "stdin"
		}
	case SourceJira, SourceSlack:
		var docs []export.Document
		if req.Source == SourceJira {
			docs, err = export.ReadJiraFile(req.Path)
		} else {
			docs, err = export.ReadSlack(req.Path)
		}
		if err != nil {
			return nil, err
		}
		for _, doc := range docs {
			rep.Stats.Bytes += int64(len(doc.Text))
			for _, f := range d.Scan(secrets.Fragment{Data: []byte(doc.Text), Path: doc.Path}) {
				f.Source = string(req.Source)
				f.Location = doc.Location
				f.Author = doc.Author
				f.Date = doc.Date
				fs = append(fs, f)
			}
		}
	default:
		return nil, fmt.Errorf("unknown source %q", req.Source)
	}

	fs, err = suppress(req, fs)
	if err != nil {
		return nil, err
	}
	if req.Honeytokens != nil && len(fs) > 0 {
		fps := make([]string, 0, len(fs))
		for _, f := range fs {
			fps = append(fps, f.Fingerprint)
		}
		ids, err := req.Honeytokens.HoneytokenIDs(ctx, fps)
		if err != nil {
			return nil, fmt.Errorf("looking up honeytokens: %w", err)
		}
		leaks := fs[:0]
		for _, f := range fs {
			if id, ok := ids[f.Fingerprint]; ok {
				f.Honeytoken = id
				rep.Honeytoken = append(rep.Honeytoken, f)
				continue
			}
			leaks = append(leaks, f)
		}
		fs = leaks
	}
	rep.Findings = fs
	rep.Stats.Seconds = time.Since(start).Seconds()
	return rep, nil
}

// suppress drops findings listed in .gitleaksignore / .pipeguardignore
// or in a baseline.
func suppress(req Request, fs []secrets.Finding) ([]secrets.Finding, error) {
	ignored := map[string]bool{}
	var files []string
	if req.IgnoreFile != "" {
		files = []string{req.IgnoreFile}
	} else if req.Path != "" && (req.Source == SourceDir || req.Source == SourceGit || req.Source == SourceStaged) {
		for _, n := range []string{".gitleaksignore", ".pipeguardignore"} {
			p := filepath.Join(req.Path, n)
			if _, err := os.Stat(p); err == nil {
				files = append(files, p)
			}
		}
	}
	for _, p := range files {
		if err := readIgnore(p, ignored); err != nil {
			return nil, err
		}
	}
	base, err := readBaseline(req.Baseline)
	if err != nil {
		return nil, err
	}
	if len(ignored) == 0 && base == nil {
		return fs, nil
	}
	out := fs[:0]
	for _, f := range fs {
		gf := f.GitleaksFingerprint()
		global := fmt.Sprintf("%s:%s:%d", f.Path, f.RuleID, f.StartLine)
		if ignored[gf] || ignored[global] || ignored[f.Fingerprint] || ignored["fingerprint:"+f.Fingerprint] {
			continue
		}
		if base != nil && base.has(f) {
			continue
		}
		out = append(out, f)
	}
	return out, nil
}

// readIgnore reads one suppression per line: a gitleaks finding id
// (commit:file:rule:line or file:rule:line) or a pipeguard secret
// fingerprint (64 hex digits, optionally "fingerprint:"-prefixed), which
// suppresses the secret wherever it appears, but not a new secret on the
// same line.
func readIgnore(path string, into map[string]bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reading ignore file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, " #"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		into[line] = true
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading ignore file %s: %w", path, err)
	}
	return nil
}

type baseline struct {
	fps      map[string]bool // rule + fingerprint (pipeguard baselines)
	gitleaks map[string]bool // gitleaks: rule, file, commit, secret-less match
}

func (b *baseline) has(f secrets.Finding) bool {
	if b.fps[f.RuleID+"\x00"+f.Fingerprint] {
		return true
	}
	return b.gitleaks[gitleaksBaselineKey(f.RuleID, f.Path, f.Commit, f.StartLine, f.EndLine)]
}

func gitleaksBaselineKey(rule, file, commit string, start, end int) string {
	return fmt.Sprintf("%s\x00%s\x00%s\x00%d\x00%d", rule, file, commit, start, end)
}

// readBaseline accepts a pipeguard JSON report (matched by secret
// fingerprint, so moving a line does not churn it) or a gitleaks JSON
// report (matched by rule, file, commit and lines, as gitleaks does).
func readBaseline(path string) (*baseline, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading baseline: %w", err)
	}
	b := &baseline{fps: map[string]bool{}, gitleaks: map[string]bool{}}
	trim := bytes.TrimSpace(data)
	switch {
	case len(trim) > 0 && trim[0] == '[':
		var gl []struct {
			RuleID    string
			File      string
			Commit    string
			StartLine int
			EndLine   int
		}
		if err := json.Unmarshal(trim, &gl); err != nil {
			return nil, fmt.Errorf("reading gitleaks baseline %s: %w", path, err)
		}
		for _, g := range gl {
			b.gitleaks[gitleaksBaselineKey(g.RuleID, g.File, g.Commit, g.StartLine, g.EndLine)] = true
		}
	case len(trim) > 0 && trim[0] == '{':
		var pr struct {
			Findings []struct {
				Rule        string `json:"rule"`
				Fingerprint string `json:"fingerprint"`
			} `json:"findings"`
		}
		if err := json.Unmarshal(trim, &pr); err != nil {
			return nil, fmt.Errorf("reading baseline %s: %w", path, err)
		}
		for _, f := range pr.Findings {
			b.fps[f.Rule+"\x00"+f.Fingerprint] = true
		}
	default:
		return nil, errors.New("baseline " + path + " is neither a pipeguard nor a gitleaks JSON report")
	}
	return b, nil
}
