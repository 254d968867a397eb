package verify

import (
	"context"
	"errors"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"

	"github.com/pipeguard/pipeguard/internal/attest"
	"github.com/pipeguard/pipeguard/internal/sign"
)

// DefaultVerifierID identifies pipeguard's verifier in the VSAs it writes
// unless configured otherwise.
const DefaultVerifierID = "https://pipeguard.dev/verifiers/local/v1"

// VSA is the SLSA Verification Summary Attestation v1 predicate.
type VSA struct {
	Verifier           VSAVerifier   `json:"verifier"`
	TimeVerified       string        `json:"timeVerified"`
	ResourceURI        string        `json:"resourceUri"`
	Policy             VSAResource   `json:"policy"`
	InputAttestations  []VSAResource `json:"inputAttestations"`
	VerificationResult string        `json:"verificationResult"`
	VerifiedLevels     []string      `json:"verifiedLevels"`
	SLSAVersion        string        `json:"slsaVersion"`
}

// VSAVerifier names the verifier.
type VSAVerifier struct {
	ID string `json:"id"`
}

// VSAResource is an in-toto resource descriptor.
type VSAResource struct {
	URI    string            `json:"uri,omitempty"`
	Digest map[string]string `json:"digest"`
}

// NewVSA builds the VSA predicate for a passing report.
func NewVSA(r *Report, verifierID, resourceURI, policyURI string, now time.Time) (*VSA, error) {
	if r == nil || !r.Passed {
		return nil, errors.New("a VSA is only written for a subject that passed")
	}
	if verifierID == "" {
		verifierID = DefaultVerifierID
	}
	if resourceURI == "" {
		resourceURI = r.Subject.Name
	}
	v := &VSA{
		Verifier:           VSAVerifier{ID: verifierID},
		TimeVerified:       now.UTC().Format(time.RFC3339),
		ResourceURI:        resourceURI,
		Policy:             VSAResource{URI: policyURI, Digest: map[string]string{"sha256": r.PolicyDigest}},
		InputAttestations:  []VSAResource{},
		VerificationResult: "PASSED",
		VerifiedLevels:     r.VerifiedLevels,
		SLSAVersion:        "1.0",
	}
	if v.VerifiedLevels == nil {
		v.VerifiedLevels = []string{}
	}
	for _, in := range r.InputAttestations {
		v.InputAttestations = append(v.InputAttestations, VSAResource{URI: in.Name, Digest: map[string]string{"sha256": in.Digest}})
	}
	return v, nil
}

// SignVSA writes a SLSA VSA v1 for a passing report as a Sigstore bundle
// signed by s.
func SignVSA(ctx context.Context, s *sign.Signer, r *Report, verifierID, resourceURI string, opts ...sign.BundleOption) (*protobundle.Bundle, error) {
	v, err := NewVSA(r, verifierID, resourceURI, "", time.Now())
	if err != nil {
		return nil, err
	}
	st, err := attest.NewStatement([]attest.Subject{{Name: r.Subject.Name, Digest: r.Subject.Digests}}, attest.PredicateSLSAVSAV1, v)
	if err != nil {
		return nil, err
	}
	return s.DSSE(ctx, attest.PayloadType, st, opts...)
}
