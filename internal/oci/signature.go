package oci

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/pipeguard/pipeguard/internal/attest"
	"github.com/pipeguard/pipeguard/internal/sign"
)

// PredicateCosignSign is the predicate type of an image signature as cosign
// v3 writes it with the new bundle format: an in-toto statement about the
// image digest with an empty predicate.
const PredicateCosignSign = "https://sigstore.dev/cosign/sign/v1"

// simpleSigningMediaType is the layer media type of cosign's legacy
// signature image (sha256-<hex>.sig).
const simpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"

// SignatureBundle signs image digest d the way cosign v3 does (a DSSE
// statement of type PredicateCosignSign) and returns the bundle JSON, ready
// for Attach.
func SignatureBundle(ctx context.Context, s *sign.Signer, d name.Digest) ([]byte, error) {
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		return nil, fmt.Errorf("signing %s: %w", d, err)
	}
	st, err := attest.NewStatement([]attest.Subject{{Name: d.Context().Name(), Digest: map[string]string{h.Algorithm: h.Hex}}}, PredicateCosignSign, map[string]any{})
	if err != nil {
		return nil, err
	}
	b, err := s.DSSE(ctx, attest.PayloadType, st)
	if err != nil {
		return nil, fmt.Errorf("signing %s: %w", d, err)
	}
	return attest.MarshalBundle(b)
}

// simpleSigning is the "cosign container image signature" payload that
// legacy cosign signs and verifies.
type simpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]any `json:"optional"`
}

// AttachLegacySignature signs the simple-signing payload for d and adds it
// to cosign's sha256-<hex>.sig image, for cosign releases and admission
// controllers that only read that layout. It returns the tag written.
func (c *Client) AttachLegacySignature(ctx context.Context, s *sign.Signer, d name.Digest) (name.Tag, error) {
	var p simpleSigning
	p.Critical.Identity.DockerReference = d.Context().Name()
	p.Critical.Image.DockerManifestDigest = d.DigestStr()
	p.Critical.Type = "cosign container image signature"
	payload, err := json.Marshal(p)
	if err != nil {
		return name.Tag{}, err
	}
	sig, _, err := s.SignData(ctx, payload)
	if err != nil {
		return name.Tag{}, fmt.Errorf("signing %s: %w", d, err)
	}
	ropts := c.remoteOptions(ctx)
	if _, err := remote.Head(d, ropts...); err != nil {
		return name.Tag{}, fmt.Errorf("looking up %s: %w", d, err)
	}
	tag := cosignTag(d, "sig")
	img, err := remote.Image(tag, ropts...)
	switch {
	case isNotFound(err):
		img = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	case err != nil:
		return tag, fmt.Errorf("reading %s: %w", tag, err)
	}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:       static.NewLayer(payload, simpleSigningMediaType),
		Annotations: map[string]string{annCosignSignature: base64.StdEncoding.EncodeToString(sig)},
	})
	if err != nil {
		return tag, fmt.Errorf("building %s: %w", tag, err)
	}
	if err := remote.Write(tag, img, ropts...); err != nil {
		return tag, fmt.Errorf("pushing %s: %w", tag, err)
	}
	return tag, nil
}
