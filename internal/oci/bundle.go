package oci

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Media types and annotations shared with cosign.
const (
	// BundleMediaTypeV03 is the media type of a Sigstore bundle v0.3, used as
	// the artifactType of a referrer and the media type of its one layer.
	BundleMediaTypeV03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
	bundleMediaPrefix  = "application/vnd.dev.sigstore.bundle"
	// DSSEMediaType is the layer media type of an attestation in cosign's
	// tag layout (sha256-<hex>.att).
	DSSEMediaType  = "application/vnd.dsse.envelope.v1+json"
	emptyMediaType = "application/vnd.oci.empty.v1+json"

	annBundleContent       = "dev.sigstore.bundle.content"
	annBundlePredicateType = "dev.sigstore.bundle.predicateType"
	annCosignSignature     = "dev.cosignproject.cosign/signature"
	annPredicateType       = "predicateType"
	annCreated             = "org.opencontainers.image.created"
)

// BundleInfo is what attaching needs to know about a Sigstore bundle.
type BundleInfo struct {
	MediaType     string // the bundle's own mediaType (v0.1–v0.3)
	Content       string // "dsse-envelope" or "message-signature"
	PredicateType string // of the in-toto statement inside a DSSE envelope
	// Envelope is the bundle's DSSE envelope as standalone JSON, the form
	// cosign's tag layout stores; nil for a message signature.
	Envelope []byte
	// Subjects are the statement's "alg:hex" subject digests.
	Subjects []string
}

type dsseEnvelope struct {
	Payload     string            `json:"payload"`
	PayloadType string            `json:"payloadType"`
	Signatures  []json.RawMessage `json:"signatures"`
}

// ParseBundle reads the parts of a Sigstore bundle JSON that decide where
// and how it is stored. It does not verify signatures: whoever reads the
// bundle back does that against keys it trusts.
func ParseBundle(data []byte) (*BundleInfo, error) {
	var b struct {
		MediaType        string          `json:"mediaType"`
		DSSEEnvelope     *dsseEnvelope   `json:"dsseEnvelope"`
		MessageSignature json.RawMessage `json:"messageSignature"`
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("decoding Sigstore bundle: %w", err)
	}
	if !strings.HasPrefix(b.MediaType, bundleMediaPrefix) {
		return nil, fmt.Errorf("not a Sigstore bundle: mediaType %q", b.MediaType)
	}
	info := &BundleInfo{MediaType: b.MediaType}
	switch {
	case b.DSSEEnvelope != nil && b.MessageSignature != nil:
		return nil, errors.New("the Sigstore bundle has both a DSSE envelope and a message signature")
	case b.DSSEEnvelope != nil:
		info.Content = "dsse-envelope"
		st, err := envelopeStatement(b.DSSEEnvelope)
		if err != nil {
			return nil, err
		}
		info.PredicateType = st.PredicateType
		info.Subjects = st.subjects()
		env, err := json.Marshal(b.DSSEEnvelope)
		if err != nil {
			return nil, fmt.Errorf("encoding DSSE envelope: %w", err)
		}
		info.Envelope = env
	case b.MessageSignature != nil:
		info.Content = "message-signature"
	default:
		return nil, errors.New("the Sigstore bundle has neither a DSSE envelope nor a message signature")
	}
	return info, nil
}

type statementHead struct {
	PredicateType string `json:"predicateType"`
	Subject       []struct {
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
}

func (s *statementHead) subjects() []string {
	var out []string
	for _, sub := range s.Subject {
		for alg, v := range sub.Digest {
			out = append(out, alg+":"+strings.ToLower(v))
		}
	}
	return out
}

func envelopeStatement(e *dsseEnvelope) (*statementHead, error) {
	if e.PayloadType != "application/vnd.in-toto+json" {
		return nil, fmt.Errorf("DSSE payload type %q is not an in-toto statement", e.PayloadType)
	}
	if len(e.Signatures) == 0 {
		return nil, errors.New("DSSE envelope has no signatures")
	}
	payload, err := base64.StdEncoding.DecodeString(e.Payload)
	if err != nil {
		// DSSE allows URL-safe base64 too.
		if payload, err = base64.URLEncoding.DecodeString(e.Payload); err != nil {
			return nil, fmt.Errorf("decoding DSSE payload: %w", err)
		}
	}
	var st statementHead
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, fmt.Errorf("decoding in-toto statement: %w", err)
	}
	if st.PredicateType == "" {
		return nil, errors.New("in-toto statement has no predicateType")
	}
	return &st, nil
}

// envelopePredicateType reads the predicate type of a bare DSSE envelope,
// as found in cosign's tag layout.
func envelopePredicateType(data []byte) (string, error) {
	var e dsseEnvelope
	if err := json.Unmarshal(data, &e); err != nil {
		return "", fmt.Errorf("decoding DSSE envelope: %w", err)
	}
	st, err := envelopeStatement(&e)
	if err != nil {
		return "", err
	}
	return st.PredicateType, nil
}
