package oci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// AttachResult says where the bundles went.
type AttachResult struct {
	// Referrers are the digests of the referrer manifests pushed, one per bundle.
	Referrers []v1.Hash
	// Tag is cosign's attestation tag that was written, if any.
	Tag string
	// TagLayers is how many envelopes were new to Tag.
	TagLayers int
}

type attachOptions struct {
	referrers bool
	tagLayout bool
}

// AttachOption configures Attach.
type AttachOption func(*attachOptions)

// WithoutReferrers skips the OCI 1.1 referrer manifests.
func WithoutReferrers() AttachOption { return func(o *attachOptions) { o.referrers = false } }

// WithoutTagLayout skips cosign's sha256-<hex>.att tag.
func WithoutTagLayout() AttachOption { return func(o *attachOptions) { o.tagLayout = false } }

// Attach stores Sigstore bundles with the image subject: each as an OCI 1.1
// referrer (where the registry lacks the referrers API, go-containerregistry
// maintains the sha256-<hex> fallback index the OCI spec defines) and, for
// attestations, as a layer of cosign's sha256-<hex>.att image. A bundle whose
// statement names other digests than subject is refused: attaching it would
// only make a verifier reject the image later, far from the mistake.
func (c *Client) Attach(ctx context.Context, subject name.Digest, bundles [][]byte, opts ...AttachOption) (*AttachResult, error) {
	o := attachOptions{referrers: true, tagLayout: true}
	for _, f := range opts {
		f(&o)
	}
	if len(bundles) == 0 {
		return nil, errors.New("no bundles to attach")
	}
	infos := make([]*BundleInfo, len(bundles))
	for i, b := range bundles {
		if len(b) > maxBundleSize {
			return nil, fmt.Errorf("bundle %d is %d bytes; readers accept at most %d", i+1, len(b), maxBundleSize)
		}
		info, err := ParseBundle(b)
		if err != nil {
			return nil, fmt.Errorf("bundle %d: %w", i+1, err)
		}
		if info.Content == "dsse-envelope" && !containsFold(info.Subjects, subject.DigestStr()) {
			return nil, fmt.Errorf("bundle %d is about %s, not %s", i+1, strings.Join(info.Subjects, ", "), subject.DigestStr())
		}
		infos[i] = info
	}
	ropts := c.remoteOptions(ctx)
	desc, err := remote.Head(subject, ropts...)
	if err != nil {
		return nil, fmt.Errorf("looking up %s: %w", subject, err)
	}
	subj := v1.Descriptor{MediaType: desc.MediaType, Size: desc.Size, Digest: desc.Digest}

	res := &AttachResult{}
	if o.referrers {
		for i, b := range bundles {
			h, err := c.pushReferrer(ctx, subject, subj, b, infos[i])
			if err != nil {
				return res, fmt.Errorf("attaching bundle %d as a referrer: %w", i+1, err)
			}
			res.Referrers = append(res.Referrers, h)
		}
	}
	if o.tagLayout {
		var envs []*BundleInfo
		for _, info := range infos {
			// cosign's .att image holds attestations; image signatures
			// have their own legacy layout (AttachLegacySignature).
			if info.Envelope != nil && info.PredicateType != PredicateCosignSign {
				envs = append(envs, info)
			}
		}
		if len(envs) > 0 {
			tag, n, err := c.appendAttTag(ctx, subject, envs)
			if err != nil {
				return res, fmt.Errorf("attaching to cosign's tag layout: %w", err)
			}
			res.Tag, res.TagLayers = tag.String(), n
		}
	}
	return res, nil
}

// referrerManifest is an OCI image manifest as cosign v3 writes for a
// bundle. No creation time is recorded, so attaching the same bundle twice
// yields the same manifest and nothing new.
type referrerManifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     types.MediaType   `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        v1.Descriptor     `json:"config"`
	Layers        []v1.Descriptor   `json:"layers"`
	Subject       *v1.Descriptor    `json:"subject"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }

func (c *Client) pushReferrer(ctx context.Context, subject name.Digest, subj v1.Descriptor, bundle []byte, info *BundleInfo) (v1.Hash, error) {
	ropts := c.remoteOptions(ctx)
	repo := subject.Context()
	cfg := static.NewLayer([]byte("{}"), emptyMediaType)
	layer := static.NewLayer(bundle, types.MediaType(info.MediaType))
	for _, l := range []v1.Layer{cfg, layer} {
		if err := remote.WriteLayer(repo, l, ropts...); err != nil {
			return v1.Hash{}, fmt.Errorf("uploading blob: %w", err)
		}
	}
	cfgDesc, err := descriptorOf(cfg)
	if err != nil {
		return v1.Hash{}, err
	}
	layerDesc, err := descriptorOf(layer)
	if err != nil {
		return v1.Hash{}, err
	}
	ann := map[string]string{annBundleContent: info.Content}
	if info.PredicateType != "" {
		ann[annBundlePredicateType] = info.PredicateType
	}
	m := referrerManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  info.MediaType,
		Config:        cfgDesc,
		Layers:        []v1.Descriptor{layerDesc},
		Subject:       &subj,
		Annotations:   ann,
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("encoding referrer manifest: %w", err)
	}
	h, _, err := v1.SHA256(strings.NewReader(string(raw)))
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.Put(repo.Digest(h.String()), rawManifest{raw: raw, mt: types.OCIManifestSchema1}, ropts...); err != nil {
		return v1.Hash{}, fmt.Errorf("pushing referrer manifest: %w", err)
	}
	return h, nil
}

func descriptorOf(l v1.Layer) (v1.Descriptor, error) {
	d, err := l.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	n, err := l.Size()
	if err != nil {
		return v1.Descriptor{}, err
	}
	mt, err := l.MediaType()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Size: n, Digest: d}, nil
}

// cosignTag is cosign's tag for things attached to a digest: sha256-<hex>.<suffix>.
func cosignTag(d name.Digest, suffix string) name.Tag {
	return d.Context().Tag(strings.Replace(d.DigestStr(), ":", "-", 1) + "." + suffix)
}

func (c *Client) appendAttTag(ctx context.Context, subject name.Digest, envs []*BundleInfo) (name.Tag, int, error) {
	ropts := c.remoteOptions(ctx)
	tag := cosignTag(subject, "att")
	img, err := remote.Image(tag, ropts...)
	switch {
	case isNotFound(err):
		img = mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	case err != nil:
		return tag, 0, fmt.Errorf("reading %s: %w", tag, err)
	}
	have := map[v1.Hash]bool{}
	if m, err := img.Manifest(); err == nil {
		for _, l := range m.Layers {
			have[l.Digest] = true
		}
	}
	var adds []mutate.Addendum
	for _, e := range envs {
		l := static.NewLayer(e.Envelope, DSSEMediaType)
		d, err := l.Digest()
		if err != nil {
			return tag, 0, err
		}
		if have[d] {
			continue
		}
		have[d] = true
		adds = append(adds, mutate.Addendum{
			Layer: l,
			Annotations: map[string]string{
				// cosign keeps the signature inside the envelope for
				// attestations and leaves this annotation empty.
				annCosignSignature: "",
				annPredicateType:   e.PredicateType,
			},
		})
	}
	if len(adds) == 0 {
		return tag, 0, nil
	}
	img, err = mutate.Append(img, adds...)
	if err != nil {
		return tag, 0, fmt.Errorf("building %s: %w", tag, err)
	}
	if err := remote.Write(tag, img, ropts...); err != nil {
		return tag, 0, fmt.Errorf("pushing %s: %w", tag, err)
	}
	return tag, len(adds), nil
}

func isNotFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == 404
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
