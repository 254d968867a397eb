package oci

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pipeguard/pipeguard/internal/attest"
)

// Judge evaluates a policy over the attestations found for one subject.
// It is the one thing this package needs from the policy verifier; pipeguard
// wires internal/verify in (see cmd/pipeguard).
type Judge interface {
	Judge(ctx context.Context, subject Subject, attachments []Attachment) (*Verdict, error)
}

// Subject is an image digest and the repository it was found under.
type Subject struct {
	Name   string // repository, e.g. registry.example/team/app
	Digest v1.Hash
}

// Verdict is a Judge's answer for one subject.
type Verdict struct {
	Passed         bool
	Failures       []Failure
	VerifiedLevels []string
	// Evidence is anything the judge wants to keep (for example its full
	// report, to sign a VSA from).
	Evidence any
}

// Failure is one rule an attestation (or the lack of one) failed.
type Failure struct {
	Attestation string
	Rule        string
	Reason      string
}

func (f Failure) String() string {
	s := f.Rule
	if f.Attestation != "" {
		s = f.Attestation + ": " + s
	}
	if f.Reason != "" {
		s += ": " + f.Reason
	}
	return s
}

// DigestResult is the verdict on one digest of an image.
type DigestResult struct {
	Digest      v1.Hash
	Platform    string // "" for the reference's own digest
	Attachments int
	Verdict     *Verdict
}

// ImageResult is the verdict on an image reference.
type ImageResult struct {
	Resolved *Resolved
	Passed   bool
	// Results holds the reference's own digest first, then (for an index
	// whose own digest did not pass) each platform's.
	Results []DigestResult
}

// Failures lists every failure; those of a platform of an index are
// prefixed with the platform and its digest.
func (r *ImageResult) Failures() []string {
	var out []string
	for _, d := range r.Results {
		if d.Verdict == nil || d.Verdict.Passed {
			continue
		}
		where := ""
		if d.Platform != "" {
			where = d.Platform + " " + d.Digest.String() + ": "
		}
		if len(d.Verdict.Failures) == 0 {
			out = append(out, where+"policy not satisfied")
		}
		for _, f := range d.Verdict.Failures {
			out = append(out, where+f.String())
		}
	}
	return out
}

// ErrNoAttestations is wrapped in a failure when nothing is attached.
var ErrNoAttestations = errors.New("no attestations found")

// VerifyImage resolves ref, discovers its attestations and judges them.
// The reference's own digest is judged first; an index whose own digest
// fails passes only if every platform it lists passes on its own
// attestations. Registry errors are returned as errors (fail closed).
func (c *Client) VerifyImage(ctx context.Context, ref name.Reference, j Judge) (*ImageResult, error) {
	res, err := c.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	return c.VerifyResolved(ctx, res, j)
}

// VerifyDigest is VerifyImage for a digest reference, saving a registry
// round trip when it can: the digest's own attestations are judged first,
// and the manifest is fetched (to learn whether it is an index whose
// platforms might pass instead) only when they do not pass. The admission
// webhook's cold path is this one.
func (c *Client) VerifyDigest(ctx context.Context, d name.Digest, j Judge) (*ImageResult, error) {
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		return nil, fmt.Errorf("verifying %s: %w", d, err)
	}
	top, err := c.judgeDigest(ctx, d.Context(), h, "", j)
	if err != nil {
		return nil, err
	}
	if top.Verdict.Passed {
		return &ImageResult{Resolved: &Resolved{Ref: d, Digest: h}, Passed: true, Results: []DigestResult{*top}}, nil
	}
	res, err := c.Resolve(ctx, d)
	if err != nil {
		return nil, err
	}
	return c.verifyPlatforms(ctx, res, top, j)
}

// VerifyResolved is VerifyImage for an already resolved reference.
func (c *Client) VerifyResolved(ctx context.Context, res *Resolved, j Judge) (*ImageResult, error) {
	top, err := c.judgeDigest(ctx, res.Ref.Context(), res.Digest, "", j)
	if err != nil {
		return nil, err
	}
	return c.verifyPlatforms(ctx, res, top, j)
}

// verifyPlatforms completes a result whose own digest was judged as top.
func (c *Client) verifyPlatforms(ctx context.Context, res *Resolved, top *DigestResult, j Judge) (*ImageResult, error) {
	out := &ImageResult{Resolved: res}
	out.Results = append(out.Results, *top)
	if top.Verdict.Passed {
		out.Passed = true
		return out, nil
	}
	if !res.Index || len(res.Platforms) == 0 {
		return out, nil
	}
	all := true
	for _, p := range res.Platforms {
		r, err := c.judgeDigest(ctx, res.Ref.Context(), p.Digest, p.Platform, j)
		if err != nil {
			return nil, err
		}
		out.Results = append(out.Results, *r)
		all = all && r.Verdict.Passed
	}
	out.Passed = all
	return out, nil
}

func (c *Client) judgeDigest(ctx context.Context, repo name.Repository, d v1.Hash, platform string, j Judge) (*DigestResult, error) {
	atts, err := c.Discover(ctx, repo.Digest(d.String()))
	if err != nil {
		return nil, err
	}
	r := &DigestResult{Digest: d, Platform: platform, Attachments: len(atts)}
	if len(atts) == 0 {
		r.Verdict = &Verdict{Failures: []Failure{{Rule: "attestations", Reason: ErrNoAttestations.Error()}}}
		return r, nil
	}
	subject := Subject{Name: repo.Name(), Digest: d}
	// A trusted VSA stands in for a full evaluation, so judge the VSAs
	// alone first: when one passes, nothing else needs its signature
	// checked. This is what keeps a cold admission of a verified image cheap.
	if vsas := vsaAttachments(atts); len(vsas) > 0 && len(vsas) < len(atts) {
		if v, err := j.Judge(ctx, subject, vsas); err == nil && v != nil && v.Passed {
			r.Verdict = v
			return r, nil
		}
	}
	v, err := j.Judge(ctx, subject, atts)
	if err != nil {
		return nil, fmt.Errorf("judging %s@%s: %w", repo, d, err)
	}
	if v == nil {
		return nil, fmt.Errorf("judging %s@%s: no verdict", repo, d)
	}
	r.Verdict = v
	return r, nil
}

// DigestString is the reference pinned to the digest it resolved to.
func (r *ImageResult) DigestString() string { return r.Resolved.DigestRef().String() }

// vsaAttachments picks the attachments that say they hold a SLSA VSA.
func vsaAttachments(atts []Attachment) []Attachment {
	var out []Attachment
	for _, a := range atts {
		if a.PredicateType == attest.PredicateSLSAVSAV1 {
			out = append(out, a)
		}
	}
	return out
}
