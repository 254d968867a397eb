package verify

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/pipeguard/pipeguard/internal/attest"
)

// isProvenance reports whether t is a SLSA provenance predicate type.
func isProvenance(t string) bool {
	return t == attest.PredicateSLSAProvenanceV1 || t == attest.PredicateSLSAProvenanceV02
}

// field walks nested JSON objects; it returns nil when a step is missing
// or not an object.
func field(m map[string]any, path ...string) any {
	var cur any = m
	for _, p := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = obj[p]
	}
	return cur
}

func str(m map[string]any, path ...string) string {
	s, _ := field(m, path...).(string)
	return s
}

func decodePredicate(raw json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 {
		return map[string]any{}, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("predicate is not a JSON object: %w", err)
	}
	return m, nil
}

// claimedID is the builder id a provenance claims, or the verifier id a
// VSA claims.
func claimedID(predType string, pred map[string]any) string {
	switch predType {
	case attest.PredicateSLSAProvenanceV1:
		return str(pred, "runDetails", "builder", "id")
	case attest.PredicateSLSAProvenanceV02:
		return str(pred, "builder", "id")
	case attest.PredicateSLSAVSAV1:
		return str(pred, "verifier", "id")
	}
	return ""
}

// provenanceSource finds the source repository URI and ref a provenance
// names, across the build types in use: pipeguard's and the container-based
// builder's externalParameters.source, GitHub's workflow build type, and
// v0.2's invocation.configSource.
func provenanceSource(predType string, pred map[string]any) (uri, ref string) {
	if predType == attest.PredicateSLSAProvenanceV02 {
		return str(pred, "invocation", "configSource", "uri"), ""
	}
	ext, _ := field(pred, "buildDefinition", "externalParameters").(map[string]any)
	switch src := ext["source"].(type) {
	case string:
		return src, ""
	case map[string]any:
		u, _ := src["uri"].(string)
		r, _ := src["ref"].(string)
		return u, r
	}
	if wf, ok := ext["workflow"].(map[string]any); ok {
		u, _ := wf["repository"].(string)
		r, _ := wf["ref"].(string)
		return u, r
	}
	return "", ""
}

// claimedLevel is the SLSA build level a pipeguard provenance records for
// itself (a builder that could not isolate the build says 2), or 0 when
// the provenance makes no such claim.
func claimedLevel(predType string, pred map[string]any) int {
	if predType != attest.PredicateSLSAProvenanceV1 {
		return 0
	}
	switch v := field(pred, "buildDefinition", "internalParameters", "slsaBuildLevel").(type) {
	case float64:
		return int(v)
	case nil:
		return 0
	default:
		return -1 // present but not a number: trust nothing
	}
}

// claimedTime is the time the signer says the attestation was made. It is
// only used when no log or timestamp authority vouches for a time.
func claimedTime(predType string, pred map[string]any) (time.Time, bool) {
	var s string
	switch predType {
	case attest.PredicateSLSAProvenanceV1:
		if s = str(pred, "runDetails", "metadata", "finishedOn"); s == "" {
			s = str(pred, "runDetails", "metadata", "startedOn")
		}
	case attest.PredicateSLSAProvenanceV02:
		if s = str(pred, "metadata", "buildFinishedOn"); s == "" {
			s = str(pred, "metadata", "buildStartedOn")
		}
	case attest.PredicateSLSAVSAV1:
		s = str(pred, "timeVerified")
	default:
		for _, k := range []string{"timestamp", "time", "scanFinishedOn", "finishedOn"} {
			if s = str(pred, k); s != "" {
				break
			}
		}
	}
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// vsaLevels lists a VSA's verified levels.
func vsaLevels(pred map[string]any) []string {
	raw, _ := pred["verifiedLevels"].([]any)
	var out []string
	for _, l := range raw {
		if s, ok := l.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// buildLevelOf parses "SLSA_BUILD_LEVEL_N".
func buildLevelOf(level string) (int, bool) {
	const p = "SLSA_BUILD_LEVEL_"
	if !strings.HasPrefix(level, p) || len(level) != len(p)+1 {
		return 0, false
	}
	n := int(level[len(p)] - '0')
	return n, n >= 0 && n <= 3
}
