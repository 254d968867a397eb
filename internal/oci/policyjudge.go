package oci

import (
	"context"
	"strconv"

	"github.com/pipeguard/pipeguard/internal/attest"

	"github.com/pipeguard/pipeguard/internal/verify"
)

// PolicyJudge adapts pipeguard's policy verifier to a Judge. The verdict's
// Evidence is the *verify.Report, from which a VSA can be signed.
func PolicyJudge(v *verify.Verifier) Judge { return policyJudge{v} }

type policyJudge struct{ v *verify.Verifier }

func (p policyJudge) Judge(ctx context.Context, s Subject, atts [][]byte) (*Verdict, error) {
	var in []verify.Input
	var unreadable []Failure
	for i, a := range atts {
		name := s.Name + "@" + s.Digest.String() + " attachment " + strconv.Itoa(i+1)
		// Anyone who can push to the repository can attach anything; one
		// unreadable attachment must not stop the others from counting.
		// It is skipped, and reported if the image is refused.
		if _, err := attest.Load(name, a); err != nil {
			unreadable = append(unreadable, Failure{Attestation: name, Rule: "readable", Reason: err.Error()})
			continue
		}
		in = append(in, verify.Input{Name: name, Data: a})
	}
	r, err := p.v.VerifyInputs(ctx, verify.Subject{Name: s.Name, Digests: map[string]string{s.Digest.Algorithm: s.Digest.Hex}}, in)
	if err != nil {
		return nil, err
	}
	out := &Verdict{Passed: r.Passed, VerifiedLevels: r.VerifiedLevels, Evidence: r}
	if !r.Passed {
		out.Failures = append(out.Failures, unreadable...)
	}
	for _, f := range r.Failures {
		out.Failures = append(out.Failures, Failure{Attestation: f.Attestation, Rule: f.Rule, Reason: f.Reason})
	}
	return out, nil
}
