package export

import (
	"archive/zip"
	"bytes"
	"testing"
)

func FuzzParseJira(f *testing.F) {
	f.Add([]byte(`{"issues":[{"key":"A-1","fields":{"summary":"s","description":{"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"tok"}]}]},"comment":{"comments":[{"id":"1","body":"x","author":{"displayName":"D"}}]}}}]}`))
	f.Add([]byte(`[{"key":"B-2","fields":{"description":"plain"}}]`))
	f.Add([]byte(`{"key":"C-3"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := ParseJira(data)
		if err != nil {
			return
		}
		for _, d := range docs {
			if d.Path == "" {
				t.Fatal("document without path")
			}
		}
	})
}

func FuzzParseSlack(f *testing.F) {
	f.Add([]byte(`[{"type":"message","user":"U1","text":"hi &amp; bye","ts":"1.2","attachments":[{"text":"a"}]}]`), []byte(`[{"id":"U1","name":"n"}]`))
	f.Add([]byte(`{}`), []byte(`x`))
	f.Fuzz(func(t *testing.T, day, users []byte) {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, _ := zw.Create("general/2024-01-01.json")
		w.Write(day)
		w, _ = zw.Create("users.json")
		w.Write(users)
		zw.Close()
		zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatal(err)
		}
		ParseSlack(zr)
	})
}
