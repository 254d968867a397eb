package tlog

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/sigstore/rekor-tiles/v2/pkg/types/hashedrekord"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"google.golang.org/protobuf/encoding/protojson"
)

// Kind and version of every entry this log accepts: the only type Rekor v2
// logs and sigstore-go accepts for Rekor v2 style logs.
const (
	EntryKind    = "hashedrekord"
	EntryVersion = "0.0.2"
)

// MaxRequestBytes bounds a submission: a hashedrekord request carries a
// digest, a signature and a public key, a few KiB at most.
const MaxRequestBytes = 64 << 10

// algorithms are the signing algorithms the log accepts. Each must be the
// one sigstore-go infers from the key, or verifiers could not rebuild the
// entry: pure Ed25519 is excluded because hashedrekord needs a prehash.
var algorithms = mustRegistry(
	protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
	protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384,
	protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512,
	protocommon.PublicKeyDetails_PKIX_ED25519_PH,
	protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256,
	protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256,
	protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_4096_SHA256,
)

func mustRegistry(algs ...protocommon.PublicKeyDetails) *signature.AlgorithmRegistryConfig {
	r, err := signature.NewAlgorithmRegistryConfig(algs)
	if err != nil {
		panic(err)
	}
	return r
}

// ParseRequest decodes a Rekor v2 CreateEntryRequest (JSON) holding a
// hashedrekord v0.0.2 request. Unknown fields are errors.
func ParseRequest(body []byte) (*rekortilespb.HashedRekordRequestV002, error) {
	if len(body) > MaxRequestBytes {
		return nil, fmt.Errorf("request of %d bytes exceeds the limit of %d", len(body), MaxRequestBytes)
	}
	var req rekortilespb.CreateEntryRequest
	if err := (protojson.UnmarshalOptions{}).Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("decoding entry request: %w", err)
	}
	hr := req.GetHashedRekordRequestV002()
	if hr == nil {
		return nil, errors.New("entry request must be a hashedRekordRequestV002")
	}
	return hr, nil
}

// MarshalRequest encodes hr as a Rekor v2 CreateEntryRequest.
func MarshalRequest(hr *rekortilespb.HashedRekordRequestV002) ([]byte, error) {
	return protojson.Marshal(&rekortilespb.CreateEntryRequest{
		Spec: &rekortilespb.CreateEntryRequest_HashedRekordRequestV002{HashedRekordRequestV002: hr},
	})
}

// Entry is a validated submission.
type Entry struct {
	// Body is the canonical JSON of the hashedrekord v0.0.2 entry: the log
	// leaf, byte for byte what verifiers rebuild from a bundle.
	Body []byte
	// PublicKey is the key whose signature the entry carries.
	PublicKey crypto.PublicKey
}

// NewEntry validates a hashedrekord request: a known algorithm that is the
// one sigstore-go infers for the key, a public key in canonical PKIX DER, a
// digest of the right size, and a signature that verifies over it. It
// returns the canonical entry body. Certificates are not accepted: writers
// are builders registered by key.
func NewEntry(hr *rekortilespb.HashedRekordRequestV002) (*Entry, error) {
	v := hr.GetSignature().GetVerifier()
	if v.GetX509Certificate() != nil {
		return nil, errors.New("entries must name a public key, not a certificate")
	}
	raw := v.GetPublicKey().GetRawBytes()
	if len(raw) == 0 {
		return nil, errors.New("entry names no public key")
	}
	pub, err := x509.ParsePKIXPublicKey(raw)
	if err != nil {
		return nil, fmt.Errorf("parsing entry public key: %w", err)
	}
	if der, err := x509.MarshalPKIXPublicKey(pub); err != nil || !bytes.Equal(der, raw) {
		return nil, errors.New("entry public key is not in canonical PKIX DER form")
	}
	want, err := signature.GetDefaultAlgorithmDetails(pub, options.WithED25519ph())
	if err != nil {
		return nil, fmt.Errorf("unsupported entry key: %w", err)
	}
	if v.GetKeyDetails() != want.GetSignatureAlgorithm() {
		return nil, fmt.Errorf("key details %s do not match the key (want %s)", v.GetKeyDetails(), want.GetSignatureAlgorithm())
	}
	e, err := hashedrekord.ToLogEntry(hr, algorithms)
	if err != nil {
		return nil, fmt.Errorf("invalid hashedrekord entry: %w", err)
	}
	body, err := canonicalJSON(e)
	if err != nil {
		return nil, err
	}
	return &Entry{Body: body, PublicKey: pub}, nil
}

func canonicalJSON(e *rekortilespb.Entry) ([]byte, error) {
	js, err := protojson.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encoding entry: %w", err)
	}
	c, err := jsoncanonicalizer.Transform(js)
	if err != nil {
		return nil, fmt.Errorf("canonicalizing entry: %w", err)
	}
	return c, nil
}

// ParseEntryBody decodes a logged entry body (as found in entry bundles).
func ParseEntryBody(body []byte) (*rekortilespb.HashedRekordLogEntryV002, error) {
	var e rekortilespb.Entry
	if err := protojson.Unmarshal(body, &e); err != nil {
		return nil, fmt.Errorf("decoding entry body: %w", err)
	}
	if e.GetKind() != EntryKind || e.GetApiVersion() != EntryVersion || e.GetSpec().GetHashedRekordV002() == nil {
		return nil, fmt.Errorf("entry is %s/%s, want %s/%s", e.GetKind(), e.GetApiVersion(), EntryKind, EntryVersion)
	}
	return e.GetSpec().GetHashedRekordV002(), nil
}
