package secrets

import (
	"regexp/syntax"
	"unicode/utf8"
)

// unbounded marks a regex whose matches can be arbitrarily long.
const unbounded = -1

// maxMatchBytes returns the longest match a regex can produce, in bytes,
// or unbounded. Bounded rules only need to run on a window around each
// keyword hit instead of the whole blob; that is most of the scanner's
// speed on large repositories.
func maxMatchBytes(expr string) int {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return unbounded
	}
	return maxLen(re.Simplify())
}

func maxLen(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpNoMatch, syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine,
		syntax.OpBeginText, syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return 0
	case syntax.OpLiteral:
		n := 0
		for _, r := range re.Rune {
			n += runeBytes(r, re.Flags&syntax.FoldCase != 0)
		}
		return n
	case syntax.OpCharClass:
		hi := rune(0)
		for i := 1; i < len(re.Rune); i += 2 {
			if re.Rune[i] > hi {
				hi = re.Rune[i]
			}
		}
		return runeBytes(hi, false)
	case syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		return utf8.UTFMax
	case syntax.OpCapture:
		return maxLen(re.Sub[0])
	case syntax.OpStar, syntax.OpPlus:
		return unbounded
	case syntax.OpQuest:
		return maxLen(re.Sub[0])
	case syntax.OpRepeat:
		if re.Max < 0 {
			return unbounded
		}
		n := maxLen(re.Sub[0])
		if n == unbounded {
			return unbounded
		}
		return n * re.Max
	case syntax.OpConcat:
		total := 0
		for _, s := range re.Sub {
			n := maxLen(s)
			if n == unbounded {
				return unbounded
			}
			total += n
		}
		return total
	case syntax.OpAlternate:
		best := 0
		for _, s := range re.Sub {
			n := maxLen(s)
			if n == unbounded {
				return unbounded
			}
			if n > best {
				best = n
			}
		}
		return best
	}
	return unbounded
}

func runeBytes(r rune, fold bool) int {
	if fold && r < utf8.RuneSelf {
		// Case folding can reach the Kelvin sign and long s (3 bytes).
		if r == 'k' || r == 'K' || r == 's' || r == 'S' {
			return 3
		}
	}
	if r < 0 || r > utf8.MaxRune {
		return utf8.UTFMax
	}
	return utf8.RuneLen(r)
}

// crossesLines reports whether an unbounded repetition in the regex can
// match a newline, i.e. whether a match can run over arbitrarily many
// lines (a PEM block) rather than only along one long line.
func crossesLines(expr string) bool {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return true
	}
	return unboundedNL(re.Simplify())
}

func unboundedNL(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpStar, syntax.OpPlus:
		return matchesNL(re.Sub[0]) || unboundedNL(re.Sub[0])
	case syntax.OpRepeat:
		if re.Max < 0 && matchesNL(re.Sub[0]) {
			return true
		}
	}
	for _, s := range re.Sub {
		if unboundedNL(s) {
			return true
		}
	}
	return false
}

// matchesNL reports whether re can match a string containing '\n'.
func matchesNL(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if r == '\n' {
				return true
			}
		}
		return false
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if re.Rune[i] <= '\n' && '\n' <= re.Rune[i+1] {
				return true
			}
		}
		return false
	case syntax.OpAnyChar:
		return true
	case syntax.OpAnyCharNotNL:
		return false
	}
	for _, s := range re.Sub {
		if matchesNL(s) {
			return true
		}
	}
	return false
}
