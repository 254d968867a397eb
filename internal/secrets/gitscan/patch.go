package gitscan

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Hunk is the added side of one diff hunk: contiguous new lines of Path
// starting at line Start, as `git log -p -U0` prints them.
type Hunk struct {
	Commit int
	Path   string
	Start  int
	Text   []byte
}

// BinaryChange is a binary file a commit added or changed; archives among
// them are fetched and opened.
type BinaryChange struct {
	shard   int
	Commit  int
	Path    string
	NewBlob string
}

// PatchHandler receives what ParsePatch finds, in stream order.
type PatchHandler struct {
	Commit func(c Commit)
	// SkipPath, if set, drops a file's hunks before they are buffered.
	SkipPath func(path string) bool
	Hunk     func(h Hunk)
	Binary   func(b BinaryChange)
}

// maxPatchLine bounds one line of patch output; longer lines (minified
// files) are cut, as no rule needs more than this of one line.
const maxPatchLine = 8 << 20

// ParsePatch parses the output of
//
//	git log -p -U0 --full-index --no-color LogFormat
//
// calling h for every commit, every hunk's added lines, and every binary
// file. It allocates each hunk's text fresh, so handlers may keep it.
func ParsePatch(r io.Reader, h PatchHandler) error {
	br := bufio.NewReaderSize(r, 4<<20)
	commit := -1
	var (
		path       string
		newBlob    string
		renameTo   string
		binaryPath string
		hunk       []byte
		hunkStart  int
		inHunk     bool
		skipFile   bool
		lineNo     int
	)
	flush := func() {
		if inHunk && len(hunk) > 0 && h.Hunk != nil && !skipFile {
			h.Hunk(Hunk{Commit: commit, Path: path, Start: hunkStart, Text: hunk})
		}
		hunk, inHunk = nil, false
	}
	for {
		line, err := readLine(br)
		if err == io.EOF {
			flush()
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading git log: %w", err)
		}
		lineNo++
		if len(line) == 0 {
			continue
		}
		switch line[0] {
		case '+':
			if inHunk {
				if skipFile {
					continue
				}
				hunk = append(hunk, line[1:]...)
				hunk = append(hunk, '\n')
				continue
			}
			if bytes.HasPrefix(line, []byte("+++ ")) {
				p := string(line[4:])
				if p == "/dev/null" {
					path = ""
					continue
				}
				p, err := unquotePath(p)
				if err != nil {
					return fmt.Errorf("git log line %d: %w", lineNo, err)
				}
				path = strings.TrimPrefix(p, "b/")
				skipFile = h.SkipPath != nil && h.SkipPath(path)
			}
			continue
		case '-', ' ', '\\':
			continue
		case 1:
			flush()
			f := strings.SplitN(string(line[1:]), "\x1f", 6)
			if len(f) != 6 || !isSHA(f[0]) {
				return fmt.Errorf("git log line %d: malformed commit header", lineNo)
			}
			c := Commit{SHA: f[0], AuthorName: f[2], AuthorEmail: f[3], Date: f[4], Subject: f[5]}
			if f[1] != "" {
				c.Parents = strings.Fields(f[1])
			}
			commit++
			if h.Commit != nil {
				h.Commit(c)
			}
			continue
		case '@':
			if bytes.HasPrefix(line, []byte("@@ ")) {
				flush()
				if commit < 0 {
					return fmt.Errorf("git log line %d: hunk before any commit", lineNo)
				}
				start, err := hunkNewStart(line)
				if err != nil {
					return fmt.Errorf("git log line %d: %w", lineNo, err)
				}
				hunkStart, inHunk = start, true
				continue
			}
		case 'd':
			if bytes.HasPrefix(line, []byte("diff --git ")) {
				flush()
				path, newBlob, renameTo, binaryPath, skipFile = "", "", "", diffGitPath(string(line[len("diff --git "):])), false
				continue
			}
		}
		// Extended header lines.
		s := string(line)
		switch {
		case strings.HasPrefix(s, "index "):
			// index <old>..<new>[ mode]
			f := strings.Fields(s[len("index "):])
			if len(f) > 0 {
				if i := strings.Index(f[0], ".."); i >= 0 {
					newBlob = f[0][i+2:]
				}
			}
		case strings.HasPrefix(s, "rename to "):
			if p, err := unquotePath(s[len("rename to "):]); err == nil {
				renameTo = p
			}
		case strings.HasPrefix(s, "copy to "):
			if p, err := unquotePath(s[len("copy to "):]); err == nil {
				renameTo = p
			}
		case strings.HasPrefix(s, "Binary files ") || s == "GIT binary patch":
			p := binaryPath
			if renameTo != "" {
				p = renameTo
			}
			if h.Binary != nil && commit >= 0 && isSHA(newBlob) && p != "" {
				h.Binary(BinaryChange{Commit: commit, Path: p, NewBlob: newBlob})
			}
		}
	}
}

// readLine returns one line without its newline; lines longer than
// maxPatchLine are truncated.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		buf := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			line, err = br.ReadSlice('\n')
			if len(buf) < maxPatchLine {
				buf = append(buf, line...)
			}
		}
		line = buf
	}
	if err == io.EOF && len(line) > 0 {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(line, []byte("\n")), nil
}

// hunkNewStart reads c from "@@ -a[,b] +c[,d] @@".
func hunkNewStart(line []byte) (int, error) {
	s := string(line)
	i := strings.Index(s, " +")
	if i < 0 {
		return 0, fmt.Errorf("malformed hunk header %.60q", s)
	}
	s = s[i+2:]
	j := strings.IndexAny(s, ", ")
	if j < 0 {
		return 0, fmt.Errorf("malformed hunk header %.60q", line)
	}
	n, err := strconv.Atoi(s[:j])
	if err != nil || n < 0 {
		return 0, fmt.Errorf("malformed hunk header %.60q", line)
	}
	return n, nil
}

// diffGitPath takes the b-side path of "a/P b/P" (both sides are equal
// unless the file was renamed, which "rename to" then tells).
func diffGitPath(s string) string {
	if strings.HasPrefix(s, "\"") {
		// Quoted: "a/..." "b/..."
		if i := strings.Index(s, "\" \""); i >= 0 {
			if p, err := unquotePath(s[i+2:]); err == nil {
				return strings.TrimPrefix(p, "b/")
			}
		}
		return ""
	}
	n := len(s)
	if n%2 == 1 {
		half := (n - 1) / 2
		if s[half] == ' ' && strings.HasPrefix(s, "a/") && s[half+1:half+3] == "b/" && s[2:half] == s[half+3:] {
			return s[half+3:]
		}
	}
	if i := strings.LastIndex(s, " b/"); i >= 0 {
		return s[i+3:]
	}
	return ""
}

// unquotePath undoes git's C-style quoting of unusual paths.
func unquotePath(p string) (string, error) {
	if !strings.HasPrefix(p, "\"") {
		return p, nil
	}
	if !strings.HasSuffix(p, "\"") || len(p) < 2 {
		return "", fmt.Errorf("malformed quoted path %.60q", p)
	}
	var b strings.Builder
	s := p[1 : len(p)-1]
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(s) {
			return "", fmt.Errorf("malformed quoted path %.60q", p)
		}
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'r':
			b.WriteByte('\r')
		case 'v':
			b.WriteByte('\v')
		case '"', '\\':
			b.WriteByte(s[i])
		default:
			if i+2 < len(s) && s[i] >= '0' && s[i] <= '3' {
				v, err := strconv.ParseUint(s[i:i+3], 8, 8)
				if err != nil {
					return "", fmt.Errorf("malformed quoted path %.60q", p)
				}
				b.WriteByte(byte(v))
				i += 2
				continue
			}
			return "", fmt.Errorf("malformed quoted path %.60q", p)
		}
	}
	return b.String(), nil
}
