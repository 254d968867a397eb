package sign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
)

// Signer signs with a private key held in this process. It satisfies
// sigstore-go's Keypair so that bundles are assembled by sigstore-go itself.
type Signer struct {
	key  crypto.Signer
	alg  protocommon.PublicKeyDetails
	hash crypto.Hash // zero for pure Ed25519, which hashes internally
	hint []byte
}

// SignerOption configures a Signer.
type SignerOption func(*Signer)

// WithEd25519ph makes an Ed25519 signer pre-hash with SHA-512 (Ed25519ph),
// which Rekor v2 style logs require for hashedrekord entries.
func WithEd25519ph() SignerOption {
	return func(s *Signer) {
		if _, ok := s.key.(ed25519.PrivateKey); ok {
			s.alg = protocommon.PublicKeyDetails_PKIX_ED25519_PH
			s.hash = crypto.SHA512
		}
	}
}

// NewSigner wraps a private key. The bundle's key hint is the key's KeyID.
func NewSigner(key crypto.Signer, opts ...SignerOption) (*Signer, error) {
	s := &Signer{key: key}
	switch k := key.Public().(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			s.alg, s.hash = protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, crypto.SHA256
		case elliptic.P384():
			s.alg, s.hash = protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384, crypto.SHA384
		case elliptic.P521():
			s.alg, s.hash = protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512, crypto.SHA512
		default:
			return nil, fmt.Errorf("unsupported ECDSA curve %s", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
		s.alg = protocommon.PublicKeyDetails_PKIX_ED25519
	case *rsa.PublicKey:
		s.alg, s.hash = protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256, crypto.SHA256
	default:
		return nil, fmt.Errorf("unsupported key type %T", k)
	}
	for _, o := range opts {
		o(s)
	}
	id, err := KeyID(key.Public())
	if err != nil {
		return nil, err
	}
	s.hint = []byte(id)
	return s, nil
}

// GetHashAlgorithm implements sigstore-go's Keypair.
func (s *Signer) GetHashAlgorithm() protocommon.HashAlgorithm {
	switch s.hash {
	case crypto.SHA384:
		return protocommon.HashAlgorithm_SHA2_384
	case crypto.SHA512:
		return protocommon.HashAlgorithm_SHA2_512
	default:
		// Pure Ed25519 signs the message itself; SHA-256 is what bundles record for it.
		return protocommon.HashAlgorithm_SHA2_256
	}
}

// GetSigningAlgorithm implements sigstore-go's Keypair.
func (s *Signer) GetSigningAlgorithm() protocommon.PublicKeyDetails { return s.alg }

// GetHint implements sigstore-go's Keypair: the key id written into bundles.
func (s *Signer) GetHint() []byte { return s.hint }

// KeyID returns the signer's key id.
func (s *Signer) KeyID() string { return string(s.hint) }

// GetKeyAlgorithm implements sigstore-go's Keypair.
func (s *Signer) GetKeyAlgorithm() string {
	switch s.key.Public().(type) {
	case *ecdsa.PublicKey:
		return "ECDSA"
	case ed25519.PublicKey:
		return "ED25519"
	default:
		return "RSA"
	}
}

// GetPublicKey implements sigstore-go's Keypair.
func (s *Signer) GetPublicKey() crypto.PublicKey { return s.key.Public() }

// GetPublicKeyPem implements sigstore-go's Keypair.
func (s *Signer) GetPublicKeyPem() (string, error) {
	b, err := EncodePublicKey(s.key.Public())
	return string(b), err
}

// SignData implements sigstore-go's Keypair. It returns the signature and
// the bytes that were signed (a digest, except for pure Ed25519).
func (s *Signer) SignData(_ context.Context, data []byte) ([]byte, []byte, error) {
	toSign := data
	if s.hash != 0 {
		h := s.hash.New()
		h.Write(data)
		toSign = h.Sum(nil)
	}
	sig, err := s.key.Sign(rand.Reader, toSign, s.hash)
	if err != nil {
		return nil, nil, fmt.Errorf("signing: %w", err)
	}
	return sig, toSign, nil
}

// Transparency submits a signed bundle to a transparency log and adds the
// resulting entry (with its inclusion proof) to the bundle. It is
// sigstore-go's interface, so any log client that speaks it fits.
type Transparency = sgsign.Transparency

// BundleOption configures how a bundle is produced.
type BundleOption func(*sgsign.BundleOptions)

// WithTransparencyLog submits the signature to log and records the entry.
func WithTransparencyLog(log Transparency) BundleOption {
	return func(o *sgsign.BundleOptions) { o.TransparencyLogs = append(o.TransparencyLogs, log) }
}

// Blob signs data as a message signature and returns a Sigstore bundle v0.3.
func (s *Signer) Blob(ctx context.Context, data []byte, opts ...BundleOption) (*protobundle.Bundle, error) {
	return s.bundle(ctx, &sgsign.PlainData{Data: data}, opts)
}

// DSSE signs payload in a DSSE envelope of the given payload type and returns
// a Sigstore bundle v0.3.
func (s *Signer) DSSE(ctx context.Context, payloadType string, payload []byte, opts ...BundleOption) (*protobundle.Bundle, error) {
	return s.bundle(ctx, &sgsign.DSSEData{Data: payload, PayloadType: payloadType}, opts)
}

func (s *Signer) bundle(ctx context.Context, c sgsign.Content, opts []BundleOption) (*protobundle.Bundle, error) {
	bo := sgsign.BundleOptions{Context: ctx}
	for _, o := range opts {
		o(&bo)
	}
	b, err := sgsign.Bundle(c, s, bo)
	if err != nil {
		return nil, fmt.Errorf("creating bundle: %w", err)
	}
	return b, nil
}
