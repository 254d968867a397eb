package secrets

import (
	"context"
	"os"
	"path/filepath"
	"time"
)

// PredicateType identifies pipeguard's secret-scan attestation.
const PredicateType = "https://pipeguard.dev/attestations/secret-scan/v1"

// Predicate is the attestation body of a secret scan. It carries only
// redacted findings: rule, location, redacted preview and keyed
// fingerprint, never the secret.
type Predicate struct {
	Scanner  PredicateScanner   `json:"scanner"`
	Verdict  string             `json:"verdict"` // "pass" or "fail"
	Findings []PredicateFinding `json:"findings"`
	Rules    int                `json:"rules"`
	Bytes    int64              `json:"bytesScanned"`
	Started  time.Time          `json:"startedOn"`
	Finished time.Time          `json:"finishedOn"`
}

// PredicateScanner names the scanner and its ruleset.
type PredicateScanner struct {
	Name    string `json:"name"`
	Ruleset string `json:"ruleset"`
}

// PredicateFinding is one redacted finding.
type PredicateFinding struct {
	Rule        string `json:"rule"`
	Severity    string `json:"severity"`
	Path        string `json:"path"`
	Line        int    `json:"line"`
	Fingerprint string `json:"fingerprint"`
	Redacted    string `json:"redacted"`
}

// ScanTree scans a directory tree (a .gitleaks.toml at its root replaces
// the default rules) and returns the attestation predicate. The pipeline's
// secret-scan gate calls it; key is the fingerprint key of the home.
func ScanTree(ctx context.Context, dir string, key []byte) (*Predicate, error) {
	start := time.Now().UTC()
	var (
		cfg *Config
		err error
	)
	ruleset := "pipeguard-default"
	if p := filepath.Join(dir, ".gitleaks.toml"); fileExists(p) {
		cfg, err = LoadConfig(p)
		ruleset = ".gitleaks.toml"
	} else {
		cfg, err = DefaultConfig()
	}
	if err != nil {
		return nil, err
	}
	d := NewDetector(cfg, WithFingerprintKey(key))
	fs, err := d.ScanDir(ctx, dir)
	if err != nil {
		return nil, err
	}
	p := &Predicate{
		Scanner: PredicateScanner{Name: "pipeguard-secrets", Ruleset: ruleset},
		Verdict: "pass", Findings: []PredicateFinding{}, Rules: len(cfg.Rules),
		Started: start, Finished: time.Now().UTC(),
	}
	for _, f := range fs {
		p.Findings = append(p.Findings, PredicateFinding{Rule: f.RuleID, Severity: f.Severity, Path: f.Path, Line: f.StartLine, Fingerprint: f.Fingerprint, Redacted: f.Redacted})
	}
	if len(fs) > 0 {
		p.Verdict = "fail"
	}
	return p, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
