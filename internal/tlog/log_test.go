package tlog

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	flog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/client"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// testSigner makes valid hashedrekord requests quickly.
type testSigner struct {
	key *ecdsa.PrivateKey
	der []byte
}

func newTestSigner(t testing.TB) *testSigner {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &testSigner{key: k, der: der}
}

func (s *testSigner) request(t testing.TB, msg string) *rekortilespb.HashedRekordRequestV002 {
	t.Helper()
	d := sha256.Sum256([]byte(msg))
	sig, err := ecdsa.SignASN1(rand.Reader, s.key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return &rekortilespb.HashedRekordRequestV002{
		Digest: d[:],
		Signature: &rekortilespb.Signature{Content: sig, Verifier: &rekortilespb.Verifier{
			KeyDetails: protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
			Verifier:   &rekortilespb.Verifier_PublicKey{PublicKey: &rekortilespb.PublicKey{RawBytes: s.der}},
		}},
	}
}

func (s *testSigner) entry(t testing.TB, msg string) *Entry {
	t.Helper()
	e, err := NewEntry(s.request(t, msg))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func openTestLog(t testing.TB, dir string, id *Identity) *Log {
	t.Helper()
	l, err := OpenLog(context.Background(), dir, id, WithBatching(64, 5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	return l
}

func newTestIdentity(t testing.TB) *Identity {
	t.Helper()
	id, err := CreateIdentity(filepath.Join(t.TempDir(), "id"), "127.0.0.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// addConcurrently logs n entries from several goroutines and returns
// their entries in index order.
func addConcurrently(t *testing.T, l *Log, s *testSigner, prefix string, n int) []*protorekor.TransparencyLogEntry {
	t.Helper()
	out := make([]*protorekor.TransparencyLogEntry, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		e := s.entry(t, fmt.Sprintf("%s-%d", prefix, i))
		wg.Go(func() {
			tle, err := l.Add(context.Background(), e)
			if err != nil {
				errs <- err
				return
			}
			out[i] = tle
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return out
}

func TestInclusionAndConsistencyProofsVerify(t *testing.T) {
	id := newTestIdentity(t)
	dir := t.TempDir()
	l := openTestLog(t, dir, id)
	s := newTestSigner(t)
	var tles []*protorekor.TransparencyLogEntry
	// Several rounds so that entries come with different checkpoints.
	for r := range 4 {
		tles = append(tles, addConcurrently(t, l, s, fmt.Sprint("round", r), 30)...)
	}
	cps := map[uint64]*flog.Checkpoint{}
	for _, tle := range tles {
		cp, err := id.VerifyEntry(tle)
		if err != nil {
			t.Fatalf("entry %d: %v", tle.GetLogIndex(), err)
		}
		cps[cp.Size] = cp
	}
	if len(cps) < 3 {
		t.Fatalf("only %d distinct checkpoints; want several to compare", len(cps))
	}
	for _, a := range cps {
		for _, b := range cps {
			if a.Size > b.Size {
				continue
			}
			if err := VerifyConsistency(context.Background(), l.ReadTile, a, b); err != nil {
				t.Errorf("consistency %d -> %d: %v", a.Size, b.Size, err)
			}
		}
	}
	_, latest, err := l.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if latest.Size != uint64(len(tles)) {
		t.Fatalf("tree size %d, want %d", latest.Size, len(tles))
	}
	if err := Audit(context.Background(), l.ReadEntryBundle, latest); err != nil {
		t.Fatalf("audit: %v", err)
	}
}

// TestTamperingIsDetected alters each piece of evidence in turn and
// checks that verification then fails (and passes again once restored).
func TestTamperingIsDetected(t *testing.T) {
	id := newTestIdentity(t)
	dir := t.TempDir()
	l := openTestLog(t, dir, id)
	s := newTestSigner(t)
	early := addConcurrently(t, l, s, "early", 10)
	tles := addConcurrently(t, l, s, "late", 30)
	ctx := context.Background()
	earlyCP, err := id.VerifyEntry(early[0])
	if err != nil {
		t.Fatal(err)
	}
	raw, latest, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	target := tles[len(tles)-1]
	if _, err := id.VerifyEntry(target); err != nil {
		t.Fatal(err)
	}

	t.Run("bundle entries", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			tamper func(*protorekor.TransparencyLogEntry)
		}{
			{"entry body", func(e *protorekor.TransparencyLogEntry) {
				e.CanonicalizedBody = []byte(strings.Replace(string(e.CanonicalizedBody), `"digest":"`, `"digest":"A`, 1))
			}},
			{"entry index", func(e *protorekor.TransparencyLogEntry) { e.LogIndex-- }},
			{"proof hash", func(e *protorekor.TransparencyLogEntry) { e.InclusionProof.Hashes[0][3] ^= 0x40 }},
			{"checkpoint root", func(e *protorekor.TransparencyLogEntry) {
				lines := strings.SplitN(e.InclusionProof.Checkpoint.Envelope, "\n", 4)
				lines[2] = base64.StdEncoding.EncodeToString(make([]byte, 32))
				e.InclusionProof.Checkpoint.Envelope = strings.Join(lines, "\n")
			}},
			{"checkpoint size", func(e *protorekor.TransparencyLogEntry) {
				lines := strings.SplitN(e.InclusionProof.Checkpoint.Envelope, "\n", 4)
				lines[1] = "1000"
				e.InclusionProof.Checkpoint.Envelope = strings.Join(lines, "\n")
			}},
			{"checkpoint signature", func(e *protorekor.TransparencyLogEntry) {
				env := e.InclusionProof.Checkpoint.Envelope
				i := strings.LastIndex(env, " ") + 5
				e.InclusionProof.Checkpoint.Envelope = env[:i] + string(env[i]^1) + env[i+1:]
			}},
			{"other log", func(e *protorekor.TransparencyLogEntry) { e.LogId.KeyId = make([]byte, 32) }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := proto.Clone(target).(*protorekor.TransparencyLogEntry)
				tc.tamper(e)
				if _, err := id.VerifyEntry(e); err == nil {
					t.Fatal("tampered entry verified")
				}
			})
		}
	})

	// On-disk tampering: each case alters a file of the log and restores it.
	tamperFile := func(t *testing.T, rel string, off int) func() {
		t.Helper()
		p := filepath.Join(dir, filepath.FromSlash(rel))
		orig, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		bad := append([]byte(nil), orig...)
		bad[off] ^= 0x01
		if err := os.WriteFile(p, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		return func() { os.WriteFile(p, orig, 0o644) }
	}
	inclusionFromTiles := func() error {
		pb, err := client.NewProofBuilder(ctx, latest.Size, l.ReadTile)
		if err != nil {
			return err
		}
		idx := uint64(3)
		hashes, err := pb.InclusionProof(ctx, idx)
		if err != nil {
			return err
		}
		var e *protorekor.TransparencyLogEntry
		for _, x := range append(early, tles...) {
			if x.GetLogIndex() == int64(idx) {
				e = x
			}
		}
		return proof.VerifyInclusion(rfc6962.DefaultHasher, idx, latest.Size, rfc6962.DefaultHasher.HashLeaf(e.CanonicalizedBody), hashes, latest.Hash)
	}
	if err := inclusionFromTiles(); err != nil {
		t.Fatalf("untampered tiles: %v", err)
	}
	tile := fmt.Sprintf("tile/0/000.p/%d", latest.Size)
	t.Run("tile", func(t *testing.T) {
		// Leaf 2 is the sibling of leaf 3: its hash is in 3's proof.
		restore := tamperFile(t, tile, 2*32+7)
		defer restore()
		if err := inclusionFromTiles(); err == nil {
			t.Fatal("inclusion proof built from a tampered tile verified")
		}
		if err := VerifyConsistency(ctx, l.ReadTile, earlyCP, latest); err == nil {
			t.Fatal("consistency proof built from a tampered tile verified")
		}
	})
	t.Run("entry bundle", func(t *testing.T) {
		restore := tamperFile(t, fmt.Sprintf("tile/entries/000.p/%d", latest.Size), 40)
		defer restore()
		if err := Audit(ctx, l.ReadEntryBundle, latest); err == nil {
			t.Fatal("audit passed over a tampered entry")
		}
	})
	t.Run("checkpoint file", func(t *testing.T) {
		restore := tamperFile(t, "checkpoint", len(raw)-10)
		defer restore()
		if _, _, err := l.Checkpoint(ctx); err == nil {
			t.Fatal("tampered checkpoint file accepted")
		}
	})
	// Restored: everything verifies again, so the failures above were the tampering.
	if err := inclusionFromTiles(); err != nil {
		t.Fatal(err)
	}
	if err := Audit(ctx, l.ReadEntryBundle, latest); err != nil {
		t.Fatal(err)
	}
}

func TestNewEntryRefusesInvalidRequests(t *testing.T) {
	s := newTestSigner(t)
	for _, tc := range []struct {
		name   string
		mutate func(r *rekortilespb.HashedRekordRequestV002)
	}{
		{"bad signature", func(r *rekortilespb.HashedRekordRequestV002) { r.Signature.Content[10] ^= 1 }},
		{"other digest", func(r *rekortilespb.HashedRekordRequestV002) { r.Digest[0] ^= 1 }},
		{"short digest", func(r *rekortilespb.HashedRekordRequestV002) { r.Digest = r.Digest[:20] }},
		{"no key", func(r *rekortilespb.HashedRekordRequestV002) { r.Signature.Verifier.Verifier = nil }},
		{"garbage key", func(r *rekortilespb.HashedRekordRequestV002) {
			r.Signature.Verifier.GetPublicKey().RawBytes = []byte("nope")
		}},
		{"mismatched key details", func(r *rekortilespb.HashedRekordRequestV002) {
			r.Signature.Verifier.KeyDetails = protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384
		}},
		{"certificate", func(r *rekortilespb.HashedRekordRequestV002) {
			r.Signature.Verifier.Verifier = &rekortilespb.Verifier_X509Certificate{X509Certificate: &protocommon.X509Certificate{RawBytes: []byte{1}}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.request(t, "m")
			tc.mutate(r)
			if _, err := NewEntry(r); err == nil {
				t.Fatal("invalid request accepted")
			}
		})
	}
	if _, err := NewEntry(s.request(t, "ok")); err != nil {
		t.Fatalf("valid request refused: %v", err)
	}
}

func TestIdentityRoundTripAndOrigin(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	id, err := CreateIdentity(dir, "log.example.com", []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CreateIdentity(dir, "log.example.com", nil); err == nil {
		t.Fatal("identity replaced")
	}
	if _, err := LoadIdentity(dir, func() ([]byte, error) { return []byte("wrong"), nil }); err == nil {
		t.Fatal("wrong password accepted")
	}
	got, err := LoadIdentity(dir, func() ([]byte, error) { return []byte("pw"), nil })
	if err != nil {
		t.Fatal(err)
	}
	if !got.Public.Equal(id.Public) || got.Origin != id.Origin || got.VerifierKey() != id.VerifierKey() {
		t.Fatal("identity changed on reload")
	}
	if _, err := got.TrustedRoot("https://log.example.com", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := got.TrustedRoot("https://other.example.com", time.Now()); err == nil {
		t.Fatal("trusted root for a URL whose host is not the origin")
	}
	for _, bad := range []string{"", "a b", "a+b", "a/b"} {
		if ValidOrigin(bad) == nil {
			t.Errorf("origin %q accepted", bad)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	s := newTestSigner(f)
	good, _ := MarshalRequest(s.request(f, "seed"))
	f.Add(good)
	f.Add([]byte(`{"hashedRekordRequestV002":{}}`))
	f.Add([]byte(`{"hashedRekordRequestV002":{"digest":"AA==","signature":{"content":"AA==","verifier":{"x509Certificate":{"rawBytes":"AA=="}}}}}`))
	f.Add([]byte("null"))
	f.Fuzz(func(t *testing.T, body []byte) {
		hr, err := ParseRequest(body)
		if err != nil {
			return
		}
		e, err := NewEntry(hr)
		if err != nil {
			return
		}
		if _, err := ParseEntryBody(e.Body); err != nil {
			t.Fatalf("accepted entry's body does not parse: %v", err)
		}
	})
}

func FuzzParseEntryBody(f *testing.F) {
	s := newTestSigner(f)
	f.Add(s.entry(f, "seed").Body)
	f.Add([]byte(`{"kind":"hashedrekord","apiVersion":"0.0.1"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ParseEntryBody(body)
	})
}

// FuzzClientCheckEntry feeds arbitrary server answers to the client: it
// must refuse anything that is not the submitted entry with a valid proof.
func FuzzClientCheckEntry(f *testing.F) {
	s := newTestSigner(f)
	req := s.request(f, "seed")
	e, err := NewEntry(req)
	if err != nil {
		f.Fatal(err)
	}
	tle := &protorekor.TransparencyLogEntry{LogIndex: 0, CanonicalizedBody: e.Body,
		InclusionProof: &protorekor.InclusionProof{Checkpoint: &protorekor.Checkpoint{Envelope: "127.0.0.1\n1\n" + base64.StdEncoding.EncodeToString(rfc6962.DefaultHasher.HashLeaf(e.Body)) + "\n"}}}
	good, _ := protojson.Marshal(tle)
	f.Add(good)
	f.Add([]byte(`{"logIndex":"-1"}`))
	f.Add([]byte(`{}`))
	c, _ := NewClient("http://127.0.0.1:1", "")
	if _, err := c.checkEntry(req, good); err != nil {
		f.Fatalf("valid answer refused: %v", err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := c.checkEntry(req, data)
		if err != nil {
			return
		}
		leaf := rfc6962.DefaultHasher.HashLeaf(got.GetCanonicalizedBody())
		if string(leaf) != string(rfc6962.DefaultHasher.HashLeaf(e.Body)) {
			t.Fatal("accepted an answer for another entry")
		}
	})
}

func TestResubmissionReturnsTheSameEntry(t *testing.T) {
	id := newTestIdentity(t)
	l := openTestLog(t, t.TempDir(), id)
	s := newTestSigner(t)
	e := s.entry(t, "retry me")
	first, err := l.Add(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	other, err := l.Add(context.Background(), s.entry(t, "another"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := l.Add(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	if again.GetLogIndex() != first.GetLogIndex() || other.GetLogIndex() == first.GetLogIndex() {
		t.Fatalf("indices: first %d, other %d, resubmitted %d", first.GetLogIndex(), other.GetLogIndex(), again.GetLogIndex())
	}
	if _, err := id.VerifyEntry(again); err != nil {
		t.Fatal(err)
	}
}
