package pipeline

import (
	"context"

	"fmt"
	"os"
	"path/filepath"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"

	"github.com/pipeguard/pipeguard/internal/attest"
	"github.com/pipeguard/pipeguard/internal/build"
	"github.com/pipeguard/pipeguard/internal/secrets"
	"github.com/pipeguard/pipeguard/internal/sign"
	"github.com/pipeguard/pipeguard/internal/verify"
)

// SecretScanFile is the secret-scan attestation's name in the artifacts
// folder.
const SecretScanFile = "secret-scan.sigstore.json"

// SecretScanGate scans the project folder of the exact commit being built
// for leaked secrets and writes a signed attestation of the result
// (redacted findings only) about the artifacts and the commit, so that a
// policy can require a clean scan. It fails the run when the scan finds
// anything. The folder, not the whole repository, is what the run builds;
// whole-history scans of a repository are `pipeguard secrets scan --git`.
type SecretScanGate struct {
	// Scan scans a directory tree; secrets.ScanTree with the home's
	// fingerprint key is the real one.
	Scan func(ctx context.Context, dir string) (*secrets.Predicate, error)
	// Signer signs the attestation (the home's key).
	Signer build.Signer
}

// Name implements Gate.
func (SecretScanGate) Name() string { return "secrets" }

// Run implements Gate.
func (g SecretScanGate) Run(ctx context.Context, st *State) Outcome {
	if len(st.Artifacts) == 0 {
		return erroredOutcome(errNoArtifacts)
	}
	// The commit, never the working tree: that is what was built, and the
	// working tree holds this run's own outputs.
	tree, err := os.MkdirTemp("", "pipeguard-scan-")
	if err != nil {
		return erroredOutcome(err)
	}
	defer os.RemoveAll(tree)
	dir := filepath.Join(tree, "src")
	if err := st.Source.Checkout(ctx, dir, st.Source.Commit); err != nil {
		return erroredOutcome(fmt.Errorf("checking out %s to scan it: %w", st.Source.Commit, err))
	}
	scanned := dir
	if st.Source.Path != "" {
		scanned = filepath.Join(dir, filepath.FromSlash(st.Source.Path))
	}
	pred, err := g.Scan(ctx, scanned)
	if err != nil {
		return erroredOutcome(fmt.Errorf("scanning for secrets: %w", err))
	}
	subjects := []attest.Subject{{Name: st.Source.URI, Digest: map[string]string{"gitCommit": st.Source.Commit}}}
	for _, a := range st.Artifacts {
		s, err := hashFile(a)
		if err != nil {
			return erroredOutcome(err)
		}
		subjects = append(subjects, attest.Subject{Name: a.Name, Digest: map[string]string{"sha256": s.Digests["sha256"]}})
	}
	stmt, err := attest.NewStatement(subjects, secrets.PredicateType, pred)
	if err != nil {
		return erroredOutcome(err)
	}
	b, err := g.Signer.DSSE(ctx, attest.PayloadType, stmt)
	if err != nil {
		return erroredOutcome(fmt.Errorf("signing the secret-scan attestation: %w", err))
	}
	p := filepath.Join(st.ArtifactsDir, SecretScanFile)
	data, err := writeBundle(p, b)
	if err != nil {
		return erroredOutcome(err)
	}
	st.Attestations = append(st.Attestations, Attestation{Name: SecretScanFile, Path: p, Data: data})
	if n := len(pred.Findings); n > 0 {
		details := make([]string, 0, n)
		for _, f := range pred.Findings {
			details = append(details, fmt.Sprintf("%s:%d  %s  %s", f.Path, f.Line, f.Rule, f.Redacted))
		}
		return Outcome{Status: StatusFail, Summary: fmt.Sprintf("%d leaked secret(s) in %s of commit %s (attested in %s)", n, folder(st), short(st.Source.Commit), p),
			Details: details, Files: []string{p}}
	}
	return passed(fmt.Sprintf("no leaked secrets in %s of commit %s (%d rules, %s)", folder(st), short(st.Source.Commit), pred.Rules, pred.Scanner.Ruleset), []string{p})
}

func folder(st *State) string {
	if st.Source.Path == "" {
		return "the repository"
	}
	return st.Source.Path + "/"
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}

// Standard returns the gates of `pipeguard run`: the sandboxed build, the
// secret scan of the commit, any extra gates, then verification against the
// committed policy with a VSA per artifact. s signs the attestations and
// VSAs, fpKey keys the fingerprints of secrets, homeKeyPEM is offered to
// the policy as .pipeguard.yaml's verify.homeKeyAs.
func Standard(b Builder, s *sign.Signer, fpKey, homeKeyPEM []byte, extra ...Gate) []Gate {
	gates := []Gate{
		BuildGate{Builder: b},
		SecretScanGate{Signer: s, Scan: func(ctx context.Context, dir string) (*secrets.Predicate, error) {
			return secrets.ScanTree(ctx, dir, fpKey)
		}},
	}
	gates = append(gates, extra...)
	return append(gates, VerifyGate{
		HomeKeyPEM: homeKeyPEM,
		VerifierID: verify.DefaultVerifierID,
		SignVSA: func(ctx context.Context, r *verify.Report, id, uri string) (*protobundle.Bundle, error) {
			return verify.SignVSA(ctx, s, r, id, uri)
		},
	})
}
