package secrets

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strings"
)

// Encoded text is peeled layer by layer: each run that looks like base64,
// hex or percent-encoding is decoded, and if the result is text it is
// scanned like any other fragment. Findings point at the encoded run's
// line in the original.

const (
	minBase64Run = 16
	minHexRun    = 32
)

var b64Table = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		t[c] = b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '+' || b == '/' || b == '-' || b == '_'
	}
	return t
}()

func isB64(c byte) bool { return b64Table[c] }

func isDelim(c byte) bool {
	return c == '\n' || c == '\r' || c == ' ' || c == '\t' || c == '"' || c == '\'' || c == '`'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

type segment struct {
	lo, hi int
	enc    string
}

// encodedSegments finds candidate runs in data.
func encodedSegments(data []byte) []segment {
	var segs []segment
	for i := 0; i < len(data); {
		c := data[i]
		if c == '%' && i+2 < len(data) && isHex(data[i+1]) && isHex(data[i+2]) {
			// A percent-encoded token: from the start of the word holding
			// the first %XX, over %XX and plain URL bytes.
			for len(segs) > 0 && segs[len(segs)-1].hi > i {
				segs = segs[:len(segs)-1] // a base64 run that was really this token
			}
			for i > 0 && !isDelim(data[i-1]) && (len(segs) == 0 || i > segs[len(segs)-1].hi) {
				i--
			}
			j := i
			n := 0
			for j < len(data) && !isDelim(data[j]) {
				if data[j] == '%' && j+2 < len(data) && isHex(data[j+1]) && isHex(data[j+2]) {
					n++
					j += 3
					continue
				}
				j++
			}
			if n >= 1 {
				segs = append(segs, segment{i, j, "percent"})
			}
			i = j
			continue
		}
		if !isB64(c) {
			i++
			continue
		}
		j := i
		allHex := true
		for j < len(data) && isB64(data[j]) {
			if allHex && !isHex(data[j]) {
				allHex = false
			}
			j++
		}
		end := j
		for end < len(data) && end-j < 2 && data[end] == '=' {
			end++
		}
		switch {
		case allHex && j-i >= minHexRun && (j-i)%2 == 0:
			segs = append(segs, segment{i, j, "hex"})
		case j-i >= minBase64Run:
			segs = append(segs, segment{i, end, "base64"})
		}
		i = end
	}
	return segs
}

func decodeSegment(s segment, data []byte) []byte {
	raw := string(data[s.lo:s.hi])
	var out []byte
	var err error
	switch s.enc {
	case "hex":
		out, err = hex.DecodeString(raw)
	case "percent":
		var t string
		t, err = url.PathUnescape(raw)
		out = []byte(t)
	case "base64":
		trim := strings.TrimRight(raw, "=")
		if strings.ContainsAny(trim, "-_") {
			out, err = base64.RawURLEncoding.DecodeString(trim)
		} else {
			out, err = base64.RawStdEncoding.DecodeString(trim)
		}
	}
	if err != nil || !mostlyText(out) {
		return nil
	}
	return out
}

// mostlyText accepts decoded bytes only when they read as text; random
// identifiers decode to binary noise, which is dropped here.
func mostlyText(b []byte) bool {
	if len(b) < 6 {
		return false
	}
	bad := 0
	for _, c := range b {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' || c == 0x7f {
			bad++
		} else if c >= 0x80 {
			bad++
		}
	}
	return bad*10 <= len(b)
}

func (d *Detector) scanDecoded(st *scanState, data []byte, path, commit string, depth int, lines **lineIndex, out []Finding) []Finding {
	for _, s := range encodedSegments(data) {
		dec := decodeSegment(s, data)
		if dec == nil {
			continue
		}
		sub := d.scanData(&scanState{pi: st.pi}, dec, path, commit, depth+1, nil)
		if len(sub) == 0 {
			continue
		}
		if *lines == nil {
			*lines = newLineIndex(data)
		}
		line, ls := (*lines).line(s.lo)
		endLine, els := (*lines).line(s.hi - 1)
		lineEnd := (*lines).lineEnd(data, s.hi-1)
		text := string(data[ls:lineEnd])
		if strings.Contains(text, "gitleaks:allow") || strings.Contains(text, "pipeguard:allow") {
			continue
		}
	next:
		for _, f := range sub {
			// Percent-encoding leaves most characters as they are, so the
			// plain text may already have shown this secret on this line.
			for i := range out {
				if out[i].RuleID == f.RuleID && out[i].secret == f.secret && out[i].StartLine <= line && line <= out[i].EndLine {
					continue next
				}
			}
			f.StartLine, f.EndLine = line, endLine
			f.StartColumn, f.EndColumn = s.lo-ls+1, s.hi-els
			f.Tags = append(append([]string(nil), f.Tags...), "decoded:"+s.enc, "decode-depth:"+itoa(depth+1))
			out = append(out, f)
		}
	}
	return out
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
