package verify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pipeguard/pipeguard/internal/attest"
	"github.com/pipeguard/pipeguard/internal/policy"
	"github.com/pipeguard/pipeguard/internal/sign"
)

const (
	testBuilder  = "https://pipeguard.dev/builders/ci/v1"
	testVerifier = "https://pipeguard.dev/verifiers/ci/v1"
)

type fixture struct {
	builder, other, verifier *sign.Signer
	builderPEM, verifierPEM  string
	artifact                 []byte
	digest                   string
	now                      time.Time
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	mk := func() (*sign.Signer, string) {
		k, err := sign.GenerateKey(sign.AlgECDSAP256)
		if err != nil {
			t.Fatal(err)
		}
		s, err := sign.NewSigner(k)
		if err != nil {
			t.Fatal(err)
		}
		pem, err := s.GetPublicKeyPem()
		if err != nil {
			t.Fatal(err)
		}
		return s, pem
	}
	f := &fixture{artifact: []byte("the artifact\n"), now: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	f.builder, f.builderPEM = mk()
	f.other, _ = mk()
	f.verifier, f.verifierPEM = mk()
	d := sha256.Sum256(f.artifact)
	f.digest = hex.EncodeToString(d[:])
	return f
}

func (f *fixture) subject() Subject {
	return Subject{Name: "app", Digests: map[string]string{"sha256": f.digest}}
}

// provenance returns a SLSA v1 predicate; mutate edits it before signing.
func (f *fixture) provenance(mutate func(m map[string]any)) map[string]any {
	m := map[string]any{
		"buildDefinition": map[string]any{
			"buildType": "https://pipeguard.dev/buildtypes/sandbox/v1",
			"externalParameters": map[string]any{
				"source": map[string]any{"uri": "git+https://github.com/acme/app", "ref": "refs/heads/main", "digest": map[string]any{"gitCommit": strings.Repeat("a", 40)}},
			},
			"internalParameters": map[string]any{"slsaBuildLevel": 3},
		},
		"runDetails": map[string]any{
			"builder":  map[string]any{"id": testBuilder},
			"metadata": map[string]any{"finishedOn": f.now.Add(-time.Hour).Format(time.RFC3339)},
		},
	}
	if mutate != nil {
		mutate(m)
	}
	return m
}

func set(path string, v any) func(map[string]any) {
	return func(m map[string]any) {
		parts := strings.Split(path, ".")
		cur := m
		for _, p := range parts[:len(parts)-1] {
			cur = cur[p].(map[string]any)
		}
		cur[parts[len(parts)-1]] = v
	}
}

// bundle signs a statement into a Sigstore bundle JSON; tamper may edit
// the signed bundle's JSON form.
func (f *fixture) bundle(t testing.TB, s *sign.Signer, subjectDigest, predType string, pred any, tamper func(b map[string]any)) []byte {
	t.Helper()
	st, err := attest.NewStatement([]attest.Subject{{Name: "app", Digest: map[string]string{"sha256": subjectDigest}}}, predType, pred)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.DSSE(context.Background(), attest.PayloadType, st)
	if err != nil {
		t.Fatal(err)
	}
	data, err := attest.MarshalBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	if tamper == nil {
		return data
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	tamper(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// envelope signs a statement into a bare DSSE envelope.
func (f *fixture) envelope(t testing.TB, s *sign.Signer, predType string, pred any) []byte {
	t.Helper()
	st, err := attest.NewStatement([]attest.Subject{{Name: "app", Digest: map[string]string{"sha256": f.digest}}}, predType, pred)
	if err != nil {
		t.Fatal(err)
	}
	sig, _, err := s.SignData(context.Background(), attest.PAE(attest.PayloadType, st))
	if err != nil {
		t.Fatal(err)
	}
	e := &attest.Envelope{PayloadType: attest.PayloadType, Payload: st, Signatures: []attest.Signature{{Sig: sig}}}
	out, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (f *fixture) policy(extraRequire, extra string) string {
	indent := func(pem string) string {
		return "            " + strings.ReplaceAll(strings.TrimSpace(pem), "\n", "\n            ")
	}
	return fmt.Sprintf(`apiVersion: pipeguard.dev/policy/v1
signers:
  builders:
    - id: %s
      slsaBuildLevel: 3
      keys:
        - pem: |
%s
  verifiers:
    - id: %s
      keys:
        - pem: |
%s
require:
  attestations:
    - type: https://slsa.dev/provenance/v1
  slsaBuildLevel: 3
  source:
    repository: github.com/acme/app
    refs: ["refs/heads/main"]
  maxAge: 24h
%s%s`, testBuilder, indent(f.builderPEM), testVerifier, indent(f.verifierPEM), extraRequire, extra)
}

func (f *fixture) run(t testing.TB, policyYAML string, subject Subject, inputs ...[]byte) *Report {
	t.Helper()
	pol, err := policy.Parse([]byte(policyYAML))
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	v, err := New(pol, WithClock(func() time.Time { return f.now }))
	if err != nil {
		t.Fatal(err)
	}
	r, err := v.Verify(context.Background(), subject, inputs)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return r
}

func TestTamper(t *testing.T) {
	f := newFixture(t)
	prov := attest.PredicateSLSAProvenanceV1
	good := f.bundle(t, f.builder, f.digest, prov, f.provenance(nil), nil)
	vsaPred := func(result string, levels ...string) map[string]any {
		return map[string]any{"verifier": map[string]any{"id": testVerifier}, "timeVerified": f.now.Add(-time.Minute).Format(time.RFC3339),
			"resourceUri": "app", "verificationResult": result, "verifiedLevels": levels, "policy": map[string]any{"digest": map[string]any{"sha256": "00"}}}
	}
	editEnvelope := func(edit func(env map[string]any)) func(map[string]any) {
		return func(b map[string]any) { edit(b["dsseEnvelope"].(map[string]any)) }
	}
	tests := []struct {
		name    string
		policy  string
		subject *Subject
		inputs  [][]byte
		reason  string // empty: must pass
	}{
		{name: "control: good provenance", inputs: [][]byte{good}},
		{name: "control: source in another URI form", inputs: [][]byte{f.bundle(t, f.builder, f.digest, prov, f.provenance(set("buildDefinition.externalParameters.source.uri", "git+ssh://git@GitHub.com/acme/app.git")), nil)}},
		{name: "control: bare DSSE envelope", inputs: [][]byte{f.envelope(t, f.builder, prov, f.provenance(nil))}},
		{name: "payload changed", reason: "[signature]", inputs: [][]byte{f.bundle(t, f.builder, f.digest, prov, f.provenance(nil), editEnvelope(func(env map[string]any) {
			st, _ := attest.NewStatement([]attest.Subject{{Digest: map[string]string{"sha256": f.digest}}}, prov, f.provenance(set("runDetails.builder.id", testBuilder)))
			env["payload"] = jsonB64(append(st, ' '))
		}))}},
		{name: "payload type changed", reason: "not an in-toto statement", inputs: [][]byte{f.bundle(t, f.builder, f.digest, prov, f.provenance(nil), editEnvelope(func(env map[string]any) {
			env["payloadType"] = "application/vnd.in-toto+json; x"
		}))}},
		{name: "signature from another key", reason: "not signed by any signer the policy trusts", inputs: [][]byte{f.bundle(t, f.other, f.digest, prov, f.provenance(nil), nil)}},
		{name: "signature bytes flipped", reason: "[signature]", inputs: [][]byte{f.bundle(t, f.builder, f.digest, prov, f.provenance(nil), editEnvelope(func(env map[string]any) {
			sigs := env["signatures"].([]any)
			s := sigs[0].(map[string]any)
			raw, _ := attest.DecodeBase64(s["sig"].(string))
			raw[len(raw)-1] ^= 1
			s["sig"] = jsonB64(raw)
		}))}},
		{name: "unsigned envelope", reason: "no signatures", inputs: [][]byte{unsign(t, f.envelope(t, f.builder, prov, f.provenance(nil)))}},
		{name: "subject digest mismatch", reason: "[subject]", inputs: [][]byte{f.bundle(t, f.builder, strings.Repeat("b", 64), prov, f.provenance(nil), nil)}},
		{name: "predicate type swapped", reason: "no https://slsa.dev/provenance/v1 attestation", inputs: [][]byte{f.bundle(t, f.builder, f.digest, "https://slsa.dev/provenance/v0.2", f.provenance(nil), nil)}},
		{name: "source suffix appX", reason: "require.source.repository", inputs: [][]byte{f.bundle(t, f.builder, f.digest, prov, f.provenance(set("buildDefinition.externalParameters.source.uri", "git+https://github.com/acme/appX")), nil)}},
		{name: "source under another host", reason: "require.source.repository", inputs: [][]byte{f.bundle(t, f.builder, f.digest, prov, f.provenance(set("buildDefinition.externalParameters.source.uri", "https://evil.com/github.com/acme/app")), nil)}},
		{name: "source subdirectory", reason: "require.source.repository", inputs: [][]byte{f.bundle(t, f.builder, f.digest, prov, f.provenance(set("buildDefinition.externalParameters.source.uri", "git+https://github.com/acme/app/sub")), nil)}},
		{name: "source missing", reason: "names no source repository", inputs: [][]byte{f.bundle(t, f.builder, f.digest, prov, f.provenance(set("buildDefinition.externalParameters", map[string]any{})), nil)}},
		{name: "ref mismatch", reason: "require.source.refs", inputs: [][]byte{f.bundle(t, f.builder, f.digest, prov, f.provenance(set("buildDefinition.externalParameters.source.ref", "refs/heads/dev")), nil)}},
		{name: "ref prefix trick", reason: "require.source.refs", inputs: [][]byte{f.bundle(t, f.builder, f.digest, prov, f.provenance(set("buildDefinition.externalParameters.source.ref", "refs/heads/main-evil")), nil)}},
		{name: "builder id of another builder", reason: "must be the same", inputs: [][]byte{f.bundle(t, f.builder, f.digest, prov, f.provenance(set("runDetails.builder.id", "https://github.com/some/other-builder")), nil)}},
		{name: "builder id suffix trick", reason: "must be the same", inputs: [][]byte{f.bundle(t, f.builder, f.digest, prov, f.provenance(set("runDetails.builder.id", testBuilder+"X")), nil)}},
		{name: "builder id with unallowed ref", reason: "must be the same", inputs: [][]byte{f.bundle(t, f.builder, f.digest, prov, f.provenance(set("runDetails.builder.id", testBuilder+"@refs/heads/evil")), nil)}},
		{name: "degraded build level", reason: "reaches SLSA build level 2", inputs: [][]byte{f.bundle(t, f.builder, f.digest, prov, f.provenance(set("buildDefinition.internalParameters.slsaBuildLevel", 2)), nil)}},
		{name: "malformed build level", reason: "malformed slsaBuildLevel", inputs: [][]byte{f.bundle(t, f.builder, f.digest, prov, f.provenance(set("buildDefinition.internalParameters.slsaBuildLevel", "3")), nil)}},
		{name: "expired attestation", reason: "require.maxAge", inputs: [][]byte{f.bundle(t, f.builder, f.digest, prov, f.provenance(set("runDetails.metadata.finishedOn", f.now.Add(-48*time.Hour).Format(time.RFC3339))), nil)}},
		{name: "no time to judge age", reason: "carries no time", inputs: [][]byte{f.bundle(t, f.builder, f.digest, prov, f.provenance(set("runDetails.metadata", map[string]any{})), nil)}},
		{name: "unknown predicate fields never loosen", reason: "require.source.repository", inputs: [][]byte{f.bundle(t, f.builder, f.digest, prov, f.provenance(func(m map[string]any) {
			set("buildDefinition.externalParameters.source.uri", "git+https://github.com/acme/other")(m)
			set("buildDefinition.externalParameters.source.allowAnySource", true)(m)
			m["policyOverride"] = map[string]any{"skipChecks": true}
		}), nil)}},
		{name: "transparency log required", policy: f.policy("  transparencyLog: true\n", ""), reason: "require.transparencyLog", inputs: [][]byte{f.envelope(t, f.builder, prov, f.provenance(nil))}},
		{name: "message signature instead of attestation", reason: "a message signature, not an attestation", inputs: [][]byte{blob(t, f.builder, f.artifact)}},
		{name: "provenance signed by the verifier's key", reason: "not signed by any signer the policy trusts", inputs: [][]byte{f.bundle(t, f.verifier, f.digest, prov, f.provenance(nil), nil)}},
		{name: "VSA signed by the builder's key", reason: "not signed by any signer the policy trusts", inputs: [][]byte{f.bundle(t, f.builder, f.digest, attest.PredicateSLSAVSAV1, vsaPred("PASSED", "SLSA_BUILD_LEVEL_3"), nil)}},
		{name: "control: trusted VSA stands in", inputs: [][]byte{f.bundle(t, f.verifier, f.digest, attest.PredicateSLSAVSAV1, vsaPred("PASSED", "SLSA_BUILD_LEVEL_3"), nil)}},
		{name: "VSA that failed", reason: "vsa.verificationResult", inputs: [][]byte{f.bundle(t, f.verifier, f.digest, attest.PredicateSLSAVSAV1, vsaPred("FAILED", "SLSA_BUILD_LEVEL_3"), nil)}},
		{name: "VSA below the level", reason: "do not reach SLSA_BUILD_LEVEL_3", inputs: [][]byte{f.bundle(t, f.verifier, f.digest, attest.PredicateSLSAVSAV1, vsaPred("PASSED", "SLSA_BUILD_LEVEL_2"), nil)}},
		{name: "CEL rule false", policy: f.policy("", "rules:\n  - name: hermetic\n    expr: provenance.buildDefinition.externalParameters.hermetic == true\n    message: builds must be hermetic\n"), reason: "builds must be hermetic",
			inputs: [][]byte{f.bundle(t, f.builder, f.digest, prov, f.provenance(set("buildDefinition.externalParameters.hermetic", false)), nil)}},
		{name: "CEL rule on a missing field fails", policy: f.policy("", "rules:\n  - name: hermetic\n    expr: provenance.buildDefinition.externalParameters.hermetic == true\n"), reason: "could not be evaluated",
			inputs: [][]byte{good}},
		{name: "control: CEL rule true", policy: f.policy("", "rules:\n  - name: hermetic\n    expr: provenance.buildDefinition.externalParameters.hermetic == true\n"),
			inputs: [][]byte{f.bundle(t, f.builder, f.digest, prov, f.provenance(set("buildDefinition.externalParameters.hermetic", true)), nil)}},
		{name: "no attestations", reason: "no https://slsa.dev/provenance/v1 attestation", inputs: nil},
		{name: "good one beside one whose signer claims another builder", reason: "must be the same", inputs: [][]byte{good,
			f.bundle(t, f.builder, f.digest, prov, f.provenance(set("runDetails.builder.id", "https://github.com/some/other-builder")), nil)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.policy
			if p == "" {
				p = f.policy("", "")
			}
			subj := f.subject()
			if tc.subject != nil {
				subj = *tc.subject
			}
			r := f.run(t, p, subj, tc.inputs...)
			if tc.reason == "" {
				if !r.Passed {
					t.Fatalf("refused: %v", r.Failures)
				}
				return
			}
			if r.Passed {
				t.Fatalf("accepted; want refusal mentioning %q", tc.reason)
			}
			for _, fl := range r.Failures {
				if strings.Contains(fl.String(), tc.reason) {
					return
				}
			}
			t.Fatalf("no failure mentions %q: %v", tc.reason, r.Failures)
		})
	}
}

// TestPolicyStrict shows that a policy can never be loosened by a typo or
// an unknown key: such files are errors.
func TestPolicyStrict(t *testing.T) {
	f := newFixture(t)
	good := f.policy("", "")
	tests := map[string]string{
		"unknown top-level key": good + "allowUnsigned: true\n",
		"misspelled require":    strings.Replace(good, "require:", "requires:", 1),
		"unknown signer key":    strings.Replace(good, "      slsaBuildLevel: 3\n", "      slsaBuildLevel: 3\n      trustAll: true\n", 1),
		"wrong apiVersion":      strings.Replace(good, "pipeguard.dev/policy/v1", "pipeguard.dev/policy/v2", 1),
		"source with @ref":      strings.Replace(good, "repository: github.com/acme/app", "repository: github.com/acme/app@main", 1),
		"bad CEL":               good + "rules:\n  - name: x\n    expr: 'provenance.'\n",
		"non-boolean CEL":       good + "rules:\n  - name: x\n    expr: '1 + 1'\n",
		"bad duration":          strings.Replace(good, "maxAge: 24h", "maxAge: forever", 1),
		"two documents":         good + "---\napiVersion: pipeguard.dev/policy/v1\n",
	}
	for name, p := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := policy.Parse([]byte(p)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func jsonB64(b []byte) string {
	s, _ := json.Marshal(b) // []byte marshals as standard base64
	return strings.Trim(string(s), `"`)
}

func unsign(t testing.TB, env []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(env, &m); err != nil {
		t.Fatal(err)
	}
	m["signatures"] = []any{}
	out, _ := json.Marshal(m)
	return out
}

func blob(t testing.TB, s *sign.Signer, data []byte) []byte {
	t.Helper()
	b, err := s.Blob(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	out, err := attest.MarshalBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOtherTypesSignedByBuilderKey: a predicate type other than provenance
// or VSA, signed with a key the policy trusts as a builder, counts; the
// builder pairing applies only to provenance.
func TestOtherTypesSignedByBuilderKey(t *testing.T) {
	f := newFixture(t)
	const scan = "https://pipeguard.dev/attestations/secret-scan/v1"
	p := strings.Replace(f.policy("", ""), "    - type: https://slsa.dev/provenance/v1\n", "    - type: https://slsa.dev/provenance/v1\n    - type: "+scan+"\n", 1)
	inputs := [][]byte{
		f.bundle(t, f.builder, f.digest, attest.PredicateSLSAProvenanceV1, f.provenance(nil), nil),
		f.bundle(t, f.builder, f.digest, scan, map[string]any{"findings": []any{}, "timestamp": f.now.Format(time.RFC3339)}, nil),
	}
	if r := f.run(t, p, f.subject(), inputs...); !r.Passed {
		t.Fatalf("refused: %v", r.Failures)
	}
	if r := f.run(t, p, f.subject(), inputs[0]); r.Passed {
		t.Fatal("passed without the required scan attestation")
	}
}
