package secrets

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/pipeguard/pipeguard/internal/testenv"
)

type sample struct {
	RuleID string `json:"rule_id"`
	Label  string `json:"label"`
	Path   string `json:"path"`
	Text   string `json:"text"`
}

func loadSamples(t *testing.T) []sample {
	t.Helper()
	dir := testenv.Dir(t, "secrets", "gitleaks")
	f, err := os.Open(filepath.Join(dir, "rule_samples_v8.30.1.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []sample
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var s sample
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// recall runs every labelled sample through a detector and checks the
// rule author's labels: each TP is found by its rule, no FP by its rule.
// It returns how many FP samples other rules report.
func recall(t *testing.T, d *Detector) (otherFP int) {
	t.Helper()
	var missed, fpHit []string
	var tp, fp int
	for _, s := range loadSamples(t) {
		if s.Text == "" {
			continue
		}
		fs := d.Scan(Fragment{Data: []byte(s.Text), Path: s.Path})
		found := false
		other := false
		for _, f := range fs {
			if f.RuleID == s.RuleID {
				found = true
			} else {
				other = true
			}
		}
		switch s.Label {
		case "tp":
			tp++
			if !found {
				missed = append(missed, s.RuleID+": "+trunc(s.Text))
			}
		case "fp":
			fp++
			if found {
				fpHit = append(fpHit, s.RuleID+": "+trunc(s.Text))
			}
			if other {
				otherFP++
			}
		}
	}
	sort.Strings(missed)
	for _, m := range missed {
		t.Errorf("TP missed: %s", m)
	}
	for _, m := range fpHit {
		t.Errorf("FP reported by its own rule: %s", m)
	}
	t.Logf("%d TP samples, %d FP samples; %d missed, %d FP by own rule, %d FP reported by other rules (stock gitleaks: 30)", tp, fp, len(missed), len(fpHit), otherFP)
	return otherFP
}

func trunc(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

func gitleaksConfig(t *testing.T) *Config {
	t.Helper()
	dir := testenv.Dir(t, "secrets", "gitleaks", "config")
	c, err := LoadConfig(filepath.Join(dir, "gitleaks.toml"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRecallGitleaksConfig(t *testing.T) {
	c := gitleaksConfig(t)
	if len(c.Rules) != 222 {
		t.Fatalf("loaded %d rules, want 222", len(c.Rules))
	}
	recall(t, NewDetector(c, keepShadowedGeneric()))
	// With gitleaks' own precedence (a generic finding yields to a specific
	// rule's finding of the same secret) the count of FP samples reported
	// through other rules is what we publish beside gitleaks' 30.
	t.Run("precedence", func(t *testing.T) {
		d := NewDetector(c)
		n := 0
		for _, s := range loadSamples(t) {
			if s.Label != "fp" || s.Text == "" {
				continue
			}
			for _, f := range d.Scan(Fragment{Data: []byte(s.Text), Path: s.Path}) {
				if f.RuleID != s.RuleID {
					n++
					break
				}
			}
		}
		t.Logf("FP samples reported through other rules: %d (stock gitleaks v8.30.1: 30)", n)
	})
}

func TestRecallGitleaksConfigNoWindows(t *testing.T) {
	if testing.Short() {
		t.Skip("windowless comparison skipped in -short")
	}
	recall(t, NewDetector(gitleaksConfig(t), withoutWindows(), keepShadowedGeneric()))
}
