package sign

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
)

func TestPrivateKeyRoundTrip(t *testing.T) {
	for _, alg := range []string{AlgECDSAP256, AlgEd25519} {
		for _, pw := range []string{"", "s3cret"} {
			t.Run(alg+"/"+map[bool]string{true: "encrypted", false: "plain"}[pw != ""], func(t *testing.T) {
				k, err := GenerateKey(alg)
				if err != nil {
					t.Fatal(err)
				}
				pemData, err := EncodePrivateKey(k, []byte(pw))
				if err != nil {
					t.Fatal(err)
				}
				if IsEncrypted(pemData) != (pw != "") {
					t.Fatalf("IsEncrypted = %v with password %q", IsEncrypted(pemData), pw)
				}
				if pw != "" {
					if _, err := DecodePrivateKey(pemData, nil); !errors.Is(err, ErrPasswordRequired) {
						t.Fatalf("no password: err = %v", err)
					}
					if _, err := DecodePrivateKey(pemData, []byte("wrong")); !errors.Is(err, ErrWrongPassword) {
						t.Fatalf("wrong password: err = %v", err)
					}
				}
				k2, err := DecodePrivateKey(pemData, []byte(pw))
				if err != nil {
					t.Fatal(err)
				}
				id1, _ := KeyID(k.Public())
				id2, _ := KeyID(k2.Public())
				if id1 != id2 {
					t.Fatal("decoded key differs")
				}
			})
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	for name, in := range map[string]string{
		"empty":        "",
		"not PEM":      "hello",
		"unknown type": "-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n",
		"bad body":     "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
	} {
		if _, err := DecodePublicKey([]byte(in)); err == nil {
			t.Errorf("%s: public key accepted", name)
		}
		if _, err := DecodePrivateKey([]byte(in), nil); err == nil {
			t.Errorf("%s: private key accepted", name)
		}
	}
}

func TestSignerSignsWhatItSays(t *testing.T) {
	k, _ := GenerateKey(AlgEd25519)
	for _, opts := range [][]SignerOption{nil, {WithEd25519ph()}} {
		s, err := NewSigner(k, opts...)
		if err != nil {
			t.Fatal(err)
		}
		sig, signed, err := s.SignData(context.Background(), []byte("msg"))
		if err != nil {
			t.Fatal(err)
		}
		if opts == nil && !ed25519.Verify(k.Public().(ed25519.PublicKey), signed, sig) {
			t.Fatal("pure Ed25519 signature does not verify")
		}
		if opts != nil && len(signed) != 64 {
			t.Fatalf("Ed25519ph signed %d bytes, want a SHA-512 digest", len(signed))
		}
	}
}
