// Package attest holds the formats every guardrail speaks: in-toto
// Statements, DSSE envelopes and Sigstore bundles, read leniently (v0.1 and
// v1 statements, bundles v0.1–v0.3, bare DSSE files) and written strictly
// (Statement v1 in a bundle v0.3).
package attest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// In-toto and DSSE identifiers.
const (
	// PayloadType is the DSSE payload type of an in-toto Statement.
	PayloadType = "application/vnd.in-toto+json"
	// StatementTypeV1 is the _type of an in-toto Statement v1.
	StatementTypeV1 = "https://in-toto.io/Statement/v1"
	// StatementTypeV01 is the _type of an in-toto Statement v0.1.
	StatementTypeV01 = "https://in-toto.io/Statement/v0.1"
)

// Well-known predicate types.
const (
	PredicateSLSAProvenanceV1  = "https://slsa.dev/provenance/v1"
	PredicateSLSAProvenanceV02 = "https://slsa.dev/provenance/v0.2"
	PredicateSLSAVSAV1         = "https://slsa.dev/verification_summary/v1"
)

// Subject names an artifact by its digests (algorithm -> lowercase hex or
// opaque value, e.g. "sha256" or "gce_image_id").
type Subject struct {
	Name   string            `json:"name,omitempty"`
	Digest map[string]string `json:"digest"`
}

// Statement is an in-toto Statement (v1 or v0.1).
type Statement struct {
	Type          string          `json:"_type"`
	Subject       []Subject       `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate,omitempty"`
}

// NewStatement builds a Statement v1 and returns its JSON. predicate is
// marshalled as is (a struct, a map or json.RawMessage).
func NewStatement(subjects []Subject, predicateType string, predicate any) ([]byte, error) {
	if len(subjects) == 0 {
		return nil, errors.New("a statement needs at least one subject")
	}
	if predicateType == "" {
		return nil, errors.New("a statement needs a predicate type")
	}
	p, err := json.Marshal(predicate)
	if err != nil {
		return nil, fmt.Errorf("encoding predicate: %w", err)
	}
	st := Statement{Type: StatementTypeV1, Subject: subjects, PredicateType: predicateType, Predicate: p}
	if err := st.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(&st)
}

// ParseStatement decodes and validates a Statement of either version.
func ParseStatement(data []byte) (*Statement, error) {
	var st Statement
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("decoding in-toto statement: %w", err)
	}
	if err := st.Validate(); err != nil {
		return nil, err
	}
	return &st, nil
}

// Validate checks the fields every consumer relies on.
func (s *Statement) Validate() error {
	switch s.Type {
	case StatementTypeV1, StatementTypeV01:
	default:
		return fmt.Errorf("unsupported in-toto statement type %q", s.Type)
	}
	if s.PredicateType == "" {
		return errors.New("in-toto statement has no predicateType")
	}
	if len(s.Subject) == 0 {
		return errors.New("in-toto statement has no subject")
	}
	for i, sub := range s.Subject {
		if len(sub.Digest) == 0 {
			return fmt.Errorf("in-toto statement subject %d has no digest", i)
		}
		for alg, v := range sub.Digest {
			if alg == "" || v == "" {
				return fmt.Errorf("in-toto statement subject %d has an empty digest entry", i)
			}
		}
	}
	return nil
}

// MatchesDigest reports whether any subject carries digest alg:value.
// Hex digests are compared case-insensitively.
func (s *Statement) MatchesDigest(alg, value string) bool {
	for _, sub := range s.Subject {
		if v, ok := sub.Digest[alg]; ok && equalDigest(v, value) {
			return true
		}
	}
	return false
}

// SubjectDigests lists every alg:value pair of the statement, sorted.
func (s *Statement) SubjectDigests() []string {
	var out []string
	for _, sub := range s.Subject {
		for alg, v := range sub.Digest {
			out = append(out, alg+":"+v)
		}
	}
	sort.Strings(out)
	return out
}

func equalDigest(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'F' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'F' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// ParseSubjectDigest reads "ALG:VALUE" or "NAME@ALG:VALUE" (an image
// reference pinned by digest, say). sha256 and sha512 values must be hex
// of the right length; other algorithms (gce_image_id, gitCommit …) are
// taken as given.
func ParseSubjectDigest(s string) (Subject, error) {
	name := ""
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		name, s = s[:i], s[i+1:]
	}
	alg, val, ok := strings.Cut(s, ":")
	if !ok || alg == "" || val == "" {
		return Subject{}, fmt.Errorf("digest %q is not ALG:VALUE", s)
	}
	if want, isHex := hexLengths[alg]; isHex {
		if len(val) != want || !isLowerHex(val) {
			return Subject{}, fmt.Errorf("%s digest must be %d lowercase hex characters", alg, want)
		}
	}
	return Subject{Name: name, Digest: map[string]string{alg: val}}, nil
}

var hexLengths = map[string]int{"sha256": 64, "sha384": 96, "sha512": 128, "sha1": 40}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
