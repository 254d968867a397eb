// Package gitscan scans the history of a git repository for secrets.
//
// git computes the diffs (`git log -p -U0`, the cheapest way to get the
// added lines of every commit, and a separate process, so it runs on its
// own core); pipeguard parses the stream, drops files that the
// allowlists skip before buffering them, and scans only the added lines of
// each hunk on the remaining cores, batching hunks so per-fragment costs
// stay small. A keyword automaton sees every byte; regexes only run on
// windows around keyword hits. Binary archives (zip, tar, gzip) that a
// commit adds are fetched with `git cat-file --batch` and opened.
package gitscan

import (
	"bytes"
	"fmt"
)

// Commit is the metadata a finding is attributed to.
type Commit struct {
	SHA         string
	Parents     []string
	AuthorName  string
	AuthorEmail string
	Date        string
	Subject     string
}

// LogFormat is the --format the patch parser expects: a commit header
// line that starts with \x01 (which no patch line can) and separates its
// fields with \x1f.
const LogFormat = "--format=%x01%H%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f%s"

func isSHA(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// readBatchHeader parses one `git cat-file --batch` header line:
// "<sha> <type> <size>" or "<sha> missing".
func readBatchHeader(line []byte) (sha, typ string, size int, err error) {
	f := bytes.Fields(line)
	if len(f) == 2 && string(f[1]) == "missing" {
		return string(f[0]), "missing", 0, nil
	}
	if len(f) != 3 {
		return "", "", 0, fmt.Errorf("git cat-file: malformed header %.80q", line)
	}
	n := 0
	for _, c := range f[2] {
		if c < '0' || c > '9' || n > 1<<40 {
			return "", "", 0, fmt.Errorf("git cat-file: malformed size in %.80q", line)
		}
		n = n*10 + int(c-'0')
	}
	return string(f[0]), string(f[1]), n, nil
}
