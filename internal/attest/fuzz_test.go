package attest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pipeguard/pipeguard/internal/testenv"
)

func seedFiles(f *testing.F, pattern string) {
	if matches, _ := filepath.Glob(pattern); len(matches) > 0 {
		for _, m := range matches {
			if data, err := os.ReadFile(m); err == nil {
				f.Add(data)
			}
		}
	}
}

// sharedDir returns a shared test data directory for seeds, or "" when
// absent: the fuzzers run without it.
func sharedDir(elem ...string) string {
	d, _ := testenv.Lookup(elem...)
	return d
}

// FuzzLoad feeds arbitrary bytes to the attestation file reader: it must
// return an error or attestations, never panic.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30","signatures":[{"sig":"AA"}]}`))
	f.Add([]byte("{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\"}\n{}"))
	f.Add([]byte("not json"))
	if d := sharedDir("attest", "sigstore-conformance"); d != "" {
		seedFiles(f, filepath.Join(d, "*", "bundle.sigstore.json"))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		items, err := Load("fuzz", data)
		if err != nil {
			return
		}
		for _, a := range items {
			_, _ = a.UnverifiedStatement()
			_ = a.Digest()
		}
	})
}

// FuzzParseEnvelope checks envelope decoding and verification never panic.
func FuzzParseEnvelope(f *testing.F) {
	f.Add([]byte(`{"payloadType":"t","payload":"aGVsbG8","signatures":[{"keyid":"k","sig":"MEUCIQ"}]}`))
	f.Add([]byte(`{"payloadType":"","payload":"!!"}`))
	if d := sharedDir("attest", "dsse-spec"); d != "" {
		seedFiles(f, filepath.Join(d, "*.json"))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEnvelope(data)
		if err != nil {
			return
		}
		_, _ = e.Verify(nil)
		if _, err := e.MarshalJSON(); err != nil {
			t.Fatalf("re-encoding a parsed envelope: %v", err)
		}
	})
}

// FuzzParseStatement checks statement decoding never panics and that what
// it accepts is valid.
func FuzzParseStatement(f *testing.F) {
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"ab"}}],"predicateType":"x","predicate":{}}`))
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v0.1","subject":[],"predicateType":""}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseStatement(data)
		if err != nil {
			return
		}
		if st.Validate() != nil || len(st.Subject) == 0 {
			t.Fatal("ParseStatement accepted an invalid statement")
		}
		_ = st.SubjectDigests()
		_ = st.MatchesDigest("sha256", "ab")
	})
}
