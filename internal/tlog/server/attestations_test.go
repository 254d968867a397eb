package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"

	"github.com/pipeguard/pipeguard/internal/attest"
	"github.com/pipeguard/pipeguard/internal/sign"
	"github.com/pipeguard/pipeguard/internal/store"
	"github.com/pipeguard/pipeguard/internal/store/storetest"
	"github.com/pipeguard/pipeguard/internal/tlog"
)

// postgresDSN makes an isolated schema on the server named by
// PIPEGUARD_TEST_POSTGRES, or skips the test with the reason.
func postgresDSN(t *testing.T) string {
	t.Helper()
	dsn := storetest.PostgresDSN(t)
	if dsn == "" {
		t.Skip(storetest.SkipReason)
	}
	return dsn
}

func storeBackends() []struct {
	name string
	dsn  func(t *testing.T) string
} {
	return []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(*testing.T) string { return "" }},
		{"postgres", postgresDSN},
	}
}

func bundleJSON(t *testing.T, b *protobundle.Bundle) []byte {
	t.Helper()
	out, err := attest.MarshalBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func do(t *testing.T, method, u, token string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, u, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func TestAttestationStoreAPI(t *testing.T) {
	for _, be := range storeBackends() {
		t.Run(be.name, func(t *testing.T) {
			ts := newTestServer(t, be.dsn(t))
			alice := ts.addBuilder(t, "alice", sign.AlgECDSAP256)
			bob := ts.addBuilder(t, "bob", sign.AlgEd25519)
			c := ts.client(t, alice.token)
			ctx := context.Background()
			subject := strings.Repeat("ab", 32)
			mk := func(s *testBuilder, predType string, pred any, logged bool) *protobundle.Bundle {
				st, err := attest.NewStatement([]attest.Subject{{Name: "app", Digest: map[string]string{"sha256": subject}}}, predType, pred)
				if err != nil {
					t.Fatal(err)
				}
				var opts []sign.BundleOption
				if logged {
					opts = append(opts, sign.WithTransparencyLog(ts.client(t, s.token)))
				}
				b, err := s.signer.DSSE(ctx, attest.PayloadType, st, opts...)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			prov := mk(alice, "https://slsa.dev/provenance/v1", map[string]any{"runDetails": map[string]any{"builder": map[string]any{"id": "https://ci.example/builder"}}}, true)
			scan := mk(bob, "https://pipeguard.dev/secret-scan/v1", map[string]any{"findings": 0}, false)
			data := []byte("blob")
			blob, err := alice.signer.Blob(ctx, data, sign.WithTransparencyLog(c))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.PutAttestation(ctx, bundleJSON(t, prov)); err != nil {
				t.Fatal(err)
			}
			if err := ts.client(t, bob.token).PutAttestation(ctx, bundleJSON(t, scan)); err != nil {
				t.Fatal(err)
			}
			if err := c.PutAttestation(ctx, bundleJSON(t, blob)); err != nil {
				t.Fatal(err)
			}
			got, err := c.Attestations(ctx, "sha256:"+subject)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 {
				t.Fatalf("GET by digest returned %d bundles, want 2", len(got))
			}
			sum := sha256.Sum256(data)
			if got, err := c.Attestations(ctx, "sha256:"+hex.EncodeToString(sum[:])); err != nil || len(got) != 1 {
				t.Fatalf("blob bundle by digest: %d, %v", len(got), err)
			}
			code, body := do(t, http.MethodGet, ts.url+"/api/v1/attestations?builder="+url.QueryEscape("https://ci.example/builder"), "", nil)
			if code != 200 || !strings.Contains(string(body), "dsseEnvelope") || strings.Count(string(body), "dsseEnvelope") != 1 {
				t.Fatalf("query by builder id: %d %s", code, body)
			}

			tamperedPayload := bundleJSON(t, prov)
			var m map[string]any
			json.Unmarshal(tamperedPayload, &m)
			m["dsseEnvelope"].(map[string]any)["payload"] = "e30="
			tamperedPayload, _ = json.Marshal(m)
			tamperedEntry := mk(alice, "https://slsa.dev/provenance/v1", map[string]any{}, true)
			tamperedEntry.VerificationMaterial.TlogEntries[0].LogIndex++
			for _, tc := range []struct {
				name  string
				token string
				body  []byte
				want  int
			}{
				{"no token", "", bundleJSON(t, prov), http.StatusUnauthorized},
				{"another builder's bundle", bob.token, bundleJSON(t, prov), http.StatusBadRequest},
				{"tampered payload", alice.token, tamperedPayload, http.StatusBadRequest},
				{"tampered log entry", alice.token, bundleJSON(t, tamperedEntry), http.StatusBadRequest},
				{"not a bundle", alice.token, []byte(`{"mediaType":"x"}`), http.StatusBadRequest},
				{"over the size limit", alice.token, bytes.Repeat([]byte("x"), MaxBundleBytes+1), http.StatusRequestEntityTooLarge},
			} {
				t.Run(tc.name, func(t *testing.T) {
					if code, body := do(t, http.MethodPost, ts.url+"/api/v1/attestations", tc.token, tc.body); code != tc.want {
						t.Fatalf("status %d, want %d: %s", code, tc.want, body)
					}
				})
			}
			if code, _ := do(t, http.MethodGet, ts.url+"/api/v1/attestations", "", nil); code != http.StatusBadRequest {
				t.Fatalf("unbounded query: %d", code)
			}
		})
	}
}

func TestPrivateStoreNeedsToken(t *testing.T) {
	ts := newTestServer(t, "", WithPrivateStore())
	b := ts.addBuilder(t, "alice", sign.AlgECDSAP256)
	u := ts.url + "/api/v1/attestations?digest=sha256:00"
	if code, _ := do(t, http.MethodGet, u, "", nil); code != http.StatusUnauthorized {
		t.Fatalf("anonymous read of a private store: %d", code)
	}
	if code, _ := do(t, http.MethodGet, u, b.token, nil); code != http.StatusOK {
		t.Fatalf("authorized read: %d", code)
	}
	// Log reads stay public.
	if code, _ := do(t, http.MethodGet, ts.url+"/checkpoint", "", nil); code != http.StatusOK && code != http.StatusNotFound {
		t.Fatalf("checkpoint: %d", code)
	}
}

// fuzzServer is one in-process server shared by a fuzz target's runs.
func fuzzServer(f *testing.F) (http.Handler, *testBuilder, *testServer) {
	ts := newTestServer(f, "")
	b := ts.addBuilder(f, "fuzz", sign.AlgECDSAP256)
	return ts.srv.Handler(), b, ts
}

func mustRequest(f *testing.F, b *testBuilder, bun *protobundle.Bundle) []byte {
	req, err := tlog.RequestFor(b.pubPEM, bun)
	if err != nil {
		f.Fatal(err)
	}
	out, err := tlog.MarshalRequest(req)
	if err != nil {
		f.Fatal(err)
	}
	return out
}

func FuzzAddEntryRequest(f *testing.F) {
	h, b, _ := fuzzServer(f)
	bun, _ := b.signer.Blob(context.Background(), []byte("seed"))
	good := mustRequest(f, b, bun)
	f.Add(good)
	f.Add([]byte(`{"hashedRekordRequestV002":{"digest":"AAAA","signature":{"content":"AAAA","verifier":{"publicKey":{"rawBytes":"AAAA"},"keyDetails":"PKIX_ECDSA_P256_SHA_256"}}}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/api/v2/log/entries", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+b.token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("server error %d for %q", rec.Code, body)
		}
	})
}

func FuzzPutAttestation(f *testing.F) {
	h, b, _ := fuzzServer(f)
	st, _ := attest.NewStatement([]attest.Subject{{Name: "a", Digest: map[string]string{"sha256": strings.Repeat("0", 64)}}}, "https://example/p", map[string]any{})
	dsse, _ := b.signer.DSSE(context.Background(), attest.PayloadType, st)
	blob, _ := b.signer.Blob(context.Background(), []byte("x"))
	for _, bn := range []*protobundle.Bundle{dsse, blob} {
		j, _ := attest.MarshalBundle(bn)
		f.Add(j)
	}
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/attestations", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+b.token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("server error %d", rec.Code)
		}
	})
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"digest=sha256:ab", "predicateType=x&since=2025-01-01T00:00:00Z", "limit=0", "digest=:", "until=yesterday"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseQuery(v)
		if err == nil && q == (store.AttestationQuery{}) {
			t.Fatal("empty query accepted")
		}
	})
}
