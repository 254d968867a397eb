package pipeline

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"

	"github.com/pipeguard/pipeguard/internal/attest"
	"github.com/pipeguard/pipeguard/internal/build"
	"github.com/pipeguard/pipeguard/internal/home"
	"github.com/pipeguard/pipeguard/internal/policy"
	"github.com/pipeguard/pipeguard/internal/verify"
)

// Builder is what the build gate needs; *build.Builder is one.
type Builder interface {
	Build(ctx context.Context, req build.Request) (*build.Result, error)
}

// BuildGate builds the commit in the sandbox and writes its signed
// provenance.
type BuildGate struct {
	Builder Builder
}

// Name implements Gate.
func (BuildGate) Name() string { return "build" }

// ProvenanceFile is the provenance bundle's name in the artifacts folder.
const ProvenanceFile = "provenance.sigstore.json"

// Run implements Gate.
func (g BuildGate) Run(ctx context.Context, st *State) Outcome {
	c := st.Config.Build
	arts := make([]string, len(c.Artifacts))
	for i, a := range c.Artifacts {
		arts[i] = st.repoPath(a)
	}
	res, err := g.Builder.Build(ctx, build.Request{
		Source: st.Dir, AllowDirty: st.AllowDirty, Command: c.Command, Artifacts: arts,
		Hermetic: st.Config.HermeticBuild(), Fetch: c.Fetch, Env: c.Env, ArtifactsDir: st.ArtifactsDir,
	})
	logPath := filepath.Join(st.ArtifactsDir, "build.log")
	var se *build.StepError
	var re *build.RejectedError
	switch {
	case errors.As(err, &se):
		os.MkdirAll(st.ArtifactsDir, 0o755)
		home.WriteFileAtomic(logPath, se.Log, 0o644)
		return Outcome{Status: StatusFail, Summary: se.Error() + "; no provenance written", Files: []string{logPath}}
	case errors.As(err, &re):
		return failedOutcome(re.Error() + "; no provenance written")
	case err != nil:
		return erroredOutcome(err)
	}
	p := res.Provenance
	if got := p.BuildDefinition.ExternalParameters.Source.Digest["gitCommit"]; got != st.Source.Commit {
		return erroredOutcome(fmt.Errorf("built commit %s, but the run was prepared for %s (HEAD moved?)", got, st.Source.Commit))
	}
	if err := home.WriteFileAtomic(logPath, res.Log, 0o644); err != nil {
		return erroredOutcome(err)
	}
	bundlePath := filepath.Join(st.ArtifactsDir, ProvenanceFile)
	data, err := writeBundle(bundlePath, res.Bundle)
	if err != nil {
		return erroredOutcome(err)
	}
	for i, s := range res.Subjects {
		st.Artifacts = append(st.Artifacts, Artifact{Name: s.Name, Path: res.Artifacts[i]})
	}
	st.Attestations = append(st.Attestations, Attestation{Name: ProvenanceFile, Path: bundlePath, Data: data})
	st.Provenance = p
	level := p.BuildDefinition.InternalParameters.SLSABuildLevel
	sum := fmt.Sprintf("built %d artifact(s) in the sandbox: SLSA Build L%d by %s", len(res.Subjects), level, p.RunDetails.Builder.ID)
	var details []string
	if res.Degraded {
		details = append(details, "WARNING: the step ran WITHOUT isolation ("+p.BuildDefinition.InternalParameters.Isolation.Reason+")")
	}
	for i, s := range res.Subjects {
		details = append(details, fmt.Sprintf("%s  sha256:%s", res.Artifacts[i], s.Digest["sha256"]))
	}
	return passed(sum, []string{bundlePath, logPath}, details...)
}

func writeBundle(p string, b *protobundle.Bundle) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	data, err := attest.MarshalBundle(b)
	if err != nil {
		return nil, err
	}
	data = append(data, '\n')
	return data, home.WriteFileAtomic(p, data, 0o644)
}

// VSASigner signs VSAs; the home's *sign.Signer via verify.SignVSA.
type VSASigner func(ctx context.Context, r *verify.Report, verifierID, resourceURI string) (*protobundle.Bundle, error)

// VerifyGate judges every artifact, as it is on disk now, against the
// committed policy using every attestation gathered, and writes a signed
// VSA for each that passes.
type VerifyGate struct {
	// HomeKeyPEM is this machine's builder public key, offered to the
	// policy under the name .pipeguard.yaml's verify.homeKeyAs gives.
	HomeKeyPEM []byte
	SignVSA    VSASigner
	VerifierID string
}

// Name implements Gate.
func (VerifyGate) Name() string { return "verify" }

// Run implements Gate.
func (g VerifyGate) Run(ctx context.Context, st *State) Outcome {
	if len(st.Artifacts) == 0 {
		return erroredOutcome(errNoArtifacts)
	}
	pol, polPath, err := g.loadPolicy(ctx, st)
	if err != nil {
		return erroredOutcome(err)
	}
	v, err := verify.New(pol)
	if err != nil {
		return erroredOutcome(err)
	}
	var inputs []verify.Input
	for _, a := range st.Attestations {
		inputs = append(inputs, verify.Input{Name: a.Name, Data: a.Data})
	}
	var files, details []string
	failed := false
	for _, a := range st.Artifacts {
		// Hash the file as it is now: whatever happened to it after the
		// build signed it is judged here.
		subject, err := hashFile(a)
		if err != nil {
			return erroredOutcome(err)
		}
		rep, err := v.VerifyInputs(ctx, subject, inputs)
		if err != nil {
			return erroredOutcome(err)
		}
		if !rep.Passed {
			failed = true
			details = append(details, fmt.Sprintf("%s: FAIL", a.Name))
			for _, f := range rep.Failures {
				details = append(details, "  "+f.String())
			}
			continue
		}
		b, err := g.SignVSA(ctx, rep, g.VerifierID, a.Name)
		if err != nil {
			return erroredOutcome(fmt.Errorf("signing the VSA for %s: %w", a.Name, err))
		}
		vsaPath := filepath.Join(st.ArtifactsDir, "vsa", filepath.FromSlash(a.Name)+".sigstore.json")
		data, err := writeBundle(vsaPath, b)
		if err != nil {
			return erroredOutcome(err)
		}
		st.Attestations = append(st.Attestations, Attestation{Name: "vsa/" + a.Name, Path: vsaPath, Data: data})
		files = append(files, vsaPath)
		details = append(details, fmt.Sprintf("%s: PASS (%s), VSA %s", a.Name, strings.Join(rep.VerifiedLevels, ", "), vsaPath))
	}
	polDesc := fmt.Sprintf("policy %s (sha256:%s)", polPath, pol.Digest())
	if failed {
		return Outcome{Status: StatusFail, Summary: "refused by " + polDesc, Details: details, Files: files}
	}
	return passed(fmt.Sprintf("%d artifact(s) satisfy %s", len(st.Artifacts), polDesc), files, details...)
}

// loadPolicy reads the policy from the commit (not the working tree) into
// a private directory, adding the home's public key under the name the
// pipeline file gives, and loads it from there.
func (g VerifyGate) loadPolicy(ctx context.Context, st *State) (*policy.Policy, string, error) {
	rel := st.repoPath(st.Config.Verify.Policy)
	data, err := st.Source.ReadFile(ctx, st.Source.Repo, rel)
	if err != nil {
		return nil, rel, fmt.Errorf("reading the committed policy %s (is it committed?): %w", rel, err)
	}
	dir, err := os.MkdirTemp("", "pipeguard-policy-")
	if err != nil {
		return nil, rel, err
	}
	defer os.RemoveAll(dir)
	if k := st.Config.Verify.HomeKeyAs; k != "" {
		if _, err := st.Source.ReadFile(ctx, st.Source.Repo, path.Join(path.Dir(rel), k)); err == nil {
			return nil, rel, fmt.Errorf("verify.homeKeyAs %q names a committed file; choose a name that is not in the repository", k)
		}
		if len(g.HomeKeyPEM) == 0 {
			return nil, rel, errors.New("verify.homeKeyAs is set but no home key was given")
		}
		if err := os.WriteFile(filepath.Join(dir, k), g.HomeKeyPEM, 0o644); err != nil {
			return nil, rel, err
		}
	}
	p := filepath.Join(dir, path.Base(rel))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return nil, rel, err
	}
	pol, err := policy.Load(p)
	if err != nil {
		return nil, rel, fmt.Errorf("committed policy %s: %w", rel, err)
	}
	if pol.Digest() != sha256Hex(data) {
		return nil, rel, errors.New("the loaded policy is not the committed one")
	}
	return pol, rel, nil
}

func hashFile(a Artifact) (verify.Subject, error) {
	f, err := os.Open(a.Path)
	if err != nil {
		return verify.Subject{}, fmt.Errorf("reading artifact %s: %w", a.Name, err)
	}
	defer f.Close()
	h256, h512 := sha256.New(), sha512.New()
	if _, err := io.Copy(io.MultiWriter(h256, h512), f); err != nil {
		return verify.Subject{}, fmt.Errorf("hashing artifact %s: %w", a.Name, err)
	}
	return verify.Subject{Name: a.Name, Digests: map[string]string{
		"sha256": hex.EncodeToString(h256.Sum(nil)),
		"sha512": hex.EncodeToString(h512.Sum(nil)),
	}}, nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
