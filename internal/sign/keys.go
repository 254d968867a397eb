// Package sign holds pipeguard's keys: generating them, storing them
// encrypted at rest in cosign's format, loading keys written by cosign or
// other tools, and turning them into signers that produce Sigstore bundles.
package sign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
)

// Key algorithms accepted by GenerateKey.
const (
	AlgECDSAP256 = "ecdsa-p256"
	AlgEd25519   = "ed25519"
)

// PEM block types. cosign writes the first encrypted form (older releases the
// second); pipeguard writes the first so that cosign can use pipeguard's keys.
const (
	pemEncryptedSigstore = "ENCRYPTED SIGSTORE PRIVATE KEY"
	pemEncryptedCosign   = "ENCRYPTED COSIGN PRIVATE KEY"
	pemPKCS8             = "PRIVATE KEY"
	pemEC                = "EC PRIVATE KEY"
	pemRSA               = "RSA PRIVATE KEY"
	pemPublic            = "PUBLIC KEY"
	pemCertificate       = "CERTIFICATE"
)

// ErrWrongPassword is returned when an encrypted key cannot be decrypted
// with the password given.
var ErrWrongPassword = errors.New("wrong password for encrypted private key")

// ErrPasswordRequired is returned when an encrypted key is loaded without a
// password.
var ErrPasswordRequired = errors.New("private key is encrypted: a password is required (PIPEGUARD_PASSWORD or COSIGN_PASSWORD)")

// GenerateKey makes a new private key of the named algorithm.
func GenerateKey(alg string) (crypto.Signer, error) {
	switch alg {
	case "", AlgECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case AlgEd25519:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	default:
		return nil, fmt.Errorf("unsupported key type %q (want %s or %s)", alg, AlgECDSAP256, AlgEd25519)
	}
}

// EncodePrivateKey returns the PEM form of k. With a non-empty password the
// key is encrypted with scrypt and NaCl secretbox exactly as cosign does, so
// either tool reads the other's keys; with an empty password it is a plain
// PKCS#8 block, which the caller must protect by file mode.
func EncodePrivateKey(k crypto.Signer, password []byte) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encoding private key: %w", err)
	}
	if len(password) == 0 {
		return pem.EncodeToMemory(&pem.Block{Type: pemPKCS8, Bytes: der}), nil
	}
	enc, err := encrypted.Encrypt(der, password)
	if err != nil {
		return nil, fmt.Errorf("encrypting private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemEncryptedSigstore, Bytes: enc}), nil
}

// IsEncrypted reports whether the PEM data holds an encrypted private key.
func IsEncrypted(pemData []byte) bool {
	b, _ := pem.Decode(pemData)
	return b != nil && (b.Type == pemEncryptedSigstore || b.Type == pemEncryptedCosign)
}

// DecodePrivateKey reads a private key from PEM: cosign's encrypted format
// (needs password), PKCS#8, SEC 1 EC or PKCS#1 RSA.
func DecodePrivateKey(pemData, password []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(pemData)
	if b == nil {
		return nil, errors.New("no PEM block found in private key file")
	}
	der := b.Bytes
	switch b.Type {
	case pemEncryptedSigstore, pemEncryptedCosign:
		if len(password) == 0 {
			return nil, ErrPasswordRequired
		}
		plain, err := encrypted.Decrypt(b.Bytes, password)
		if err != nil {
			return nil, ErrWrongPassword
		}
		der = plain
	case pemPKCS8:
	case pemEC:
		k, err := x509.ParseECPrivateKey(der)
		if err != nil {
			return nil, fmt.Errorf("parsing EC private key: %w", err)
		}
		return k, nil
	case pemRSA:
		k, err := x509.ParsePKCS1PrivateKey(der)
		if err != nil {
			return nil, fmt.Errorf("parsing RSA private key: %w", err)
		}
		return k, nil
	default:
		return nil, fmt.Errorf("unsupported private key PEM type %q", b.Type)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parsing PKCS#8 private key: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T cannot sign", k)
	}
	return s, nil
}

// EncodePublicKey returns the PKIX PEM form of pub.
func EncodePublicKey(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPublic, Bytes: der}), nil
}

// DecodePublicKey reads a PKIX public key from PEM. A certificate is
// accepted too; its subject public key is returned.
func DecodePublicKey(pemData []byte) (crypto.PublicKey, error) {
	b, _ := pem.Decode(pemData)
	if b == nil {
		return nil, errors.New("no PEM block found in public key")
	}
	switch b.Type {
	case pemPublic:
		pub, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing public key: %w", err)
		}
		return checkPublic(pub)
	case pemCertificate:
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate: %w", err)
		}
		return checkPublic(c.PublicKey)
	default:
		return nil, fmt.Errorf("unsupported public key PEM type %q", b.Type)
	}
}

func checkPublic(pub crypto.PublicKey) (crypto.PublicKey, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey, ed25519.PublicKey:
		return k, nil
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits is too small", k.N.BitLen())
		}
		return k, nil
	default:
		return nil, fmt.Errorf("unsupported public key type %T", pub)
	}
}

// KeyID is the hex SHA-256 of the key's PKIX DER encoding: a stable name
// for a public key that pipeguard uses when nothing else names it.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encoding public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}
