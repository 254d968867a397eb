package tlog

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/sigstore/rekor-tiles/v2/pkg/types/hashedrekord"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
	flog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/pipeguard/pipeguard/internal/sign"
)

// API paths served by `pipeguard server`. Entries are submitted as Rekor
// v2 does; the log itself is read as C2SP tlog-tiles.
const (
	PathEntries      = "/api/v2/log/entries"
	PathAttestations = "/api/v1/attestations"
	PathCheckpoint   = "/checkpoint"
)

// EnvToken names the environment variable holding a builder's write token.
const EnvToken = "PIPEGUARD_LOG_TOKEN"

// Client talks to a pipeguard log server. It implements sigstore-go's
// sign.Transparency, so it plugs into sign.WithTransparencyLog.
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client
	id    *Identity
}

var _ sign.Transparency = (*Client)(nil)

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithHTTPClient sets the HTTP client (default: 30s timeout).
func WithHTTPClient(hc *http.Client) ClientOption { return func(c *Client) { c.hc = hc } }

// WithLogIdentity makes the client verify every entry it receives against
// the log's key (checkpoint signature included), not only the proof.
func WithLogIdentity(id *Identity) ClientOption { return func(c *Client) { c.id = id } }

// NewClient returns a client for the log at baseURL. token authorizes
// writes (a builder's token); reads need none.
func NewClient(baseURL, token string, opts ...ClientOption) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("log URL %q must be an absolute http(s) URL", baseURL)
	}
	c := &Client{base: u, token: token, hc: &http.Client{Timeout: 30 * time.Second}}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// URL returns the log's base URL.
func (c *Client) URL() string { return c.base.String() }

// RequestFor builds the hashedrekord v0.0.2 request Rekor v2 expects for a
// bundle signed by the key in pubKeyPEM: the message digest for a message
// signature, the digest of the PAE for a DSSE envelope.
func RequestFor(pubKeyPEM []byte, b *protobundle.Bundle) (*rekortilespb.HashedRekordRequestV002, error) {
	blk, _ := pem.Decode(pubKeyPEM)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("log entries need the signer's PEM public key")
	}
	pub, err := sign.DecodePublicKey(pubKeyPEM)
	if err != nil {
		return nil, err
	}
	alg, err := signature.GetDefaultAlgorithmDetails(pub, options.WithED25519ph())
	if err != nil {
		return nil, fmt.Errorf("choosing signature algorithm: %w", err)
	}
	v := &rekortilespb.Verifier{
		KeyDetails: alg.GetSignatureAlgorithm(),
		Verifier:   &rekortilespb.Verifier_PublicKey{PublicKey: &rekortilespb.PublicKey{RawBytes: blk.Bytes}},
	}
	switch {
	case b.GetDsseEnvelope() != nil:
		env := b.GetDsseEnvelope()
		if len(env.GetSignatures()) != 1 {
			return nil, fmt.Errorf("DSSE envelope has %d signatures, want 1", len(env.GetSignatures()))
		}
		hf := alg.GetHashType()
		if hf == crypto.Hash(0) {
			return nil, errors.New("log entries need a prehashing algorithm: sign Ed25519 with Ed25519ph (sign.WithEd25519ph)")
		}
		h := hf.New()
		h.Write(ssldsse.PAE(env.GetPayloadType(), env.GetPayload()))
		return &rekortilespb.HashedRekordRequestV002{
			Signature: &rekortilespb.Signature{Content: env.GetSignatures()[0].GetSig(), Verifier: v},
			Digest:    h.Sum(nil),
		}, nil
	case b.GetMessageSignature() != nil:
		ms := b.GetMessageSignature()
		return &rekortilespb.HashedRekordRequestV002{
			Signature: &rekortilespb.Signature{Content: ms.GetSignature(), Verifier: v},
			Digest:    ms.GetMessageDigest().GetDigest(),
		}, nil
	default:
		return nil, errors.New("bundle holds neither a message signature nor a DSSE envelope")
	}
}

// GetTransparencyLogEntry implements sigstore-go's sign.Transparency:
// it submits the bundle's signature, waits for inclusion and appends the
// entry, with its inclusion proof and checkpoint, to the bundle.
func (c *Client) GetTransparencyLogEntry(ctx context.Context, pubKeyPEM []byte, b *protobundle.Bundle) error {
	req, err := RequestFor(pubKeyPEM, b)
	if err != nil {
		return err
	}
	tle, err := c.Submit(ctx, req)
	if err != nil {
		return err
	}
	if b.VerificationMaterial == nil {
		b.VerificationMaterial = &protobundle.VerificationMaterial{}
	}
	b.VerificationMaterial.TlogEntries = append(b.VerificationMaterial.TlogEntries, tle)
	return nil
}

// Submit logs one entry and returns it with its verified inclusion proof.
// It retries while the log pushes back.
func (c *Client) Submit(ctx context.Context, req *rekortilespb.HashedRekordRequestV002) (*protorekor.TransparencyLogEntry, error) {
	body, err := MarshalRequest(req)
	if err != nil {
		return nil, fmt.Errorf("encoding entry request: %w", err)
	}
	wait := 50 * time.Millisecond
	for {
		resp, err := c.do(ctx, http.MethodPost, PathEntries, "application/json", body, true)
		if err != nil {
			return nil, err
		}
		data, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if rerr != nil {
			return nil, fmt.Errorf("reading log response: %w", rerr)
		}
		switch resp.StatusCode {
		case http.StatusCreated, http.StatusOK:
			return c.checkEntry(req, data)
		case http.StatusServiceUnavailable, http.StatusTooManyRequests:
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return nil, fmt.Errorf("submitting to %s: %w", c.base, ctx.Err())
			}
			wait = min(2*wait, 2*time.Second)
		default:
			return nil, fmt.Errorf("log %s refused the entry: %s", c.base, apiError(resp.StatusCode, data))
		}
	}
}

// checkEntry makes sure the log logged what was sent and that the proof
// holds, so a bundle never carries an entry that cannot verify.
func (c *Client) checkEntry(req *rekortilespb.HashedRekordRequestV002, data []byte) (*protorekor.TransparencyLogEntry, error) {
	var tle protorekor.TransparencyLogEntry
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, &tle); err != nil {
		return nil, fmt.Errorf("decoding log entry: %w", err)
	}
	want, err := hashedrekord.ToEntryHash(req.GetDigest(), req.GetSignature())
	if err != nil {
		return nil, fmt.Errorf("computing entry hash: %w", err)
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(tle.GetCanonicalizedBody())
	if !bytes.Equal(leaf, want) {
		return nil, errors.New("log returned an entry that is not the one submitted")
	}
	if c.id != nil {
		if _, err := c.id.VerifyEntry(&tle); err != nil {
			return nil, err
		}
		return &tle, nil
	}
	ip := tle.GetInclusionProof()
	var cp flog.Checkpoint
	if _, err := cp.Unmarshal([]byte(ip.GetCheckpoint().GetEnvelope())); err != nil {
		return nil, fmt.Errorf("log entry checkpoint: %w", err)
	}
	if tle.GetLogIndex() < 0 {
		return nil, errors.New("log entry has a negative index")
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(tle.GetLogIndex()), cp.Size, leaf, ip.GetHashes(), cp.Hash); err != nil {
		return nil, fmt.Errorf("log entry's inclusion proof does not verify: %w", err)
	}
	return &tle, nil
}

func (c *Client) do(ctx context.Context, method, path, ctype string, body []byte, auth bool) (*http.Response, error) {
	u := *c.base
	path, query, _ := strings.Cut(path, "?")
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawQuery = query
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), r)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if auth && c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("contacting log %s: %w", c.base, err)
	}
	return resp, nil
}

func (c *Client) get(ctx context.Context, path string, auth bool) ([]byte, error) {
	resp, err := c.do(ctx, http.MethodGet, path, "", nil, auth)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, apiError(resp.StatusCode, data))
	}
	return data, nil
}

func apiError(code int, body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return fmt.Sprintf("%d %s: %s", code, http.StatusText(code), e.Error)
	}
	return fmt.Sprintf("%d %s", code, http.StatusText(code))
}

// Checkpoint fetches the log's latest signed checkpoint (unverified).
func (c *Client) Checkpoint(ctx context.Context) ([]byte, error) {
	return c.get(ctx, PathCheckpoint, false)
}

// ReadTile fetches a hash tile; it is a tessera client.TileFetcherFunc.
func (c *Client) ReadTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
	return c.get(ctx, "/"+layout.TilePath(level, index, p), false)
}

// ReadEntryBundle fetches an entry bundle.
func (c *Client) ReadEntryBundle(ctx context.Context, index uint64, p uint8) ([]byte, error) {
	return c.get(ctx, "/"+layout.EntriesPath(index, p), false)
}

// InclusionProof computes, from the log's tiles, the inclusion proof of
// entry index in the tree of the given size.
func (c *Client) InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error) {
	pb, err := client.NewProofBuilder(ctx, size, c.ReadTile)
	if err != nil {
		return nil, fmt.Errorf("fetching tiles: %w", err)
	}
	return pb.InclusionProof(ctx, index)
}

// PutAttestation stores a bundle (JSON) in the server's attestation store.
func (c *Client) PutAttestation(ctx context.Context, bundleJSON []byte) error {
	resp, err := c.do(ctx, http.MethodPost, PathAttestations, "application/json", bundleJSON, true)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("storing attestation: %s", apiError(resp.StatusCode, data))
	}
	return nil
}

// Attestations returns every stored bundle (JSON) about a subject digest
// ("sha256:<hex>").
func (c *Client) Attestations(ctx context.Context, digest string) ([]json.RawMessage, error) {
	data, err := c.get(ctx, PathAttestations+"?digest="+url.QueryEscape(digest), true)
	if err != nil {
		return nil, err
	}
	var out struct {
		Attestations []json.RawMessage `json:"attestations"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("decoding attestations: %w", err)
	}
	return out.Attestations, nil
}
