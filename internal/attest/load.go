package attest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sigstore/sigstore-go/pkg/bundle"
)

// MaxItemSize bounds one attestation read from a file; provenance of real
// builds is a few hundred KiB at most.
const MaxItemSize = 16 << 20

// Attestation is one signed item read from a file: a Sigstore bundle, or a
// bare DSSE envelope. Nothing in it is trusted until verified.
type Attestation struct {
	// Name says where it came from: the file, and "#N" for line N of a
	// JSON Lines file.
	Name string
	// Raw is the item's own bytes.
	Raw []byte
	// Bundle is set for Sigstore bundles (v0.1–v0.3).
	Bundle *bundle.Bundle
	// Envelope is the DSSE envelope, from the bundle or bare; nil for a
	// bundle holding a message signature.
	Envelope *Envelope
}

// Digest is the sha256 of the item's bytes, recorded in VSAs as an input.
func (a *Attestation) Digest() string {
	d := sha256.Sum256(a.Raw)
	return hex.EncodeToString(d[:])
}

// UnverifiedStatement decodes the in-toto statement carried by the
// envelope. As the name says, its content means nothing until the envelope's
// signature has been verified.
func (a *Attestation) UnverifiedStatement() (*Statement, error) {
	if a.Envelope == nil {
		return nil, errors.New("not a DSSE attestation (a message signature carries no statement)")
	}
	if a.Envelope.PayloadType != PayloadType {
		return nil, fmt.Errorf("DSSE payload type is %q, not an in-toto statement", a.Envelope.PayloadType)
	}
	return ParseStatement(a.Envelope.Payload)
}

// Load reads every attestation in data: a single JSON document (bundle or
// DSSE envelope) or JSON Lines of them, as .intoto.jsonl files hold.
func Load(name string, data []byte) ([]*Attestation, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%s: empty attestation file", name)
	}
	if json.Valid(trimmed) {
		a, err := loadItem(name, trimmed)
		if err != nil {
			return nil, err
		}
		return []*Attestation{a}, nil
	}
	var out []*Attestation
	sc := bufio.NewScanner(bytes.NewReader(trimmed))
	sc.Buffer(make([]byte, 0, 64<<10), MaxItemSize)
	line := 0
	for sc.Scan() {
		line++
		l := bytes.TrimSpace(sc.Bytes())
		if len(l) == 0 {
			continue
		}
		a, err := loadItem(fmt.Sprintf("%s#%d", name, line), bytes.Clone(l))
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: reading attestation lines: %w", name, err)
	}
	return out, nil
}

func loadItem(name string, data []byte) (*Attestation, error) {
	var probe struct {
		MediaType   string          `json:"mediaType"`
		PayloadType string          `json:"payloadType"`
		Signatures  json.RawMessage `json:"signatures"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %w", name, err)
	}
	a := &Attestation{Name: name, Raw: data}
	switch {
	case strings.HasPrefix(probe.MediaType, "application/vnd.dev.sigstore.bundle"):
		var b bundle.Bundle
		if err := b.UnmarshalJSON(data); err != nil {
			return nil, fmt.Errorf("%s: invalid Sigstore bundle: %w", name, err)
		}
		a.Bundle = &b
		if env := b.GetDsseEnvelope(); env != nil {
			a.Envelope = &Envelope{PayloadType: env.GetPayloadType(), Payload: env.GetPayload()}
			for _, s := range env.GetSignatures() {
				a.Envelope.Signatures = append(a.Envelope.Signatures, Signature{KeyID: s.GetKeyid(), Sig: s.GetSig()})
			}
		}
	case probe.PayloadType != "":
		e, err := ParseEnvelope(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		a.Envelope = e
	default:
		return nil, fmt.Errorf("%s: neither a Sigstore bundle nor a DSSE envelope", name)
	}
	return a, nil
}
