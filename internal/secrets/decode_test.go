package secrets

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
)

func TestDecodedSecrets(t *testing.T) {
	c, err := ParseConfig([]byte(`
[[rules]]
id = "github-pat"
regex = '''ghp_[0-9a-zA-Z]{36}'''
keywords = ["ghp_"]
`), "")
	if err != nil {
		t.Fatal(err)
	}
	tok := "ghp_" + strings.Repeat("aB3dE6", 6)
	b64 := base64.StdEncoding.EncodeToString([]byte("token: " + tok))
	for _, tc := range []struct {
		name, text, tag string
		depth, want     int
		line            int
	}{
		{"base64", "x\ny = " + b64 + "\n", "decoded:base64", 5, 1, 2},
		{"hex", "a\nb\nval=" + hex.EncodeToString([]byte("tok="+tok)) + "\n", "decoded:hex", 5, 1, 3},
		{"percent", "a\nu=https://x.test/?t=" + url.QueryEscape("\""+strings.ReplaceAll(tok, "a", "%61")+"\"") + "\n", "decoded:percent", 5, 1, 2},
		{"percent overlapping plain text", "u=https://x.test/?t=" + url.QueryEscape("\""+tok+"\"") + "\n", "", 5, 1, 1},
		{"base64 of base64", base64.StdEncoding.EncodeToString([]byte(b64)), "decoded:base64", 5, 1, 1},
		{"depth 0 decodes nothing", "y = " + b64, "", 0, 0, 0},
		{"depth 1 stops after one layer", base64.StdEncoding.EncodeToString([]byte(b64)), "", 1, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDetector(c, WithMaxDecodeDepth(tc.depth))
			fs := d.Scan(Fragment{Data: []byte(tc.text)})
			if len(fs) != tc.want {
				t.Fatalf("got %d findings, want %d", len(fs), tc.want)
			}
			if tc.want == 0 {
				return
			}
			f := fs[0]
			if f.Fingerprint != d.Fingerprint(tok) {
				t.Errorf("fingerprint is not the decoded secret's")
			}
			if f.StartLine != tc.line {
				t.Errorf("line %d, want %d", f.StartLine, tc.line)
			}
			found := tc.tag == ""
			for _, tag := range f.Tags {
				if tag == tc.tag {
					found = true
				}
			}
			if !found {
				t.Errorf("tags %v lack %s", f.Tags, tc.tag)
			}
		})
	}
}
