// Package policy reads pipeguard policy files: who is trusted to sign
// what (builders, verifiers, other attestors), which attestations a subject
// needs, the expected source and build level, and free rules in CEL.
// Decoding is strict: an unknown key is an error, so a typo can never
// silently loosen a check.
package policy

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/pipeguard/pipeguard/internal/sign"
)

// APIVersion is the only policy apiVersion this release reads.
const APIVersion = "pipeguard.dev/policy/v1"

// MaxSize bounds a policy file.
const MaxSize = 1 << 20

// Policy is a parsed, validated policy.
type Policy struct {
	APIVersion  string  `yaml:"apiVersion"`
	Name        string  `yaml:"name,omitempty"`
	TrustedRoot string  `yaml:"trustedRoot,omitempty"`
	Signers     Signers `yaml:"signers"`
	Require     Require `yaml:"require"`
	Rules       []Rule  `yaml:"rules,omitempty"`

	digest string
	dir    string
	rules  []*compiledRule
}

// Signers lists trusted signers by role. Provenance counts only when
// signed by a builder, VSAs only when signed by a verifier; other
// predicate types may be signed by any trusted signer.
type Signers struct {
	Builders  []Signer `yaml:"builders,omitempty"`
	Verifiers []Signer `yaml:"verifiers,omitempty"`
	Attestors []Signer `yaml:"attestors,omitempty"`
}

// Signer is one trusted party: an id, and the keys or keyless identities
// that prove a signature is theirs.
type Signer struct {
	// ID is the builder id (for builders) or verifier id (for verifiers)
	// the signer may claim. It may end in @REF to pin one ref.
	ID string `yaml:"id"`
	// Refs lists glob patterns of refs allowed as an @REF suffix of the
	// claimed id. Without Refs (and without @REF in ID) a claimed id with
	// any @ suffix is refused.
	Refs []string `yaml:"refs,omitempty"`
	// SLSABuildLevel is the highest SLSA build level this builder is
	// trusted to reach (builders only; default 1).
	SLSABuildLevel int        `yaml:"slsaBuildLevel,omitempty"`
	Keys           []Key      `yaml:"keys,omitempty"`
	Identities     []Identity `yaml:"identities,omitempty"`
}

// Key is a trusted public key, inline (PEM) or from a file relative to
// the policy. When KeyID is present, signatures must carry exactly that
// key id; present and empty means they must carry none.
type Key struct {
	Path  string  `yaml:"path,omitempty"`
	PEM   string  `yaml:"pem,omitempty"`
	KeyID *string `yaml:"keyID,omitempty"`

	public crypto.PublicKey
}

// Public returns the loaded key.
func (k *Key) Public() crypto.PublicKey { return k.public }

// Identity is a keyless signer: certificate SAN and OIDC issuer, each
// exact or as a regular expression (anchored by the writer).
type Identity struct {
	Subject       string `yaml:"subject,omitempty"`
	SubjectRegexp string `yaml:"subjectRegexp,omitempty"`
	Issuer        string `yaml:"issuer,omitempty"`
	IssuerRegexp  string `yaml:"issuerRegexp,omitempty"`
}

// Require lists what a subject needs.
type Require struct {
	// Attestations names predicate types that must each be present,
	// verified, about the subject, and pass their checks.
	Attestations []Requirement `yaml:"attestations,omitempty"`
	// SLSABuildLevel is the minimum build level of the provenance.
	SLSABuildLevel int `yaml:"slsaBuildLevel,omitempty"`
	// Source is the expected source repository and refs of provenance.
	Source *Source `yaml:"source,omitempty"`
	// MaxAge is the oldest an attestation may be (Go duration, e.g. 720h).
	MaxAge Duration `yaml:"maxAge,omitempty"`
	// TransparencyLog requires every attestation to carry a verified
	// transparency log entry.
	TransparencyLog bool `yaml:"transparencyLog,omitempty"`
	// VerifiedLevels are levels a VSA must list (besides the build level).
	VerifiedLevels []string `yaml:"verifiedLevels,omitempty"`
	// ResourceURI, when set, must equal a VSA's resourceUri.
	ResourceURI string `yaml:"resourceURI,omitempty"`
}

// Requirement is one required attestation.
type Requirement struct {
	Type string `yaml:"type"`
}

// Source is the expected source.
type Source struct {
	// Repository in any URI form; compared in canonical form (see
	// CanonicalURI), exactly.
	Repository string `yaml:"repository"`
	// Refs lists glob patterns of allowed refs (refs/heads/main,
	// refs/tags/v*). Empty allows any ref.
	Refs []string `yaml:"refs,omitempty"`
}

// Rule is a CEL expression over the verified statements that must be
// true. Variables: subject, attestations, provenance (see docs/policy.md).
type Rule struct {
	Name    string `yaml:"name"`
	Expr    string `yaml:"expr"`
	Message string `yaml:"message,omitempty"`
}

// Duration is a time.Duration read from a string like "720h".
type Duration struct{ time.Duration }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: invalid duration %q: %w", n.Line, s, err)
	}
	if v < 0 {
		return fmt.Errorf("line %d: negative duration %q", n.Line, s)
	}
	d.Duration = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) {
	if d.Duration == 0 {
		return nil, nil
	}
	return d.String(), nil
}

// IsZero lets omitempty drop an unset duration.
func (d Duration) IsZero() bool { return d.Duration == 0 }

// Load reads and validates the policy at path. Relative key and trusted
// root paths are resolved against the policy's directory.
func Load(path string) (*Policy, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	if fi.Size() > MaxSize {
		return nil, fmt.Errorf("policy %s is larger than %d bytes", path, MaxSize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	p, err := parse(data, filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	return p, nil
}

// Parse reads a policy from bytes; relative paths are resolved against
// the working directory.
func Parse(data []byte) (*Policy, error) { return parse(data, ".") }

func parse(data []byte, dir string) (*Policy, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("policy is larger than %d bytes", MaxSize)
	}
	var p Policy
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("decoding policy: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, errors.New("policy file holds more than one YAML document")
	}
	sum := sha256.Sum256(data)
	p.digest = hex.EncodeToString(sum[:])
	p.dir = dir
	if err := p.validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Digest is the sha256 of the policy file's bytes.
func (p *Policy) Digest() string { return p.digest }

// TrustedRootPath returns the policy's trusted root file, resolved, or "".
func (p *Policy) TrustedRootPath() string {
	if p.TrustedRoot == "" {
		return ""
	}
	return p.resolve(p.TrustedRoot)
}

func (p *Policy) resolve(path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(p.dir, path)
}

func (p *Policy) validate() error {
	if p.APIVersion != APIVersion {
		return fmt.Errorf("apiVersion is %q; this pipeguard reads %q", p.APIVersion, APIVersion)
	}
	roles := []struct {
		name string
		list []Signer
	}{{"builders", p.Signers.Builders}, {"verifiers", p.Signers.Verifiers}, {"attestors", p.Signers.Attestors}}
	total := 0
	for _, r := range roles {
		for i := range r.list {
			s := &r.list[i]
			where := fmt.Sprintf("signers.%s[%d]", r.name, i)
			if err := p.validateSigner(s, where, r.name == "builders"); err != nil {
				return err
			}
			total++
		}
	}
	if total == 0 {
		return errors.New("the policy trusts no signer: list at least one under signers")
	}
	for i, r := range p.Require.Attestations {
		if r.Type == "" {
			return fmt.Errorf("require.attestations[%d]: type is required", i)
		}
	}
	if l := p.Require.SLSABuildLevel; l < 0 || l > 3 {
		return fmt.Errorf("require.slsaBuildLevel %d is not a SLSA build level (0-3)", l)
	}
	if p.Require.SLSABuildLevel > 0 && len(p.Signers.Builders)+len(p.Signers.Verifiers) == 0 {
		return errors.New("require.slsaBuildLevel needs a trusted builder or verifier")
	}
	if s := p.Require.Source; s != nil {
		if s.Repository == "" {
			return errors.New("require.source.repository is required when require.source is set")
		}
		if _, ref := CanonicalURI(s.Repository); ref != "" {
			return fmt.Errorf("require.source.repository %q carries @%s: list refs under require.source.refs instead", s.Repository, ref)
		}
		for _, r := range s.Refs {
			if err := checkGlob(r); err != nil {
				return fmt.Errorf("require.source.refs: %w", err)
			}
		}
	}
	if len(p.Require.Attestations) == 0 && p.Require.SLSABuildLevel == 0 && p.Require.Source == nil && len(p.Rules) == 0 {
		return errors.New("the policy requires nothing: add require.attestations, require.slsaBuildLevel, require.source or rules")
	}
	names := map[string]bool{}
	for i, r := range p.Rules {
		if r.Name == "" || r.Expr == "" {
			return fmt.Errorf("rules[%d]: name and expr are required", i)
		}
		if names[r.Name] {
			return fmt.Errorf("rules[%d]: duplicate rule name %q", i, r.Name)
		}
		names[r.Name] = true
	}
	rules, err := compileRules(p.Rules)
	if err != nil {
		return err
	}
	p.rules = rules
	return nil
}

func (p *Policy) validateSigner(s *Signer, where string, builder bool) error {
	if s.ID == "" {
		return fmt.Errorf("%s: id is required", where)
	}
	if len(s.Keys) == 0 && len(s.Identities) == 0 {
		return fmt.Errorf("%s (%s): give at least one key or keyless identity", where, s.ID)
	}
	if !builder && s.SLSABuildLevel != 0 {
		return fmt.Errorf("%s: slsaBuildLevel applies to builders only", where)
	}
	if s.SLSABuildLevel < 0 || s.SLSABuildLevel > 3 {
		return fmt.Errorf("%s: slsaBuildLevel %d is not a SLSA build level (0-3)", where, s.SLSABuildLevel)
	}
	for _, r := range s.Refs {
		if err := checkGlob(r); err != nil {
			return fmt.Errorf("%s.refs: %w", where, err)
		}
	}
	for j := range s.Keys {
		k := &s.Keys[j]
		if (k.Path == "") == (k.PEM == "") {
			return fmt.Errorf("%s.keys[%d]: give exactly one of path and pem", where, j)
		}
		data := []byte(k.PEM)
		if k.Path != "" {
			var err error
			if data, err = os.ReadFile(p.resolve(k.Path)); err != nil {
				return fmt.Errorf("%s.keys[%d]: %w", where, j, err)
			}
		}
		pub, err := sign.DecodePublicKey(data)
		if err != nil {
			return fmt.Errorf("%s.keys[%d]: %w", where, j, err)
		}
		k.public = pub
	}
	for j, id := range s.Identities {
		if (id.Subject == "") == (id.SubjectRegexp == "") {
			return fmt.Errorf("%s.identities[%d]: give exactly one of subject and subjectRegexp", where, j)
		}
		if (id.Issuer == "") == (id.IssuerRegexp == "") {
			return fmt.Errorf("%s.identities[%d]: give exactly one of issuer and issuerRegexp", where, j)
		}
		for _, re := range []string{id.SubjectRegexp, id.IssuerRegexp} {
			if re == "" {
				continue
			}
			if _, err := regexp.Compile(re); err != nil {
				return fmt.Errorf("%s.identities[%d]: %w", where, j, err)
			}
		}
	}
	return nil
}
