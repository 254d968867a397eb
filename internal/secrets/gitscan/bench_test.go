package gitscan

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/pipeguard/pipeguard/internal/secrets"
)

// BenchmarkRepo scans $PIPEGUARD_BENCH_REPO (revisions in
// $PIPEGUARD_BENCH_REVS, default all refs) with $PIPEGUARD_BENCH_CONFIG
// or the default rules. bench/secrets/run.sh compares it with gitleaks.
func BenchmarkRepo(b *testing.B) {
	repo := os.Getenv("PIPEGUARD_BENCH_REPO")
	if repo == "" {
		b.Skip("set PIPEGUARD_BENCH_REPO to a git repository")
	}
	var cfg *secrets.Config
	var err error
	if p := os.Getenv("PIPEGUARD_BENCH_CONFIG"); p != "" {
		cfg, err = secrets.LoadConfig(p)
	} else {
		cfg, err = secrets.DefaultConfig()
	}
	if err != nil {
		b.Fatal(err)
	}
	var revs []string
	if r := os.Getenv("PIPEGUARD_BENCH_REVS"); r != "" {
		revs = strings.Fields(r)
	}
	d := secrets.NewDetector(cfg)
	if os.Getenv("PIPEGUARD_BENCH_RULES") != "" {
		d.EnableRuleProfile()
		defer func() {
			for i, r := range d.RuleProfile() {
				if i < 12 {
					b.Logf("%-36s %v %d bytes", r.Rule, r.Time, r.Bytes)
				}
			}
		}()
	}
	for i := 0; i < b.N; i++ {
		res, err := Scan(context.Background(), repo, d, Options{Revs: revs})
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(res.Bytes)
		b.ReportMetric(float64(len(res.Findings)), "findings")
	}
}
