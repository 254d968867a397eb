package gitscan

import (
	"strings"
	"testing"
)

func FuzzParseLog(f *testing.F) {
	sha := strings.Repeat("a", 40)
	sha2 := strings.Repeat("b", 40)
	f.Add([]byte("\x01" + sha + "\x1f\x1fAlice\x1fa@x\x1f2020-01-01T00:00:00Z\x1fmsg\x00\n:000000 100644 " + zeroSHA + " " + sha2 + " A\x00file.txt\x00"))
	f.Add([]byte("\x01" + sha + "\x1f" + sha2 + "\x1fB\x1fb@x\x1fd\x1fs\x00\n:100644 100644 " + sha + " " + sha2 + " R087\x00old\x00new\x00"))
	f.Add([]byte(":100644"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseLog(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		for _, c := range l.Changes {
			if c.Commit < 0 || c.Commit >= len(l.Commits) || !isSHA(c.NewBlob) {
				t.Fatalf("bad change %+v", c)
			}
		}
	})
}

func FuzzBatchHeader(f *testing.F) {
	f.Add([]byte(strings.Repeat("a", 40) + " blob 12\n"))
	f.Add([]byte(strings.Repeat("a", 40) + " missing\n"))
	f.Fuzz(func(t *testing.T, line []byte) {
		_, _, n, err := readBatchHeader(line)
		if err == nil && n < 0 {
			t.Fatal("negative size")
		}
	})
}
