package verify

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/pipeguard/pipeguard/internal/attest"
	"github.com/pipeguard/pipeguard/internal/policy"
)

// BenchmarkVerifyBundle measures verifying one key-signed attestation
// bundle for an artifact digest (what `cosign verify-blob-attestation`
// does per call; bench/verify compares the two).
func BenchmarkVerifyBundle(b *testing.B) {
	f := newFixture(b)
	data := f.bundle(b, f.builder, f.digest, attest.PredicateSLSAProvenanceV1, f.provenance(nil), nil)
	items, err := attest.Load("b", data)
	if err != nil {
		b.Fatal(err)
	}
	pub := f.builder.GetPublicKey()
	digest, _ := hex.DecodeString(f.digest)
	trust := BundleTrust{Keys: []attest.VerificationKey{{Public: pub}}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := CheckBundle(items[0].Bundle, sgverify.WithArtifactDigest("sha256", digest), trust); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPolicy50 measures a full policy evaluation over 50 attestations
// of one subject: provenance plus 49 attestations of other types, read from
// their JSON, every signature verified, every rule applied.
func BenchmarkPolicy50(b *testing.B) {
	f := newFixture(b)
	var inputs [][]byte
	inputs = append(inputs, f.bundle(b, f.builder, f.digest, attest.PredicateSLSAProvenanceV1, f.provenance(nil), nil))
	var req string
	for i := 1; i < 50; i++ {
		typ := fmt.Sprintf("https://pipeguard.dev/attestations/check-%02d/v1", i)
		if i <= 5 {
			req += fmt.Sprintf("    - type: %s\n", typ)
		}
		pred := map[string]any{"result": "pass", "timestamp": f.now.Add(-time.Minute).Format(time.RFC3339)}
		inputs = append(inputs, f.bundle(b, f.builder, f.digest, typ, pred, nil))
	}
	p := f.policy("", "rules:\n  - name: hermetic-or-checked\n    expr: size(attestations) >= 6\n")
	p = replaceOnce(p, "    - type: https://slsa.dev/provenance/v1\n", "    - type: https://slsa.dev/provenance/v1\n"+req)
	pol, err := policy.Parse([]byte(p))
	if err != nil {
		b.Fatal(err)
	}
	v, err := New(pol, WithClock(func() time.Time { return f.now }))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r, err := v.Verify(context.Background(), f.subject(), inputs)
		if err != nil || !r.Passed {
			b.Fatalf("err=%v report=%v", err, r.Failures)
		}
	}
}

func replaceOnce(s, old, new string) string {
	i := strings.Index(s, old)
	if i < 0 {
		panic("not found: " + old)
	}
	return s[:i] + new + s[i+len(old):]
}
