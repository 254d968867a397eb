package secrets

import (
	"sort"
	"strings"
	"testing"
)

func TestDefaultRuleset(t *testing.T) {
	c, err := DefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rules) < 222 {
		t.Errorf("default ruleset has %d rules, want at least 222 (as broad as gitleaks)", len(c.Rules))
	}
	seen := map[string]bool{}
	for _, r := range c.Rules {
		if seen[r.ID] {
			t.Errorf("duplicate rule id %s", r.ID)
		}
		seen[r.ID] = true
		if len(r.Keywords) == 0 {
			t.Errorf("%s has no keywords: it would run on every byte", r.ID)
		}
		for _, k := range r.Keywords {
			if len(k) < 2 {
				t.Errorf("%s has keyword %q, too short to prefilter", r.ID, k)
			}
		}
	}
	t.Logf("%d default rules", len(c.Rules))
}

// TestDefaultRulesetOnGitleaksSamples measures how many of gitleaks' TP
// samples our own rules find (by any rule) and how many FP samples they
// report. It is a yardstick for breadth, not a copy of gitleaks' rules.
func TestDefaultRulesetOnGitleaksSamples(t *testing.T) {
	c, err := DefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	d := NewDetector(c)
	var tp, tpFound, fp, fpFound int
	missedBy := map[string]int{}
	for _, s := range loadSamples(t) {
		if s.Text == "" {
			continue
		}
		n := len(d.Scan(Fragment{Data: []byte(s.Text), Path: s.Path}))
		if s.Label == "tp" {
			tp++
			if n > 0 {
				tpFound++
			} else {
				missedBy[s.RuleID]++
			}
		} else {
			fp++
			if n > 0 {
				fpFound++
			}
		}
	}
	var ids []string
	for id := range missedBy {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return missedBy[ids[i]] > missedBy[ids[j]] })
	if len(ids) > 25 {
		ids = ids[:25]
	}
	t.Logf("default rules find %d of %d gitleaks TP samples (%.1f%%) and report %d of %d FP samples; most missed: %s",
		tpFound, tp, 100*float64(tpFound)/float64(tp), fpFound, fp, strings.Join(ids, ","))
	if float64(tpFound) < 0.8*float64(tp) {
		t.Errorf("default rules find only %d of %d gitleaks TP samples", tpFound, tp)
	}
}
