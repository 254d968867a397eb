package secrets

import (
	"regexp"
	"regexp/syntax"
	"sort"
	"strings"
	"unicode/utf8"
)

// Anchoring: most rules look like P·T, where P is a short optional
// lead-in (`[\w.-]{0,50}?`, `\b`) and T starts with one of a few literals
// (`(?:api|key|token)…`, `ghp_…`). Go's regexp engine walks every byte
// of its input with all live threads, which for such patterns costs far
// more than the scan itself. An anchored rule instead looks for T's
// leading literals (one automaton pass over the window), tries T anchored
// at each occurrence on a few hundred bytes, where it fails within a few
// bytes almost always, and only runs the full rule on a small region
// around the occurrences that pass. The full rule has the last word, so
// anchoring never adds a finding; it only skips regions that cannot hold
// a match.

const (
	maxAnchorSet   = 64
	minAnchorBytes = 2
	// anchorReach bounds the anchored check for rules without a length
	// bound; a check that runs into it counts as a pass.
	anchorReach = 4096
)

type anchor struct {
	lits    *keywordMatcher
	tail    *regexp.Regexp // ^(?:T)
	tailMax int            // unbounded or bytes
	lead    int            // max bytes of P
}

// newAnchor analyses expr; nil means the rule cannot be anchored.
func newAnchor(expr string) *anchor {
	// The tree is not simplified: simplification expands counted
	// repetitions into deep nests, which print back too large to compile.
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	subs := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		subs = re.Sub
	}
	lead := 0
	for i, s := range subs {
		set := literalPrefixes(s)
		if len(set) > 0 {
			tail := &syntax.Regexp{Op: syntax.OpConcat, Sub: append([]*syntax.Regexp{{Op: syntax.OpBeginText}}, subs[i:]...)}
			tre, err := regexp.Compile(reString(tail))
			if err != nil {
				return nil
			}
			tmax := 0
			for _, t := range subs[i:] {
				n := maxLen(t)
				if n == unbounded {
					tmax = unbounded
					break
				}
				tmax += n
			}
			return &anchor{lits: newKeywordMatcher(set), tail: tre, tailMax: tmax, lead: lead}
		}
		n := maxLen(s)
		if n == unbounded {
			return nil
		}
		lead += n
	}
	return nil
}

// literalPrefixes returns the literals every match of re starts with
// (lower-cased, at least minAnchorBytes long), or nil.
func literalPrefixes(re *syntax.Regexp) []string {
	set, ok := prefixes(re)
	if !ok || len(set) == 0 {
		return nil
	}
	out := make([]string, 0, len(set))
	seen := map[string]bool{}
	for _, p := range set {
		if len(p) < minAnchorBytes {
			return nil
		}
		p = strings.ToLower(p)
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// prefixes computes a set of strings such that every match of re begins
// with one of them.
func prefixes(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		s := string(re.Rune)
		if !ascii(s) {
			return nil, false
		}
		return []string{s}, true
	case syntax.OpCharClass:
		var out []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if r >= utf8.RuneSelf || len(out) >= 8 {
					return nil, false
				}
				out = append(out, string(r))
			}
		}
		return out, len(out) > 0
	case syntax.OpCapture:
		return prefixes(re.Sub[0])
	case syntax.OpAlternate:
		var out []string
		for _, s := range re.Sub {
			p, ok := prefixes(s)
			if !ok {
				return nil, false
			}
			out = append(out, p...)
			if len(out) > maxAnchorSet {
				return nil, false
			}
		}
		return out, true
	case syntax.OpConcat:
		acc := []string{""}
		for _, s := range re.Sub {
			if s.Op != syntax.OpLiteral && s.Op != syntax.OpCharClass && s.Op != syntax.OpCapture && s.Op != syntax.OpAlternate {
				break
			}
			p, ok := prefixes(s)
			if !ok || len(acc)*len(p) > maxAnchorSet {
				break
			}
			next := make([]string, 0, len(acc)*len(p))
			for _, a := range acc {
				for _, b := range p {
					next = append(next, a+b)
				}
			}
			acc = next
			// Only a literal (or a class/alternation of literals) keeps
			// the prefix contiguous; a nested concat may stop early.
			if s.Op == syntax.OpCapture || s.Op == syntax.OpAlternate {
				break
			}
		}
		if len(acc) == 1 && acc[0] == "" {
			return nil, false
		}
		return acc, true
	}
	return nil, false
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// candidates narrows window w of data to the regions around anchor
// occurrences whose tail check passes.
func (a *anchor) candidates(data []byte, w window, buf []hit) ([]window, []hit) {
	buf = a.lits.find(data[w.lo:w.hi], buf[:0])
	var out []window
	for _, h := range buf {
		occ := w.lo + h.end - len(a.lits.keywords[h.kw])
		reach := a.tailMax
		if reach == unbounded || reach > anchorReach {
			reach = anchorReach
		}
		end := min(len(data), occ+reach)
		m := a.tail.FindIndex(data[occ:end])
		if m == nil {
			continue
		}
		lo := max(0, occ-a.lead)
		hi := occ + m[1]
		if end == occ+reach && hi == end {
			hi = w.hi // ran into the reach: let the full rule decide
		}
		lo, hi = lineBounds(data, lo, hi)
		if n := len(out); n > 0 && lo <= out[n-1].hi {
			out[n-1].hi = max(out[n-1].hi, hi)
			continue
		}
		out = append(out, window{lo, hi})
	}
	return out, buf
}

// lineBounds widens [lo, hi) to whole lines, within maxWindowLine.
func lineBounds(data []byte, lo, hi int) (int, int) {
	floor := max(0, lo-maxWindowLine)
	for lo > floor && data[lo-1] != '\n' {
		lo--
	}
	ceil := min(len(data), hi+maxWindowLine)
	for hi > 0 && hi < ceil && data[hi-1] != '\n' {
		hi++
	}
	return lo, hi
}
