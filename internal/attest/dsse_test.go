package attest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/pipeguard/pipeguard/internal/sign"
	"github.com/pipeguard/pipeguard/internal/testenv"
)

func TestPAESpecVector(t *testing.T) {
	got := string(PAE("http://example.com/HelloWorld", []byte("hello world")))
	want := "DSSEv1 29 http://example.com/HelloWorld 11 hello world"
	if got != want {
		t.Fatalf("PAE = %q, want %q", got, want)
	}
}

// TestDSSESpecVector verifies the DSSE specification's test vector (a raw
// r||s ECDSA signature) and refuses its tampered variants.
func TestDSSESpecVector(t *testing.T) {
	dir := testenv.Dir(t, "attest", "dsse-spec")
	pemData, err := os.ReadFile(filepath.Join(dir, "dsse-vector.pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sign.DecodePublicKey(pemData)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file   string
		accept bool
	}{
		{"dsse-vector.envelope.json", true},
		{"dsse-vector.tampered-type.json", false},
		{"dsse-vector.tampered-payload.json", false},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			env, err := ParseEnvelope(data)
			if err != nil {
				t.Fatal(err)
			}
			_, err = env.Verify([]VerificationKey{{Public: pub}})
			if (err == nil) != tc.accept {
				t.Fatalf("verify err = %v, want accept=%v", err, tc.accept)
			}
			// The key id in the vector is 66301bbf: requiring another refuses.
			if tc.accept {
				if _, err := env.Verify([]VerificationKey{{Public: pub, KeyID: "other", CheckKeyID: true}}); err == nil {
					t.Fatal("accepted a signature whose key id differs from the required one")
				}
				if _, err := env.Verify([]VerificationKey{{Public: pub, KeyID: "66301bbf", CheckKeyID: true}}); err != nil {
					t.Fatalf("refused the matching key id: %v", err)
				}
			}
		})
	}
}

func TestEnvelopeSignatureForms(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	payload := []byte(`{"hello":"world"}`)
	d := sha256.Sum256(PAE("text/plain", payload))
	der, _ := ecdsa.SignASN1(rand.Reader, k, d[:])
	r, s, _ := ecdsa.Sign(rand.Reader, k, d[:])
	raw := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	keys := []VerificationKey{{Public: &k.PublicKey}, {Public: &other.PublicKey}}
	tests := []struct {
		name string
		sigs []Signature
		want []int
		ok   bool
	}{
		{"DER", []Signature{{Sig: der}}, []int{0}, true},
		{"raw r||s", []Signature{{Sig: raw}}, []int{0}, true},
		{"duplicated signature counts once", []Signature{{Sig: der}, {Sig: der}, {Sig: raw}}, []int{0}, true},
		{"garbage", []Signature{{Sig: []byte("nope")}}, nil, false},
		{"no signatures", nil, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &Envelope{PayloadType: "text/plain", Payload: payload, Signatures: tc.sigs}
			got, err := e.Verify(keys)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) {
				t.Fatalf("verified keys %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDecodeBase64Forms(t *testing.T) {
	b := []byte{0xfb, 0xff, 0xfe, 0x01}
	for _, s := range []string{
		base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
	} {
		got, err := DecodeBase64(s)
		if err != nil || string(got) != string(b) {
			t.Errorf("DecodeBase64(%q) = %x, %v", s, got, err)
		}
	}
	if _, err := DecodeBase64("not base64!"); err == nil {
		t.Error("accepted invalid base64")
	}
}

func TestParseSubjectDigest(t *testing.T) {
	hex := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	tests := []struct {
		in       string
		name     string
		alg, val string
		ok       bool
	}{
		{"sha256:" + hex, "", "sha256", hex, true},
		{"registry.local/app@sha256:" + hex, "registry.local/app", "sha256", hex, true},
		{"gce_image_id:8970095005306000053", "", "gce_image_id", "8970095005306000053", true},
		{"sha256:abc", "", "", "", false},
		{"sha256:" + hex[:63] + "G", "", "", "", false},
		{"nodigest", "", "", "", false},
		{":x", "", "", "", false},
	}
	for _, tc := range tests {
		s, err := ParseSubjectDigest(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err = %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && (s.Name != tc.name || s.Digest[tc.alg] != tc.val) {
			t.Errorf("%q: got %+v", tc.in, s)
		}
	}
}
