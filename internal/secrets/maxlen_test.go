package secrets

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"testing"
)

func TestMaxMatchBytes(t *testing.T) {
	for _, c := range []struct {
		re        string
		n         int
		multiline bool
	}{
		{`abc`, 3, false},
		{`a{2,5}`, 5, false},
		{`(?i)key`, 5, false}, // k folds to the Kelvin sign (3 bytes)
		{`[a-z]+`, unbounded, false},
		{`x[\s\S]{64,}?y`, unbounded, true},
		{`a.*b`, unbounded, false},
		{`(?s)a.*b`, unbounded, true},
		{`\bghp_[0-9a-zA-Z]{36}\b`, 40, false},
	} {
		if got := maxMatchBytes(c.re); got != c.n {
			t.Errorf("maxMatchBytes(%q) = %d, want %d", c.re, got, c.n)
		}
		if got := crossesLines(c.re); got != c.multiline {
			t.Errorf("crossesLines(%q) = %v, want %v", c.re, got, c.multiline)
		}
	}
}

func TestKeywordMatcher(t *testing.T) {
	m := newKeywordMatcher([]string{"he", "she", "his", "hers", "key"})
	hits := m.find([]byte("uSHErs KEY"), nil)
	got := map[string][]int{}
	for _, h := range hits {
		got[m.keywords[h.kw]] = append(got[m.keywords[h.kw]], h.end)
	}
	want := map[string][]int{"she": {4}, "he": {4}, "hers": {6}, "key": {10}}
	for k, v := range want {
		if len(got[k]) != len(v) || got[k][0] != v[0] {
			t.Errorf("keyword %q: got %v, want %v", k, got[k], v)
		}
	}
	if len(hits) != 4 {
		t.Errorf("got %d hits, want 4", len(hits))
	}
}

// TestReString checks that printing a parsed regex keeps its meaning, on
// every rule of the default ruleset and on the samples.
func TestReString(t *testing.T) {
	c, err := DefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	inputs := []string{"", "abc", "ghp_" + "Q7mZ2kP9xW4nR8tL1vB6cY3hJ5dF0gS2aE7u", "api_key = \"Q7mZ2kP9xW4nR8tL1vB6\"\n", "KEY\u212a: 12345678901234567890", "-----BEGIN RSA PRIVATE KEY-----\nMIIB" + strings.Repeat("A", 80) + "\n-----END RSA PRIVATE KEY-----"}
	for _, r := range c.Rules {
		if r.Regex == nil {
			continue
		}
		re, err := syntax.Parse(r.Regex.String(), syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		back, err := regexp.Compile(reString(re))
		if err != nil {
			t.Fatalf("%s: printed regex does not compile: %v", r.ID, err)
		}
		for _, in := range inputs {
			if a, b := r.Regex.FindStringIndex(in), back.FindStringIndex(in); fmt.Sprint(a) != fmt.Sprint(b) {
				t.Errorf("%s on %q: original %v, printed %v", r.ID, in, a, b)
			}
		}
	}
}
