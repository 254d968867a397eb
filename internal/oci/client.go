// Package oci stores Sigstore bundles with container images in OCI
// registries and finds them again. It writes every attestation twice: as an
// OCI 1.1 referrer (the layout cosign v3 writes with its new bundle format)
// and in cosign's tag layout (sha256-<hex>.att) that registries without the
// referrers API and older cosign releases read. Discovery reads both.
package oci

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Limits on what a registry may hand us. A registry is outside input: an
// attacker who controls one must not be able to exhaust memory or time.
const (
	maxBundleSize  = 4 << 20 // one bundle or envelope layer
	maxAttachments = 256     // referrers + tag-layout layers per digest
	maxPlatforms   = 64      // manifests in one index
)

// Client talks to registries on behalf of pipeguard.
type Client struct {
	keychain  authn.Keychain
	transport http.RoundTripper
	insecure  bool
	userAgent string
	// puller keeps each repository's authenticated transport between
	// calls: without it every read pings /v2/ and fetches a token again,
	// which doubles a cold verification's round trips.
	puller *lazyPuller
}

type lazyPuller struct {
	once sync.Once
	p    *remote.Puller
}

// Option configures a Client.
type Option func(*Client)

// WithKeychain sets where credentials come from (default: the docker
// config file, as `docker login` writes it).
func WithKeychain(k authn.Keychain) Option { return func(c *Client) { c.keychain = k } }

// WithTransport sets the HTTP transport (default: http.DefaultTransport).
func WithTransport(t http.RoundTripper) Option { return func(c *Client) { c.transport = t } }

// WithInsecure allows plain HTTP and unverified TLS. It exists for registries
// on loopback in tests; never use it against a real registry.
func WithInsecure() Option { return func(c *Client) { c.insecure = true } }

// New returns a Client.
func New(opts ...Option) *Client {
	c := &Client{keychain: authn.DefaultKeychain, transport: remote.DefaultTransport, userAgent: "pipeguard"}
	for _, o := range opts {
		o(c)
	}
	c.puller = &lazyPuller{}
	return c
}

// WithExtraKeychain returns a copy of c that resolves credentials from k first and
// falls back to c's own keychain. The webhook uses it to add a pod's
// imagePullSecrets for one request.
func (c *Client) WithExtraKeychain(k authn.Keychain) *Client {
	cp := *c
	cp.keychain = authn.NewMultiKeychain(k, c.keychain)
	cp.puller = &lazyPuller{}
	return &cp
}

// ParseReference normalises an image reference the way docker does:
// "nginx" is docker.io/library/nginx:latest.
func (c *Client) ParseReference(s string) (name.Reference, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("empty image reference")
	}
	var opts []name.Option
	if c.insecure {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.ParseReference(s, opts...)
	if err != nil {
		return nil, fmt.Errorf("parsing image reference %q: %w", s, err)
	}
	return ref, nil
}

func (c *Client) baseOptions() []remote.Option {
	return []remote.Option{
		remote.WithAuthFromKeychain(c.keychain),
		remote.WithTransport(c.transport),
		remote.WithUserAgent(c.userAgent),
	}
}

func (c *Client) remoteOptions(ctx context.Context) []remote.Option {
	opts := append(c.baseOptions(), remote.WithContext(ctx))
	c.puller.once.Do(func() {
		c.puller.p, _ = remote.NewPuller(c.baseOptions()...)
	})
	if c.puller.p != nil {
		opts = append(opts, remote.Reuse(c.puller.p))
	}
	return opts
}

// Platform is one entry of a multi-platform index.
type Platform struct {
	Platform string  // e.g. "linux/amd64"
	Digest   v1.Hash // the platform manifest's digest
}

// Resolved is an image reference pinned to what the registry serves.
type Resolved struct {
	Ref       name.Reference
	Digest    v1.Hash // the manifest or index digest the reference names now
	Index     bool    // Digest is a multi-platform index
	Platforms []Platform
}

// DigestRef is the reference pinned to its digest.
func (r *Resolved) DigestRef() name.Digest { return r.Ref.Context().Digest(r.Digest.String()) }

// Resolve asks the registry what ref names now. For a tag that is the
// digest it points to; for an index it also lists each platform's digest.
func (c *Client) Resolve(ctx context.Context, ref name.Reference) (*Resolved, error) {
	desc, err := remote.Get(ref, c.remoteOptions(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", ref, err)
	}
	if d, ok := ref.(name.Digest); ok && d.DigestStr() != desc.Digest.String() {
		// remote.Get verifies this already; checked again because a wrong
		// answer here would let one image pass for another.
		return nil, fmt.Errorf("registry served %s for %s", desc.Digest, ref)
	}
	r := &Resolved{Ref: ref, Digest: desc.Digest}
	if !desc.MediaType.IsIndex() {
		return r, nil
	}
	r.Index = true
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("reading index %s: %w", ref, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading index %s: %w", ref, err)
	}
	if len(im.Manifests) > maxPlatforms {
		return nil, fmt.Errorf("index %s lists %d manifests, more than the %d accepted", ref, len(im.Manifests), maxPlatforms)
	}
	for _, m := range im.Manifests {
		if !m.MediaType.IsImage() {
			continue
		}
		p := "unknown"
		if m.Platform != nil {
			p = m.Platform.String()
		}
		if m.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
			continue // buildkit's attestation entries are not runnable platforms
		}
		r.Platforms = append(r.Platforms, Platform{Platform: p, Digest: m.Digest})
	}
	return r, nil
}
