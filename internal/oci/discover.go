package oci

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// Where an attachment was found.
const (
	SourceReferrers = "referrers"  // OCI 1.1 referrers API or its fallback tag
	SourceCosignTag = "cosign-tag" // cosign's sha256-<hex>.att image
)

// Attachment is one attestation found with an image.
type Attachment struct {
	Source    string
	Manifest  v1.Hash // the manifest that holds it
	MediaType string  // a Sigstore bundle media type, or DSSEMediaType for a bare envelope
	Data      []byte  // the bundle or envelope JSON, unverified
	// PredicateType is what the attachment claims to hold, unverified: it
	// only orders the work (VSAs are judged first), never decides.
	PredicateType string
}

// Label names the n-th (from 0) attachment in reports: where it was found
// and the first hex digits of the manifest holding it, e.g.
// "referrer 3f2a9c01d4e5 #1".
func (a Attachment) Label(n int) string {
	short := a.Manifest.Hex
	if len(short) > 12 {
		short = short[:12]
	}
	kind := "referrer"
	if a.Source == SourceCosignTag {
		kind = "cosign .att"
	}
	return fmt.Sprintf("%s %s #%d", kind, short, n+1)
}

// Discover lists the Sigstore bundles and DSSE envelopes attached to the
// image digest d, from both the referrers API (with the spec's tag fallback)
// and cosign's tag layout, asked in parallel. Nothing is verified here. A
// registry error is returned, never treated as "nothing attached": the
// caller fails closed.
func (c *Client) Discover(ctx context.Context, d name.Digest) ([]Attachment, error) {
	var refs, tagged []Attachment
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { refs, err = c.discoverReferrers(gctx, d); return err })
	g.Go(func() (err error) { tagged, err = c.discoverTag(gctx, d); return err })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := append(refs, dedupe(refs, tagged)...)
	if len(out) > maxAttachments {
		return nil, fmt.Errorf("%s has more than %d attachments", d, maxAttachments)
	}
	return out, nil
}

func (c *Client) discoverReferrers(ctx context.Context, d name.Digest) ([]Attachment, error) {
	var out []Attachment
	idx, err := remote.Referrers(d, c.remoteOptions(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("listing referrers of %s: %w", d, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading referrers of %s: %w", d, err)
	}
	for _, desc := range im.Manifests {
		if !maybeSigstore(desc) {
			continue
		}
		if len(out) >= maxAttachments {
			return nil, fmt.Errorf("%s has more than %d attachments", d, maxAttachments)
		}
		m, err := c.manifest(ctx, d.Context().Digest(desc.Digest.String()))
		if err != nil {
			return nil, err
		}
		for _, l := range m.Layers {
			if !strings.HasPrefix(string(l.MediaType), bundleMediaPrefix) && l.MediaType != DSSEMediaType {
				continue
			}
			data, err := c.blob(ctx, d.Context(), l)
			if err != nil {
				return nil, err
			}
			out = append(out, Attachment{Source: SourceReferrers, Manifest: desc.Digest, MediaType: string(l.MediaType), Data: data,
				PredicateType: m.Annotations[annBundlePredicateType]})
		}
	}
	return out, nil
}

func (c *Client) discoverTag(ctx context.Context, d name.Digest) ([]Attachment, error) {
	tag := cosignTag(d, "att")
	desc, err := remote.Get(tag, c.remoteOptions(ctx)...)
	switch {
	case isNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", tag, err)
	}
	if !desc.MediaType.IsImage() {
		return nil, fmt.Errorf("%s is a %s, not an image manifest", tag, desc.MediaType)
	}
	var m v1.Manifest
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", tag, err)
	}
	var out []Attachment
	for _, l := range m.Layers {
		if l.MediaType != DSSEMediaType {
			continue
		}
		if len(out) >= maxAttachments {
			return nil, fmt.Errorf("%s has more than %d attachments", d, maxAttachments)
		}
		data, err := c.blob(ctx, d.Context(), l)
		if err != nil {
			return nil, err
		}
		out = append(out, Attachment{Source: SourceCosignTag, Manifest: desc.Digest, MediaType: DSSEMediaType, Data: data,
			PredicateType: l.Annotations[annPredicateType]})
	}
	return out, nil
}

// dedupe drops the envelopes of cosign's tag layout that are the very
// envelope of a referrer bundle (pipeguard writes both layouts): checking
// the same signature twice costs a cold verification time for nothing.
func dedupe(refs, tagged []Attachment) []Attachment {
	if len(refs) == 0 || len(tagged) == 0 {
		return tagged
	}
	seen := map[[32]byte]bool{}
	for _, a := range refs {
		if info, err := ParseBundle(a.Data); err == nil && info.Envelope != nil {
			seen[sha256.Sum256(info.Envelope)] = true
		}
	}
	var out []Attachment
	for _, a := range tagged {
		var e dsseEnvelope
		if err := json.Unmarshal(a.Data, &e); err == nil {
			if b, err := json.Marshal(&e); err == nil && seen[sha256.Sum256(b)] {
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

// maybeSigstore filters referrer descriptors cheaply. Registries disagree on
// what artifactType to report (go-containerregistry's reports the config
// media type, which cosign sets to the empty type), so the annotations
// cosign and pipeguard both set count too.
func maybeSigstore(d v1.Descriptor) bool {
	if !d.MediaType.IsImage() {
		return false
	}
	if _, ok := d.Annotations[annBundleContent]; ok {
		return true
	}
	at := d.ArtifactType
	return strings.HasPrefix(at, bundleMediaPrefix) || at == DSSEMediaType || at == emptyMediaType
}

func (c *Client) manifest(ctx context.Context, d name.Digest) (*v1.Manifest, error) {
	desc, err := remote.Get(d, c.remoteOptions(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("fetching referrer %s: %w", d, err)
	}
	if desc.MediaType != types.OCIManifestSchema1 && desc.MediaType != types.DockerManifestSchema2 {
		return nil, fmt.Errorf("referrer %s is a %s, not an image manifest", d, desc.MediaType)
	}
	var m v1.Manifest
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		return nil, fmt.Errorf("decoding referrer %s: %w", d, err)
	}
	return &m, nil
}

// blob fetches a small blob and checks it against its descriptor.
func (c *Client) blob(ctx context.Context, repo name.Repository, l v1.Descriptor) ([]byte, error) {
	if l.Size < 0 || l.Size > maxBundleSize {
		return nil, fmt.Errorf("attachment %s is %d bytes, more than the %d accepted", l.Digest, l.Size, maxBundleSize)
	}
	layer, err := remote.Layer(repo.Digest(l.Digest.String()), c.remoteOptions(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", l.Digest, err)
	}
	rc, err := layer.Compressed()
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", l.Digest, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxBundleSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", l.Digest, err)
	}
	h, _, err := v1.SHA256(strings.NewReader(string(data)))
	if err != nil {
		return nil, err
	}
	if h != l.Digest || int64(len(data)) != l.Size {
		return nil, fmt.Errorf("blob %s does not match its descriptor", l.Digest)
	}
	return data, nil
}
