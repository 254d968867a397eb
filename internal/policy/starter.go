package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pipeguard/pipeguard/internal/attest"
	"github.com/pipeguard/pipeguard/internal/sign"
)

// StarterOptions shape the policy Starter writes.
type StarterOptions struct {
	KeyPEM    string
	BuilderID string
	Source    string
	Types     []string
}

// Starter returns a commented starter policy that trusts one key. It is
// checked by parsing it back, so what it prints is always accepted.
func Starter(o StarterOptions) (string, error) {
	if _, err := sign.DecodePublicKey([]byte(o.KeyPEM)); err != nil {
		return "", fmt.Errorf("--trust-key: %w", err)
	}
	if o.Source != "" {
		if _, ref := CanonicalURI(o.Source); ref != "" {
			return "", errors.New("--source must name a repository without @ref")
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# pipeguard policy (docs/policy.md). Unknown keys are errors, never ignored.\napiVersion: %s\n", APIVersion)
	b.WriteString("signers:\n")
	role := "attestors"
	id := "trusted-key"
	if o.BuilderID != "" {
		role, id = "builders", o.BuilderID
	}
	fmt.Fprintf(&b, "  %s:\n    - id: %q\n", role, id)
	if o.BuilderID != "" {
		b.WriteString("      # The highest SLSA build level this builder is trusted to reach.\n      slsaBuildLevel: 3\n")
	}
	b.WriteString("      keys:\n        - pem: |\n")
	for _, l := range strings.Split(strings.TrimSpace(o.KeyPEM), "\n") {
		fmt.Fprintf(&b, "            %s\n", l)
	}
	b.WriteString("require:\n")
	types := o.Types
	if o.BuilderID != "" && !slices.Contains(types, attest.PredicateSLSAProvenanceV1) {
		types = append([]string{attest.PredicateSLSAProvenanceV1}, types...)
	}
	if len(types) > 0 {
		b.WriteString("  attestations:\n")
		for _, t := range types {
			fmt.Fprintf(&b, "    - type: %q\n", t)
		}
	}
	if o.BuilderID != "" {
		b.WriteString("  slsaBuildLevel: 3\n")
	}
	if o.Source != "" {
		fmt.Fprintf(&b, "  source:\n    repository: %q\n    # refs: [\"refs/heads/main\"]\n", o.Source)
	}
	if len(types) == 0 && o.BuilderID == "" && o.Source == "" {
		return "", errors.New("the starter policy would require nothing: give --builder-id, --source or --require-type")
	}
	b.WriteString("  # maxAge: 720h\n")
	out := b.String()
	if _, err := Parse([]byte(out)); err != nil {
		return "", fmt.Errorf("starter policy does not parse (a bug): %w", err)
	}
	return out, nil
}
