package ocitest

import (
	"context"
	"crypto"
	"fmt"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pipeguard/pipeguard/internal/attest"
	"github.com/pipeguard/pipeguard/internal/sign"
)

// BuilderID is the builder id test provenance claims.
const BuilderID = "https://pipeguard.dev/builders/test"

// Key is a test signing key.
type Key struct {
	Private crypto.Signer
	PEM     []byte // public key, PEM
}

// NewKey makes an ECDSA P-256 key.
func NewKey(t testing.TB) *Key {
	t.Helper()
	k, err := sign.GenerateKey("")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sign.EncodePublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &Key{Private: k, PEM: pub}
}

// Signer wraps the key as a pipeguard signer.
func (k *Key) Signer(t testing.TB) *sign.Signer {
	t.Helper()
	s, err := sign.NewSigner(k.Private)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Provenance returns a Sigstore bundle holding SLSA provenance v1 for
// repo@digest, claiming BuilderID, signed by k.
func (k *Key) Provenance(t testing.TB, repo string, digest v1.Hash) []byte {
	t.Helper()
	pred := map[string]any{
		"buildDefinition": map[string]any{
			"buildType":          "https://pipeguard.dev/build/v1",
			"externalParameters": map[string]any{"source": "git+https://example.test/app@refs/heads/main"},
		},
		"runDetails": map[string]any{"builder": map[string]any{"id": BuilderID}},
	}
	st, err := attest.NewStatement([]attest.Subject{{Name: repo, Digest: map[string]string{digest.Algorithm: digest.Hex}}}, attest.PredicateSLSAProvenanceV1, pred)
	if err != nil {
		t.Fatal(err)
	}
	b, err := k.Signer(t).DSSE(context.Background(), attest.PayloadType, st)
	if err != nil {
		t.Fatal(err)
	}
	data, err := attest.MarshalBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// Policy is a policy requiring SLSA provenance v1 from BuilderID signed by
// builder (claiming builderID; "" means BuilderID), and trusting verifier's
// VSAs when verifier is not nil.
func Policy(builder *Key, builderID string, verifier *Key) string {
	if builderID == "" {
		builderID = BuilderID
	}
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: pipeguard.dev/policy/v1\nsigners:\n  builders:\n    - id: %q\n      keys:\n        - pem: |\n%s", builderID, indent(builder.PEM, 12))
	if verifier != nil {
		fmt.Fprintf(&b, "  verifiers:\n    - id: %q\n      keys:\n        - pem: |\n%s", "https://pipeguard.dev/verifiers/local/v1", indent(verifier.PEM, 12))
	}
	b.WriteString("require:\n  attestations:\n    - type: \"https://slsa.dev/provenance/v1\"\n")
	return b.String()
}

func indent(pem []byte, n int) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(string(pem)), "\n") {
		b.WriteString(strings.Repeat(" ", n) + l + "\n")
	}
	return b.String()
}
