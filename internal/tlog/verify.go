package tlog

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	flog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// VerifyCheckpoint checks a signed checkpoint against the log's key and
// origin and returns its contents.
func (id *Identity) VerifyCheckpoint(raw []byte) (*flog.Checkpoint, error) {
	v, err := id.NoteVerifier()
	if err != nil {
		return nil, err
	}
	cp, _, _, err := flog.ParseCheckpoint(raw, id.Origin, v)
	if err != nil {
		return nil, fmt.Errorf("checkpoint does not verify against log %s: %w", id.Origin, err)
	}
	return cp, nil
}

// VerifyEntry checks a log entry offline, as sigstore-go does: it is a
// hashedrekord v0.0.2 entry of this log, its checkpoint is signed by the
// log, and its inclusion proof ties the entry body to the checkpoint.
func (id *Identity) VerifyEntry(tle *protorekor.TransparencyLogEntry) (*flog.Checkpoint, error) {
	if tle == nil || tle.GetInclusionProof() == nil || tle.GetInclusionProof().GetCheckpoint() == nil {
		return nil, errors.New("log entry has no inclusion proof")
	}
	if string(tle.GetLogId().GetKeyId()) != string(id.LogID()) {
		return nil, errors.New("log entry names another log")
	}
	if kv := tle.GetKindVersion(); kv.GetKind() != EntryKind || kv.GetVersion() != EntryVersion {
		return nil, fmt.Errorf("log entry is %s/%s, want %s/%s", kv.GetKind(), kv.GetVersion(), EntryKind, EntryVersion)
	}
	if _, err := ParseEntryBody(tle.GetCanonicalizedBody()); err != nil {
		return nil, err
	}
	cp, err := id.VerifyCheckpoint([]byte(tle.GetInclusionProof().GetCheckpoint().GetEnvelope()))
	if err != nil {
		return nil, err
	}
	if tle.GetLogIndex() < 0 {
		return nil, errors.New("negative log index")
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(tle.GetCanonicalizedBody())
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(tle.GetLogIndex()), cp.Size, leaf, tle.GetInclusionProof().GetHashes(), cp.Hash); err != nil {
		return nil, fmt.Errorf("inclusion proof of entry %d does not verify: %w", tle.GetLogIndex(), err)
	}
	return cp, nil
}

// VerifyConsistency proves, from the log's tiles, that the tree of newer
// extends the tree of older: the log was only appended to. Both
// checkpoints must already be verified. A failed proof is an *Alert.
func VerifyConsistency(ctx context.Context, tiles client.TileFetcherFunc, older, newer *flog.Checkpoint) error {
	if newer.Size < older.Size {
		return alertf("log shrank: checkpoint of size %d after one of size %d", newer.Size, older.Size)
	}
	if newer.Size == older.Size {
		if string(newer.Hash) != string(older.Hash) {
			return alertf("log forked: two different roots for size %d", newer.Size)
		}
		return nil
	}
	if older.Size == 0 {
		return nil
	}
	pb, err := client.NewProofBuilder(ctx, newer.Size, tiles)
	if err != nil {
		return fmt.Errorf("fetching tiles for a consistency proof: %w", err)
	}
	p, err := pb.ConsistencyProof(ctx, older.Size, newer.Size)
	if err != nil {
		return fmt.Errorf("fetching consistency proof %d->%d: %w", older.Size, newer.Size, err)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, older.Size, newer.Size, p, older.Hash, newer.Hash); err != nil {
		return alertf("log rewritten: checkpoint of size %d is not consistent with the earlier one of size %d: %v", newer.Size, older.Size, err)
	}
	return nil
}

// TrustedRoot returns a Sigstore trusted root (JSON) that lists this log,
// published at baseURL, so sigstore-go and cosign verify our entries.
// sigstore-go takes the checkpoint origin from the URL's host, so the
// host must be the log's origin.
func (id *Identity) TrustedRoot(baseURL string, since time.Time) ([]byte, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("log URL %q must be an absolute http(s) URL", baseURL)
	}
	if u.Hostname() != id.Origin {
		return nil, fmt.Errorf("log URL host %q is not the log's origin %q: verifiers derive the origin from the URL, so publish the log as %s://%s[:port]", u.Hostname(), id.Origin, u.Scheme, id.Origin)
	}
	der, err := x509.MarshalPKIXPublicKey(id.Public)
	if err != nil {
		return nil, fmt.Errorf("encoding log key: %w", err)
	}
	tr := &prototrustroot.TrustedRoot{
		MediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
		Tlogs: []*prototrustroot.TransparencyLogInstance{{
			BaseUrl:       baseURL,
			HashAlgorithm: protocommon.HashAlgorithm_SHA2_256,
			PublicKey: &protocommon.PublicKey{
				RawBytes:   der,
				KeyDetails: protocommon.PublicKeyDetails_PKIX_ED25519,
				ValidFor:   &protocommon.TimeRange{Start: timestamppb.New(since.UTC().Truncate(time.Second))},
			},
			LogId: &protocommon.LogId{KeyId: id.LogID()},
		}},
	}
	compactJSON, err := protojson.Marshal(tr)
	if err != nil {
		return nil, fmt.Errorf("encoding trusted root: %w", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, compactJSON, "", "  "); err != nil {
		return nil, fmt.Errorf("encoding trusted root: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// EntryBundleFetcher reads entry bundles (C2SP tlog-tiles).
type EntryBundleFetcher func(ctx context.Context, index uint64, p uint8) ([]byte, error)

// Audit recomputes the tree of cp from every entry the log serves and
// checks that it has cp's root, and that every entry is a well-formed
// hashedrekord v0.0.2 entry: a full audit of what the checkpoint commits to.
func Audit(ctx context.Context, bundles EntryBundleFetcher, cp *flog.Checkpoint) error {
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := rf.NewEmptyRange(0)
	for idx := uint64(0); idx < cp.Size; idx += layout.EntryBundleWidth {
		n := layout.PartialTileSize(0, idx/layout.EntryBundleWidth, cp.Size)
		raw, err := bundles(ctx, idx/layout.EntryBundleWidth, n)
		if err != nil {
			return fmt.Errorf("reading entries from %d: %w", idx, err)
		}
		var eb api.EntryBundle
		if err := eb.UnmarshalText(raw); err != nil {
			return alertf("entry bundle at %d is malformed: %v", idx, err)
		}
		want := min(uint64(layout.EntryBundleWidth), cp.Size-idx)
		if uint64(len(eb.Entries)) < want {
			return alertf("entry bundle at %d holds %d entries, want %d", idx, len(eb.Entries), want)
		}
		for i, e := range eb.Entries[:want] {
			if _, err := ParseEntryBody(e); err != nil {
				return alertf("entry %d: %v", idx+uint64(i), err)
			}
			if err := r.Append(rfc6962.DefaultHasher.HashLeaf(e), nil); err != nil {
				return err
			}
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return err
	}
	if cp.Size == 0 {
		root = rfc6962.DefaultHasher.EmptyRoot()
	}
	if string(root) != string(cp.Hash) {
		return alertf("the log's entries do not hash to the checkpoint's root for size %d", cp.Size)
	}
	return nil
}
