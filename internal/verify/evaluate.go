package verify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/pipeguard/pipeguard/internal/attest"
	"github.com/pipeguard/pipeguard/internal/policy"
	"github.com/pipeguard/pipeguard/internal/trustroot"
)

// Role names a kind of trusted signer.
type Role string

// The roles of a policy's signers.
const (
	RoleBuilder  Role = "builder"
	RoleVerifier Role = "verifier"
	RoleAttestor Role = "attestor"
)

// Subject is what is being judged: a name and its digests
// (algorithm -> value, e.g. "sha256" or "gce_image_id").
type Subject struct {
	Name    string
	Digests map[string]string
}

func (s Subject) String() string {
	var parts []string
	for alg, v := range s.Digests {
		parts = append(parts, alg+":"+v)
	}
	sort.Strings(parts)
	if s.Name != "" {
		return s.Name + " (" + strings.Join(parts, ", ") + ")"
	}
	return strings.Join(parts, ", ")
}

// Input is one attestation file's content and the name to report it by.
type Input struct {
	Name string
	Data []byte
}

// Failure is one reason a subject was refused: which attestation, which
// rule of the policy, and why.
type Failure struct {
	Attestation string `json:"attestation,omitempty"`
	Rule        string `json:"rule"`
	Reason      string `json:"reason"`
}

func (f Failure) String() string {
	if f.Attestation == "" {
		return fmt.Sprintf("[%s] %s", f.Rule, f.Reason)
	}
	return fmt.Sprintf("[%s] %s: %s", f.Rule, f.Attestation, f.Reason)
}

// Evidence describes an attestation that verified and passed its checks.
type Evidence struct {
	Name          string `json:"name"`
	Digest        string `json:"sha256"`
	PredicateType string `json:"predicateType"`
	Role          Role   `json:"role"`
	Signer        string `json:"signer"`
	// Time is when it was made; TimeSource says who vouches for it:
	// "tlog", "tsa", or "signer-claimed".
	Time       time.Time `json:"time,omitzero"`
	TimeSource string    `json:"timeSource,omitempty"`
}

// InputAttestation names an attestation file that was considered.
type InputAttestation struct {
	Name   string `json:"name"`
	Digest string `json:"sha256"`
}

// Report is the verdict on one subject.
type Report struct {
	Subject      Subject    `json:"subject"`
	Passed       bool       `json:"passed"`
	Failures     []Failure  `json:"failures,omitempty"`
	Evidence     []Evidence `json:"evidence,omitempty"`
	PolicyDigest string     `json:"policyDigest"`
	// ByVSA is set when a trusted VSA stood in for a full evaluation.
	ByVSA bool `json:"byVSA,omitempty"`
	// VerifiedLevels are the levels a VSA written for this report claims.
	VerifiedLevels    []string           `json:"verifiedLevels,omitempty"`
	InputAttestations []InputAttestation `json:"inputAttestations,omitempty"`
}

// Verifier judges subjects against one policy.
type Verifier struct {
	pol  *policy.Policy
	root root.TrustedMaterial
	now  func() time.Time
}

// Option configures a Verifier.
type Option func(*Verifier)

// WithTrustedRoot sets the Sigstore trusted root for keyless signers and
// log evidence when the policy names none.
func WithTrustedRoot(tr root.TrustedMaterial) Option { return func(v *Verifier) { v.root = tr } }

// WithClock sets the clock used to judge attestation age.
func WithClock(now func() time.Time) Option { return func(v *Verifier) { v.now = now } }

// New returns a Verifier for pol. A trusted root named by the policy file
// takes precedence over WithTrustedRoot.
func New(pol *policy.Policy, opts ...Option) (*Verifier, error) {
	if pol == nil {
		return nil, errors.New("no policy")
	}
	v := &Verifier{pol: pol, now: time.Now}
	for _, o := range opts {
		o(v)
	}
	if p := pol.TrustedRootPath(); p != "" {
		tr, err := trustroot.Load(p)
		if err != nil {
			return nil, err
		}
		v.root = tr
	}
	return v, nil
}

// Verify judges subject using the attestations in the given file contents.
func (v *Verifier) Verify(ctx context.Context, subject Subject, attestations [][]byte) (*Report, error) {
	in := make([]Input, len(attestations))
	for i, a := range attestations {
		in[i] = Input{Name: fmt.Sprintf("attestation[%d]", i), Data: a}
	}
	return v.VerifyInputs(ctx, subject, in)
}

// VerifyInputs judges subject using named attestation files. It returns an
// error only for input it cannot read; a refusal is a Report that did not
// pass, with every reason in Failures.
func (v *Verifier) VerifyInputs(ctx context.Context, subject Subject, inputs []Input) (*Report, error) {
	if len(subject.Digests) == 0 {
		return nil, errors.New("the subject has no digest")
	}
	var atts []*attest.Attestation
	for _, in := range inputs {
		items, err := attest.Load(in.Name, in.Data)
		if err != nil {
			return nil, err
		}
		atts = append(atts, items...)
	}
	return v.evaluate(ctx, subject, atts), nil
}

// checked is one attestation after signature verification and its
// type-specific checks.
type checked struct {
	att *attest.Attestation
	// claimedType is the predicate type the statement claims, known before
	// its signature is checked; it only routes failure reasons to the
	// requirement they concern.
	claimedType string
	st          *attest.Statement
	pred        map[string]any
	role        Role
	signer      *policy.Signer
	res         *BundleResult
	// problems are the reasons this attestation cannot count, each with
	// the policy rule it breaks.
	problems []Failure
	level    int // achieved SLSA build level, provenance only
	evidence Evidence
}

func (c *checked) fail(rule, format string, args ...any) {
	c.problems = append(c.problems, Failure{Attestation: c.att.Name, Rule: rule, Reason: fmt.Sprintf(format, args...)})
}

func (v *Verifier) evaluate(ctx context.Context, subject Subject, atts []*attest.Attestation) *Report {
	r := &Report{Subject: subject, PolicyDigest: v.pol.Digest()}
	var all []*checked
	for _, a := range atts {
		if ctx.Err() != nil {
			r.Failures = append(r.Failures, Failure{Rule: "verification", Reason: ctx.Err().Error()})
			return r
		}
		r.InputAttestations = append(r.InputAttestations, InputAttestation{Name: a.Name, Digest: a.Digest()})
		all = append(all, v.check(a, subject))
	}

	// A trusted VSA that passes its checks stands in for a full evaluation.
	var vsaProblems []Failure
	for _, c := range all {
		if c.claimedType != attest.PredicateSLSAVSAV1 {
			continue
		}
		if c.role == RoleVerifier && len(c.problems) == 0 {
			r.Passed, r.ByVSA = true, true
			r.VerifiedLevels = vsaLevels(c.pred)
			r.Evidence = append(r.Evidence, c.evidence)
			return r
		}
		vsaProblems = append(vsaProblems, c.problems...)
	}

	// Full evaluation: every requirement needs an attestation without
	// problems.
	good := map[string][]*checked{}
	for _, c := range all {
		if c.st != nil && len(c.problems) == 0 {
			good[c.st.PredicateType] = append(good[c.st.PredicateType], c)
		}
	}
	for _, req := range v.requirements() {
		if req.satisfiedBy(good) {
			continue
		}
		var why []Failure
		for _, c := range all {
			// An attestation whose type could not even be read may be
			// the one that was meant to satisfy this requirement.
			if req.wants(c) || c.claimedType == "" {
				why = append(why, c.problems...)
			}
		}
		if len(why) == 0 {
			why = append(why, Failure{Rule: req.rule, Reason: fmt.Sprintf("no %s attestation for %s among %d given", req.label, subject, len(atts))})
		}
		r.Failures = append(r.Failures, why...)
	}
	// Attestations that verified but break a check are reported even when
	// another attestation satisfied the requirement: a verifier must not
	// hide that a trusted signer said something the policy refuses. Being
	// about another subject or too old is no such statement.
	for _, c := range all {
		if c.st == nil || c.signer == nil || len(c.problems) == 0 {
			continue
		}
		for _, p := range c.problems {
			if !slices.Contains(r.Failures, p) && p.Rule != "subject" && p.Rule != "require.maxAge" {
				r.Failures = append(r.Failures, p)
			}
		}
	}
	if len(r.Failures) == 0 {
		r.Failures = append(r.Failures, v.evalRules(subject, good)...)
	}
	if len(r.Failures) > 0 {
		r.Failures = append(r.Failures, vsaProblems...)
		return r
	}
	r.Passed = true
	level := 0
	for _, list := range good {
		for _, c := range list {
			r.Evidence = append(r.Evidence, c.evidence)
			if c.level > level {
				level = c.level
			}
		}
	}
	sort.Slice(r.Evidence, func(i, j int) bool { return r.Evidence[i].Name < r.Evidence[j].Name })
	if level > 0 {
		r.VerifiedLevels = append(r.VerifiedLevels, fmt.Sprintf("SLSA_BUILD_LEVEL_%d", level))
	}
	return r
}

// requirement is one thing the policy needs an attestation for.
type requirement struct {
	rule  string
	label string
	types []string
}

func (q requirement) wants(c *checked) bool {
	return slices.Contains(q.types, c.claimedType)
}

func (q requirement) satisfiedBy(good map[string][]*checked) bool {
	for _, t := range q.types {
		if len(good[t]) > 0 {
			return true
		}
	}
	return false
}

func (v *Verifier) requirements() []requirement {
	var out []requirement
	sawProv := false
	for _, r := range v.pol.Require.Attestations {
		out = append(out, requirement{rule: "require.attestations", label: r.Type, types: []string{r.Type}})
		sawProv = sawProv || isProvenance(r.Type)
	}
	if !sawProv && (v.pol.Require.SLSABuildLevel > 0 || v.pol.Require.Source != nil) {
		out = append(out, requirement{rule: "require.slsaBuildLevel/source", label: "SLSA provenance",
			types: []string{attest.PredicateSLSAProvenanceV1, attest.PredicateSLSAProvenanceV02}})
	}
	return out
}

// check verifies one attestation's signature against the signers allowed
// for its predicate type, then applies the checks for that type.
func (v *Verifier) check(a *attest.Attestation, subject Subject) *checked {
	c := &checked{att: a, evidence: Evidence{Name: a.Name, Digest: a.Digest()}}
	if a.Envelope == nil {
		c.fail("signature", "a message signature, not an attestation: it carries no statement to judge (verify it with verify-bundle)")
		return c
	}
	st, err := a.UnverifiedStatement()
	if err != nil {
		c.fail("statement", "%v", err)
		return c
	}
	pred, err := decodePredicate(st.Predicate)
	if err != nil {
		c.fail("statement", "%v", err)
		return c
	}
	c.claimedType = st.PredicateType
	claimed := claimedID(st.PredicateType, pred)
	role, signer, res, err := v.identify(a, st.PredicateType, claimed)
	if err != nil {
		c.fail("signature", "%v", err)
		return c
	}
	// Only now, with the signature verified, does the statement mean
	// anything.
	c.st, c.pred, c.role, c.signer, c.res = st, pred, role, signer, res
	c.evidence.PredicateType, c.evidence.Role, c.evidence.Signer = st.PredicateType, role, signer.ID

	if !subjectMatches(st, subject) {
		c.fail("subject", "names subject %s, not %s", strings.Join(st.SubjectDigests(), ", "), subject)
	}
	if v.pol.Require.TransparencyLog && res.TlogEntries == 0 {
		c.fail("require.transparencyLog", "has no verified transparency log entry")
	}
	// Provenance and VSAs name their builder or verifier; that claim must be
	// the trusted signer's own. Other predicates claim no such identity.
	pairs := isProvenance(st.PredicateType) || st.PredicateType == attest.PredicateSLSAVSAV1
	if pairs && !signer.MatchID(claimed) {
		c.fail("signers."+string(role)+"s", "signed by %s %q but claims %s %q: the signer and the %s it claims must be the same",
			role, signer.ID, role, claimed, role)
	}
	v.checkAge(c)
	switch {
	case isProvenance(st.PredicateType):
		v.checkProvenance(c)
	case st.PredicateType == attest.PredicateSLSAVSAV1:
		v.checkVSA(c)
	}
	return c
}

func subjectMatches(st *attest.Statement, s Subject) bool {
	for alg, val := range s.Digests {
		if st.MatchesDigest(alg, val) {
			return true
		}
	}
	return false
}

// identify finds the trusted signer of a, trying first the signers whose
// id the attestation claims. It returns an error naming why nobody trusted
// signed it.
func (v *Verifier) identify(a *attest.Attestation, predType, claimed string) (Role, *policy.Signer, *BundleResult, error) {
	type cand struct {
		role Role
		s    *policy.Signer
	}
	var cands []cand
	add := func(role Role, list []policy.Signer) {
		for i := range list {
			cands = append(cands, cand{role, &list[i]})
		}
	}
	switch {
	case isProvenance(predType):
		add(RoleBuilder, v.pol.Signers.Builders)
	case predType == attest.PredicateSLSAVSAV1:
		add(RoleVerifier, v.pol.Signers.Verifiers)
	default:
		add(RoleAttestor, v.pol.Signers.Attestors)
		add(RoleBuilder, v.pol.Signers.Builders)
		add(RoleVerifier, v.pol.Signers.Verifiers)
	}
	if len(cands) == 0 {
		return "", nil, nil, fmt.Errorf("the policy trusts no signer for predicate type %s", predType)
	}
	// Signers whose id matches the claim first, so that pairing succeeds
	// when the same key serves several ids.
	sort.SliceStable(cands, func(i, j int) bool {
		return cands[i].s.MatchID(claimed) && !cands[j].s.MatchID(claimed)
	})
	var errs []string
	for _, c := range cands {
		res, err := v.verifySignature(a, c.s)
		if err == nil {
			return c.role, c.s, res, nil
		}
		errs = append(errs, fmt.Sprintf("%s %s: %v", c.role, c.s.ID, err))
	}
	return "", nil, nil, fmt.Errorf("not signed by any signer the policy trusts for %s (%s)", predType, strings.Join(errs, "; "))
}

func (v *Verifier) verifySignature(a *attest.Attestation, s *policy.Signer) (*BundleResult, error) {
	keys := make([]attest.VerificationKey, len(s.Keys))
	for i, k := range s.Keys {
		keys[i] = attest.VerificationKey{Public: k.Public()}
		if k.KeyID != nil {
			keys[i].KeyID, keys[i].CheckKeyID = *k.KeyID, true
		}
	}
	if a.Bundle == nil {
		// A bare DSSE envelope: keys only, and no log evidence.
		if len(keys) == 0 {
			return nil, errors.New("a bare DSSE envelope cannot prove a keyless identity")
		}
		if _, err := a.Envelope.Verify(keys); err != nil {
			return nil, err
		}
		return &BundleResult{Key: 0}, nil
	}
	var errs []error
	if len(keys) > 0 {
		res, err := CheckBundle(a.Bundle, sgverify.WithoutArtifactUnsafe(), BundleTrust{Keys: keys, TrustedRoot: v.root, RequireTlog: v.pol.Require.TransparencyLog})
		if err == nil {
			return res, nil
		}
		errs = append(errs, err)
	}
	for _, id := range s.Identities {
		if v.root == nil {
			errs = append(errs, errors.New("keyless identity but no trusted root"))
			break
		}
		res, err := CheckBundle(a.Bundle, sgverify.WithoutArtifactUnsafe(), BundleTrust{
			Identity:    &Identity{SAN: id.Subject, SANRegexp: id.SubjectRegexp, Issuer: id.Issuer, IssuerRegexp: id.IssuerRegexp},
			TrustedRoot: v.root,
		})
		if err == nil {
			return res, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func (v *Verifier) checkAge(c *checked) {
	var t time.Time
	src := ""
	for _, ot := range c.res.Times {
		if t.IsZero() || ot.Time.Before(t) {
			t, src = ot.Time, ot.Source
		}
	}
	if t.IsZero() {
		if ct, ok := claimedTime(c.st.PredicateType, c.pred); ok {
			t, src = ct, "signer-claimed"
		}
	}
	c.evidence.Time, c.evidence.TimeSource = t, src
	max := v.pol.Require.MaxAge.Duration
	if max == 0 {
		return
	}
	if t.IsZero() {
		c.fail("require.maxAge", "carries no time (no log entry, no timestamp, no signed time) to judge its age by")
		return
	}
	if age := v.now().Sub(t); age > max {
		c.fail("require.maxAge", "made %s (%s time), %s ago: older than the %s allowed", t.UTC().Format(time.RFC3339), src, age.Round(time.Second), max)
	}
}

func (v *Verifier) checkProvenance(c *checked) {
	level := c.signer.Level()
	switch cl := claimedLevel(c.st.PredicateType, c.pred); {
	case cl < 0:
		c.fail("require.slsaBuildLevel", "records a malformed slsaBuildLevel")
		level = 0
	case cl > 0 && cl < level:
		level = cl
	}
	c.level = level
	if want := v.pol.Require.SLSABuildLevel; want > 0 && level < want {
		c.fail("require.slsaBuildLevel", "reaches SLSA build level %d, the policy requires %d", level, want)
	}
	src := v.pol.Require.Source
	if src == nil {
		return
	}
	uri, ref := provenanceSource(c.st.PredicateType, c.pred)
	if uri == "" {
		c.fail("require.source", "names no source repository")
		return
	}
	got, uriRef := policy.CanonicalURI(uri)
	if ref == "" {
		ref = uriRef
	}
	if want, _ := policy.CanonicalURI(src.Repository); got != want {
		c.fail("require.source.repository", "built from %q, the policy requires %q", got, want)
	}
	if len(src.Refs) == 0 {
		return
	}
	for _, p := range src.Refs {
		if policy.RefMatches(p, ref) {
			return
		}
	}
	if ref == "" {
		c.fail("require.source.refs", "names no source ref; the policy allows only %s", strings.Join(src.Refs, ", "))
		return
	}
	c.fail("require.source.refs", "built from ref %q, the policy allows only %s", ref, strings.Join(src.Refs, ", "))
}

func (v *Verifier) checkVSA(c *checked) {
	if res := str(c.pred, "verificationResult"); res != "PASSED" {
		c.fail("vsa.verificationResult", "verification result is %q, not PASSED", res)
	}
	levels := vsaLevels(c.pred)
	if want := v.pol.Require.SLSABuildLevel; want > 0 {
		ok := false
		for _, l := range levels {
			if n, isBuild := buildLevelOf(l); isBuild && n >= want {
				ok = true
			}
		}
		if !ok {
			c.fail("require.slsaBuildLevel", "verified levels %v do not reach SLSA_BUILD_LEVEL_%d", levels, want)
		}
	}
	for _, want := range v.pol.Require.VerifiedLevels {
		if !slices.Contains(levels, want) {
			c.fail("require.verifiedLevels", "verified levels %v lack %s", levels, want)
		}
	}
	if want := v.pol.Require.ResourceURI; want != "" {
		if got := str(c.pred, "resourceUri"); got != want {
			c.fail("require.resourceURI", "resourceUri is %q, the policy requires %q", got, want)
		}
	}
}

func (v *Verifier) evalRules(subject Subject, good map[string][]*checked) []Failure {
	digests := map[string]any{}
	for k, val := range subject.Digests {
		digests[k] = val
	}
	vars := map[string]any{
		"subject":    map[string]any{"name": subject.Name, "digests": digests},
		"provenance": map[string]any{},
	}
	var list []any
	var types []string
	for t := range good {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		for _, c := range good[t] {
			list = append(list, map[string]any{
				"name": c.att.Name, "predicateType": t, "predicate": c.pred,
				"signer": map[string]any{"role": string(c.role), "id": c.signer.ID},
			})
			if isProvenance(t) && len(vars["provenance"].(map[string]any)) == 0 {
				vars["provenance"] = c.pred
			}
		}
	}
	if list == nil {
		list = []any{}
	}
	vars["attestations"] = list
	var out []Failure
	for _, rr := range v.pol.EvalRules(vars) {
		switch {
		case rr.Err != nil:
			out = append(out, Failure{Rule: "rules." + rr.Rule.Name, Reason: fmt.Sprintf("could not be evaluated (%v), so it fails", rr.Err)})
		case !rr.Passed:
			msg := rr.Rule.Message
			if msg == "" {
				msg = "expression is false: " + rr.Rule.Expr
			}
			out = append(out, Failure{Rule: "rules." + rr.Rule.Name, Reason: msg})
		}
	}
	return out
}
