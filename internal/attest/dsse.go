package attest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Envelope is a DSSE envelope. Payload and signatures are kept decoded.
type Envelope struct {
	PayloadType string
	Payload     []byte
	Signatures  []Signature
}

// Signature is one DSSE signature.
type Signature struct {
	KeyID string
	Sig   []byte
}

type wireEnvelope struct {
	PayloadType string          `json:"payloadType"`
	Payload     string          `json:"payload"`
	Signatures  []wireSignature `json:"signatures"`
}

type wireSignature struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

// ParseEnvelope decodes a DSSE envelope in JSON. Base64 may be standard or
// URL-safe, padded or not, as the DSSE spec allows.
func ParseEnvelope(data []byte) (*Envelope, error) {
	var w wireEnvelope
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("decoding DSSE envelope: %w", err)
	}
	if w.PayloadType == "" {
		return nil, errors.New("DSSE envelope has no payloadType")
	}
	payload, err := DecodeBase64(w.Payload)
	if err != nil {
		return nil, fmt.Errorf("decoding DSSE payload: %w", err)
	}
	e := &Envelope{PayloadType: w.PayloadType, Payload: payload}
	for i, s := range w.Signatures {
		sig, err := DecodeBase64(s.Sig)
		if err != nil {
			return nil, fmt.Errorf("decoding DSSE signature %d: %w", i, err)
		}
		e.Signatures = append(e.Signatures, Signature{KeyID: s.KeyID, Sig: sig})
	}
	return e, nil
}

// MarshalJSON encodes the envelope in the DSSE JSON form (standard base64).
func (e *Envelope) MarshalJSON() ([]byte, error) {
	w := wireEnvelope{PayloadType: e.PayloadType, Payload: base64.StdEncoding.EncodeToString(e.Payload), Signatures: []wireSignature{}}
	for _, s := range e.Signatures {
		w.Signatures = append(w.Signatures, wireSignature{KeyID: s.KeyID, Sig: base64.StdEncoding.EncodeToString(s.Sig)})
	}
	return json.Marshal(&w)
}

// DecodeBase64 accepts standard and URL-safe base64, with or without padding.
func DecodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// PAE is DSSE's pre-authentication encoding of a payload and its type: the
// bytes that are actually signed.
func PAE(payloadType string, payload []byte) []byte {
	var b bytes.Buffer
	b.WriteString("DSSEv1 ")
	b.WriteString(strconv.Itoa(len(payloadType)))
	b.WriteByte(' ')
	b.WriteString(payloadType)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(payload)))
	b.WriteByte(' ')
	b.Write(payload)
	return b.Bytes()
}

// VerificationKey is a public key trusted to sign envelopes. With
// CheckKeyID, only signatures that carry exactly KeyID (which may be
// empty) are checked with it.
type VerificationKey struct {
	Public     crypto.PublicKey
	KeyID      string
	CheckKeyID bool
}

// ErrNoValidSignature means no signature of an envelope verified with any
// of the keys given.
var ErrNoValidSignature = errors.New("no valid signature from a trusted key")

// Verify checks the envelope's signatures against keys and returns the
// indexes of the keys that produced at least one valid signature. Each key
// counts once however many signatures it made, so duplicated signatures
// never raise a threshold.
func (e *Envelope) Verify(keys []VerificationKey) ([]int, error) {
	if len(e.Signatures) == 0 {
		return nil, errors.New("DSSE envelope has no signatures")
	}
	pae := PAE(e.PayloadType, e.Payload)
	var ok []int
	for i, k := range keys {
		for _, s := range e.Signatures {
			if k.CheckKeyID && s.KeyID != k.KeyID {
				continue
			}
			if VerifySignature(k.Public, pae, s.Sig) == nil {
				ok = append(ok, i)
				break
			}
		}
	}
	if len(ok) == 0 {
		return nil, ErrNoValidSignature
	}
	return ok, nil
}

// VerifySignature checks sig over msg with pub. ECDSA signatures may be
// ASN.1 DER or raw r||s (IEEE P1363), as DSSE producers write both.
func VerifySignature(pub crypto.PublicKey, msg, sig []byte) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		digest := hashFor(k)(msg)
		if ecdsa.VerifyASN1(k, digest, sig) {
			return nil
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) == 2*size {
			r := new(big.Int).SetBytes(sig[:size])
			s := new(big.Int).SetBytes(sig[size:])
			if ecdsa.Verify(k, digest, r, s) {
				return nil
			}
		}
		return errors.New("ECDSA signature does not verify")
	case ed25519.PublicKey:
		if ed25519.Verify(k, msg, sig) {
			return nil
		}
		return errors.New("Ed25519 signature does not verify")
	case *rsa.PublicKey:
		d := sha256.Sum256(msg)
		if rsa.VerifyPKCS1v15(k, crypto.SHA256, d[:], sig) == nil {
			return nil
		}
		if rsa.VerifyPSS(k, crypto.SHA256, d[:], sig, nil) == nil {
			return nil
		}
		return errors.New("RSA signature does not verify")
	default:
		return fmt.Errorf("unsupported public key type %T", pub)
	}
}

func hashFor(k *ecdsa.PublicKey) func([]byte) []byte {
	switch k.Curve.Params().BitSize {
	case 384:
		return func(m []byte) []byte { d := sha512.Sum384(m); return d[:] }
	case 521:
		return func(m []byte) []byte { d := sha512.Sum512(m); return d[:] }
	default:
		return func(m []byte) []byte { d := sha256.Sum256(m); return d[:] }
	}
}
