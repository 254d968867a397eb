package server

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"google.golang.org/protobuf/proto"

	"github.com/pipeguard/pipeguard/internal/attest"
	"github.com/pipeguard/pipeguard/internal/sign"
	"github.com/pipeguard/pipeguard/internal/store"
	"github.com/pipeguard/pipeguard/internal/tlog"
)

type testServer struct {
	url  string
	id   *tlog.Identity
	srv  *Server
	home string
}

// newTestServer runs a real log (Tessera POSIX) and store (SQLite, or
// PostgreSQL when dsn is given) behind an HTTP listener on 127.0.0.1.
func newTestServer(t testing.TB, dsn string, opts ...Option) *testServer {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	id, err := EnsureIdentity(dir, "127.0.0.1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if dsn == "" {
		dsn = DefaultDSN(dir)
	}
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	lg, err := tlog.OpenLog(ctx, TilesDir(dir), id, tlog.WithBatching(256, 10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(ctx, lg, TilesDir(dir), db, opts...)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.Close()
		lg.Close(context.Background())
	})
	return &testServer{url: hs.URL, id: id, srv: s, home: dir}
}

type testBuilder struct {
	name   string
	signer *sign.Signer
	pubPEM []byte
	token  string
}

func (ts *testServer) addBuilder(t testing.TB, name, alg string) *testBuilder {
	t.Helper()
	k, err := sign.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sign.NewSigner(k, sign.WithEd25519ph())
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sign.EncodePublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.srv.Builders().Add(context.Background(), name, pub)
	if err != nil {
		t.Fatal(err)
	}
	return &testBuilder{name: name, signer: s, pubPEM: pub, token: tok}
}

func (ts *testServer) client(t testing.TB, token string) *tlog.Client {
	t.Helper()
	c, err := tlog.NewClient(ts.url, token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sigstoreVerify checks a bundle exactly as sigstore-go does for a
// key-signed bundle with a Rekor v2 entry: one verified log entry required.
func sigstoreVerify(t *testing.T, trustedRoot []byte, pub crypto.PublicKey, b *protobundle.Bundle, artifact []byte) error {
	t.Helper()
	tr, err := root.NewTrustedRootFromJSON(trustedRoot)
	if err != nil {
		t.Fatal(err)
	}
	var v signature.Verifier
	switch pub.(type) {
	case ed25519.PublicKey:
		v, err = signature.LoadVerifierWithOpts(pub, options.WithED25519ph())
	case *ecdsa.PublicKey:
		v, err = signature.LoadVerifier(pub, crypto.SHA256)
	}
	if err != nil {
		t.Fatal(err)
	}
	km := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
		return root.NewExpiringKey(v, time.Time{}, time.Time{}), nil
	})
	sv, err := sgverify.NewVerifier(root.TrustedMaterialCollection{tr, km}, sgverify.WithTransparencyLog(1), sgverify.WithNoObserverTimestamps())
	if err != nil {
		t.Fatal(err)
	}
	art := sgverify.WithoutArtifactUnsafe()
	if artifact != nil {
		art = sgverify.WithArtifact(bytes.NewReader(artifact))
	}
	_, err = sv.Verify(&sgbundle.Bundle{Bundle: b}, sgverify.NewPolicy(art, sgverify.WithKey()))
	return err
}

func TestBundlesWithLogEntryVerifyWithSigstoreGo(t *testing.T) {
	ts := newTestServer(t, "")
	tr, err := ts.id.TrustedRoot(ts.url, ts.id.Created)
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{sign.AlgECDSAP256, sign.AlgEd25519} {
		t.Run(alg, func(t *testing.T) {
			b := ts.addBuilder(t, "builder-"+alg, alg)
			c := ts.client(t, b.token)
			ctx := context.Background()
			data := []byte("artifact bytes " + alg)
			blob, err := b.signer.Blob(ctx, data, sign.WithTransparencyLog(c))
			if err != nil {
				t.Fatal(err)
			}
			st, err := attest.NewStatement([]attest.Subject{{Name: "a", Digest: map[string]string{"sha256": strings.Repeat("ab", 32)}}}, "https://slsa.dev/provenance/v1", map[string]any{"x": 1})
			if err != nil {
				t.Fatal(err)
			}
			dsse, err := b.signer.DSSE(ctx, attest.PayloadType, st, sign.WithTransparencyLog(c))
			if err != nil {
				t.Fatal(err)
			}
			pub := b.signer.GetPublicKey()
			if err := sigstoreVerify(t, tr, pub, blob, data); err != nil {
				t.Fatalf("blob bundle: %v", err)
			}
			if err := sigstoreVerify(t, tr, pub, dsse, nil); err != nil {
				t.Fatalf("DSSE bundle: %v", err)
			}
			// The same bundle against another artifact must fail.
			if err := sigstoreVerify(t, tr, pub, blob, []byte("other")); err == nil {
				t.Fatal("blob bundle verified against the wrong artifact")
			}
			// A trusted root naming another log key must not verify the entry.
			other, err := tlog.CreateIdentity(filepath.Join(t.TempDir(), "other"), "127.0.0.1", nil)
			if err != nil {
				t.Fatal(err)
			}
			otherTR, err := other.TrustedRoot(ts.url, other.Created)
			if err != nil {
				t.Fatal(err)
			}
			if err := sigstoreVerify(t, otherTR, pub, blob, data); err == nil {
				t.Fatal("entry verified with a trusted root listing another log")
			}
		})
	}
}

// TestCosignVerifiesBundleWithOurLogEntry runs the real cosign with tlog
// verification on. cosign's --key path verifies Ed25519 keys as pure
// Ed25519, while hashedrekord entries need Ed25519ph, so the interop
// check uses ECDSA P-256, cosign's and pipeguard's default key type.
func TestCosignVerifiesBundleWithOurLogEntry(t *testing.T) {
	cosign, err := exec.LookPath("cosign")
	if err != nil {
		t.Skip("cosign v3.1.3 not on PATH (CI puts /tmp/peers/bin there); skipping the cosign interop test")
	}
	ts := newTestServer(t, "")
	dir := t.TempDir()
	tr, err := ts.id.TrustedRoot(ts.url, ts.id.Created)
	if err != nil {
		t.Fatal(err)
	}
	trPath := filepath.Join(dir, "trusted_root.json")
	if err := os.WriteFile(trPath, tr, 0o644); err != nil {
		t.Fatal(err)
	}
	b := ts.addBuilder(t, "cosign", sign.AlgECDSAP256)
	keyPath := filepath.Join(dir, "builder.pub")
	os.WriteFile(keyPath, b.pubPEM, 0o644)
	c := ts.client(t, b.token)
	// A few entries so that proofs have hashes.
	var bun *protobundle.Bundle
	var data []byte
	for i := range 5 {
		data = []byte("hello cosign " + strings.Repeat("!", i))
		if bun, err = b.signer.Blob(context.Background(), data, sign.WithTransparencyLog(c)); err != nil {
			t.Fatal(err)
		}
	}
	art := filepath.Join(dir, "artifact.txt")
	os.WriteFile(art, data, 0o644)
	verify := func(t *testing.T, bn *protobundle.Bundle) ([]byte, error) {
		p := filepath.Join(t.TempDir(), "b.sigstore.json")
		if err := attest.WriteBundle(p, bn); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(cosign, "verify-blob", "--bundle", p, "--trusted-root", trPath, "--key", keyPath, art)
		cmd.Env = append(os.Environ(), "TUF_ROOT="+filepath.Join(dir, "tuf"))
		return cmd.CombinedOutput()
	}
	if out, err := verify(t, bun); err != nil {
		t.Fatalf("cosign verify-blob failed: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name   string
		tamper func(tle *protorekor.TransparencyLogEntry)
	}{
		{"proof hash", func(tle *protorekor.TransparencyLogEntry) { tle.InclusionProof.Hashes[0][0] ^= 1 }},
		{"log index", func(tle *protorekor.TransparencyLogEntry) { tle.LogIndex--; tle.InclusionProof.LogIndex-- }},
		{"checkpoint root", func(tle *protorekor.TransparencyLogEntry) {
			env := tle.InclusionProof.Checkpoint.Envelope
			lines := strings.SplitN(env, "\n", 4)
			lines[2] = base64.StdEncoding.EncodeToString(make([]byte, 32))
			tle.InclusionProof.Checkpoint.Envelope = strings.Join(lines, "\n")
		}},
		{"no entry", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bn := protoClone(bun)
			if tc.tamper == nil {
				bn.VerificationMaterial.TlogEntries = nil
			} else {
				tc.tamper(bn.VerificationMaterial.TlogEntries[0])
			}
			if out, err := verify(t, bn); err == nil {
				t.Fatalf("cosign accepted a bundle with a tampered log entry (%s):\n%s", tc.name, out)
			}
		})
	}
}

func protoClone(b *protobundle.Bundle) *protobundle.Bundle {
	return proto.Clone(b).(*protobundle.Bundle)
}

func TestSubmissionsRefused(t *testing.T) {
	ts := newTestServer(t, "")
	alice := ts.addBuilder(t, "alice", sign.AlgECDSAP256)
	bob := ts.addBuilder(t, "bob", sign.AlgECDSAP256)
	ctx := context.Background()
	bun, err := alice.signer.Blob(ctx, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	req, err := tlog.RequestFor(alice.pubPEM, bun)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := tlog.MarshalRequest(req)
	badSig := clone(req)
	badSig.Signature.Content[len(badSig.Signature.Content)-1] ^= 1
	badSigBody, _ := tlog.MarshalRequest(badSig)
	wrongDigest := clone(req)
	wrongDigest.Digest[0] ^= 1
	wrongDigestBody, _ := tlog.MarshalRequest(wrongDigest)

	post := func(token string, body []byte) (int, string) {
		r, _ := http.NewRequest(http.MethodPost, ts.url+tlog.PathEntries, bytes.NewReader(body))
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		name  string
		token string
		body  []byte
		want  int
	}{
		{"no token", "", good, http.StatusUnauthorized},
		{"unknown token", "pgl_" + strings.Repeat("A", 43), good, http.StatusUnauthorized},
		{"other builder's entry", bob.token, good, http.StatusForbidden},
		{"bad signature", alice.token, badSigBody, http.StatusBadRequest},
		{"digest not signed", alice.token, wrongDigestBody, http.StatusBadRequest},
		{"not JSON", alice.token, []byte("{"), http.StatusBadRequest},
		{"unknown field", alice.token, []byte(`{"hashedRekordRequestV002":{},"extra":1}`), http.StatusBadRequest},
		{"over the size limit", alice.token, bytes.Repeat([]byte(" "), tlog.MaxRequestBytes+1), http.StatusRequestEntityTooLarge},
		{"accepted", alice.token, good, http.StatusCreated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(tc.token, tc.body)
			if code != tc.want {
				t.Fatalf("status %d, want %d: %s", code, tc.want, body)
			}
		})
	}
}

func TestBuilderAddedWhileRunningIsHonoured(t *testing.T) {
	ts := newTestServer(t, "")
	// Register through a second connection to the same database, as
	// `pipeguard server add-builder` does while the server runs.
	k, _ := sign.GenerateKey(sign.AlgECDSAP256)
	pub, _ := sign.EncodePublicKey(k.Public())
	tok, err := AddBuilder(context.Background(), ts.home, "", "late", pub)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := sign.NewSigner(k)
	if _, err := s.Blob(context.Background(), []byte("late"), sign.WithTransparencyLog(ts.client(t, tok))); err != nil {
		t.Fatalf("late builder refused: %v", err)
	}
	if _, err := AddBuilder(context.Background(), ts.home, "", "late", pub); err == nil {
		t.Fatal("registering the same name twice succeeded")
	}
}

func TestHealthzAndMetrics(t *testing.T) {
	ts := newTestServer(t, "")
	for _, p := range []string{"/healthz", "/metrics"} {
		resp, err := http.Get(ts.url + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
		if p == "/metrics" && !strings.Contains(string(b), "pipeguard_http_requests_total") {
			t.Fatalf("metrics lack pipeguard series:\n%.500s", b)
		}
	}
	// The tile directory's private state is not served.
	resp, err := http.Get(ts.url + "/tile/../.state/treeState")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Fatal("served the log's private state")
	}
}

func clone(r *rekortilespb.HashedRekordRequestV002) *rekortilespb.HashedRekordRequestV002 {
	return proto.Clone(r).(*rekortilespb.HashedRekordRequestV002)
}

func TestHealthzFailsOnForgedCheckpoint(t *testing.T) {
	ts := newTestServer(t, "")
	b := ts.addBuilder(t, "alice", sign.AlgECDSAP256)
	if _, err := b.signer.Blob(context.Background(), []byte("x"), sign.WithTransparencyLog(ts.client(t, b.token))); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(TilesDir(ts.home), "checkpoint")
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	forged := strings.Replace(string(raw), "\n1\n", "\n2\n", 1)
	if err := os.WriteFile(p, []byte(forged), 0o644); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(ts.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("healthz %d with a checkpoint the log did not sign", resp.StatusCode)
	}
	os.WriteFile(p, raw, 0o644)
	if resp, err := http.Get(ts.url + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz after restoring: %v %v", resp, err)
	}
}
