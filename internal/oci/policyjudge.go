package oci

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/pipeguard/pipeguard/internal/attest"

	"github.com/pipeguard/pipeguard/internal/verify"
)

// PolicyJudge adapts pipeguard's policy verifier to a Judge. The verdict's
// Evidence is the *verify.Report, from which a VSA can be signed.
func PolicyJudge(v *verify.Verifier) Judge { return policyJudge{v} }

type policyJudge struct{ v *verify.Verifier }

func (p policyJudge) Judge(ctx context.Context, s Subject, atts []Attachment) (*Verdict, error) {
	subject := verify.Subject{Name: s.Name, Digests: map[string]string{s.Digest.Algorithm: s.Digest.Hex}}
	in := make([]verify.Input, len(atts))
	for i, a := range atts {
		in[i] = verify.Input{Name: a.Label(i), Data: a.Data}
	}
	r, err := p.v.VerifyInputs(ctx, subject, in)
	var unreadable []Failure
	if err != nil {
		// Anyone who can push to the repository can attach anything; one
		// unreadable attachment must not stop the others from counting.
		// Those are set aside (and reported if the image is refused), and
		// the rest judged. Checked only on error: parsing every input
		// twice would cost each cold verification.
		kept := in[:0:0]
		for _, x := range in {
			if _, lerr := attest.Load(x.Name, x.Data); lerr != nil {
				unreadable = append(unreadable, Failure{Attestation: x.Name, Rule: "readable", Reason: lerr.Error()})
				continue
			}
			kept = append(kept, x)
		}
		if len(unreadable) == 0 {
			return nil, err
		}
		if r, err = p.v.VerifyInputs(ctx, subject, kept); err != nil {
			return nil, err
		}
	}
	out := &Verdict{Passed: r.Passed, VerifiedLevels: r.VerifiedLevels, Evidence: r}
	for _, f := range r.Failures {
		out.Failures = append(out.Failures, Failure{Attestation: f.Attestation, Rule: f.Rule, Reason: f.Reason})
	}
	if !r.Passed {
		out.Failures = append(out.Failures, unreadable...)
	}
	return out, nil
}

// VSAReport returns the policy report a VSA for a passing image result is
// signed from, about the reference's own digest. When an index passed
// because each of its platforms did, the report for the index combines
// theirs: it is verified exactly when all of them are, at the lowest level
// any of them reached.
func VSAReport(res *ImageResult) (*verify.Report, error) {
	if !res.Passed || len(res.Results) == 0 {
		return nil, errors.New("a VSA is only written for an image that passed")
	}
	subject := verify.Subject{Name: res.Resolved.Ref.Context().Name(), Digests: map[string]string{res.Resolved.Digest.Algorithm: res.Resolved.Digest.Hex}}
	top := res.Results[0]
	if top.Verdict.Passed {
		r, ok := top.Verdict.Evidence.(*verify.Report)
		if !ok {
			return nil, errors.New("the verdict carries no policy report")
		}
		return r, nil
	}
	out := &verify.Report{Subject: subject, Passed: true}
	var levels []string
	for i, d := range res.Results[1:] {
		r, ok := d.Verdict.Evidence.(*verify.Report)
		if !ok || !r.Passed {
			return nil, fmt.Errorf("platform %s did not pass", d.Platform)
		}
		out.PolicyDigest = r.PolicyDigest
		out.Evidence = append(out.Evidence, r.Evidence...)
		out.InputAttestations = append(out.InputAttestations, r.InputAttestations...)
		if i == 0 {
			levels = slices.Clone(r.VerifiedLevels)
		} else {
			levels = slices.DeleteFunc(levels, func(l string) bool { return !slices.Contains(r.VerifiedLevels, l) })
		}
	}
	out.VerifiedLevels = levels
	return out, nil
}
