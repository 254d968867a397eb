// Package gitscan scans the history of a git repository for secrets.
//
// It never diffs text and never pipes `git log -p`. Instead it reads the
// cheap tree-level change list (`git log --raw`), which names every blob a
// commit introduced, scans each unique blob exactly once (fetched with
// `git cat-file --batch` in pack order), and then attributes each finding
// to the commits that introduced it: a finding of blob B at path P counts
// for commit C when C changed P to B and the previous version of P did not
// hold the same secret on the same line text. That is what "added lines of
// the diff" means for a secret, at a fraction of the cost.
package gitscan

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
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

// Change is one file a commit added or modified.
type Change struct {
	Commit  int // index into the log's commits
	Path    string
	OldPath string
	OldBlob string // "" when the file is new
	NewBlob string
}

// Log is a parsed `git log --raw -z` listing.
type Log struct {
	Commits []Commit
	Changes []Change
}

const zeroSHA = "0000000000000000000000000000000000000000"

// LogFormat is the --format the parser expects.
const LogFormat = "--format=%x01%H%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f%s"

// ParseLog parses the output of
//
//	git log --raw --no-abbrev -z LogFormat
//
// Merge commits carry no raw entries (as with `git log -p`), so changes
// only come from ordinary commits.
func ParseLog(r io.Reader) (*Log, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	l := &Log{}
	cur := -1
	next := func() (string, error) {
		s, err := br.ReadString(0)
		if err == io.EOF && s != "" {
			return s, nil
		}
		if err != nil {
			return "", err
		}
		return s[:len(s)-1], nil
	}
	for {
		tok, err := next()
		if err == io.EOF {
			return l, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading git log: %w", err)
		}
		tok = strings.TrimLeft(tok, "\n")
		switch {
		case tok == "":
			continue
		case tok[0] == 1:
			f := strings.SplitN(tok[1:], "\x1f", 6)
			if len(f) != 6 || len(f[0]) < 40 {
				return nil, fmt.Errorf("git log: malformed commit header %.80q", tok)
			}
			c := Commit{SHA: f[0], AuthorName: f[2], AuthorEmail: f[3], Date: f[4], Subject: strings.TrimRight(f[5], "\n")}
			if f[1] != "" {
				c.Parents = strings.Fields(f[1])
			}
			l.Commits = append(l.Commits, c)
			cur = len(l.Commits) - 1
		case tok[0] == ':':
			if cur < 0 {
				return nil, errors.New("git log: change before any commit")
			}
			meta := strings.Fields(tok[1:])
			if len(meta) != 5 {
				return nil, fmt.Errorf("git log: malformed raw entry %.80q", tok)
			}
			oldMode, newMode, oldBlob, newBlob, status := meta[0], meta[1], meta[2], meta[3], meta[4]
			p, err := next()
			if err != nil {
				return nil, fmt.Errorf("git log: raw entry without path: %w", err)
			}
			ch := Change{Commit: cur, Path: p, OldPath: p, OldBlob: oldBlob, NewBlob: newBlob}
			if status[0] == 'R' || status[0] == 'C' {
				dst, err := next()
				if err != nil {
					return nil, fmt.Errorf("git log: rename without destination: %w", err)
				}
				ch.Path = dst
			}
			// Submodules (160000) are commits, not blobs; deletions have
			// nothing new to scan.
			if newMode == "160000" || newBlob == zeroSHA || status[0] == 'D' {
				continue
			}
			if oldBlob == zeroSHA || oldMode == "160000" {
				ch.OldBlob = ""
			}
			if !isSHA(newBlob) || (ch.OldBlob != "" && !isSHA(ch.OldBlob)) {
				return nil, fmt.Errorf("git log: malformed object id in %.80q", tok)
			}
			l.Changes = append(l.Changes, ch)
		default:
			return nil, fmt.Errorf("git log: unexpected token %.80q", tok)
		}
	}
}

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
