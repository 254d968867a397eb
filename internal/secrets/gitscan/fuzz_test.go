package gitscan

import (
	"strings"
	"testing"
)

func FuzzParsePatch(f *testing.F) {
	sha := strings.Repeat("a", 40)
	f.Add([]byte("\x01" + sha + "\x1f\x1fAlice\x1fa@x\x1f2020-01-01T00:00:00Z\x1fmsg\n\ndiff --git a/f.txt b/f.txt\nnew file mode 100644\nindex 0000000000000000000000000000000000000000.." + sha + "\n--- /dev/null\n+++ b/f.txt\n@@ -0,0 +1,2 @@\n+line one\n+token = abc\n"))
	f.Add([]byte("\x01" + sha + "\x1f\x1fB\x1fb@x\x1fd\x1fs\n\ndiff --git \"a/sp ace\\t.zip\" \"b/sp ace\\t.zip\"\nindex " + sha + ".." + sha + " 100644\nBinary files a/x and b/x differ\n"))
	f.Add([]byte("\x01" + sha + "\x1f\x1fB\x1fb@x\x1fd\x1fs\n\ndiff --git a/o b/n\nsimilarity index 90%\nrename from o\nrename to n\n--- a/o\n+++ b/n\n@@ -3 +3 @@ x\n-old\n+new\n\\ No newline at end of file\n"))
	f.Add([]byte("@@ -1 +1 @@\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		commits := 0
		err := ParsePatch(strings.NewReader(string(data)), PatchHandler{
			Commit: func(Commit) { commits++ },
			Hunk: func(h Hunk) {
				if h.Commit < 0 || h.Commit >= commits || h.Start < 0 {
					t.Fatalf("bad hunk %+v", h)
				}
			},
			Binary: func(b BinaryChange) {
				if !isSHA(b.NewBlob) || b.Commit >= commits {
					t.Fatalf("bad binary %+v", b)
				}
			},
		})
		_ = err
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

func TestUnquotePath(t *testing.T) {
	for in, want := range map[string]string{
		`plain/path`:           "plain/path",
		`"b/sp ace\t\"q\".go"`: "b/sp ace\t\"q\".go",
		`"b/caf\303\251"`:      "b/café",
	} {
		got, err := unquotePath(in)
		if err != nil || got != want {
			t.Errorf("unquotePath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := unquotePath(`"bad\`); err == nil {
		t.Error("unterminated quote accepted")
	}
}
