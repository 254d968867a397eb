package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"path/filepath"

	"github.com/pipeguard/pipeguard/internal/build"
)

// Status is a gate's verdict.
type Status string

// Gate verdicts. A failed gate found a problem (exit 1); an errored gate
// could not do its work (exit 2); gates after either are skipped.
const (
	StatusPass    Status = "pass"
	StatusFail    Status = "fail"
	StatusError   Status = "error"
	StatusSkipped Status = "skipped"
)

// Gate is one check of the guarded pipeline. Gates run in order over a
// shared State; each may add artifacts and attestations for the gates after
// it. The verification gate comes last and judges everything gathered.
type Gate interface {
	Name() string
	Run(ctx context.Context, st *State) Outcome
}

// Outcome is what one gate reports.
type Outcome struct {
	Gate    string   `json:"gate"`
	Status  Status   `json:"status"`
	Summary string   `json:"summary"`
	Details []string `json:"details,omitempty"`
	// Files are what the gate wrote (attestations, VSAs, logs).
	Files []string `json:"files,omitempty"`
}

func passed(summary string, files []string, details ...string) Outcome {
	return Outcome{Status: StatusPass, Summary: summary, Files: files, Details: details}
}

func failedOutcome(summary string, details ...string) Outcome {
	return Outcome{Status: StatusFail, Summary: summary, Details: details}
}

func erroredOutcome(err error) Outcome { return Outcome{Status: StatusError, Summary: err.Error()} }

// Artifact is one output handed out by the build.
type Artifact struct {
	// Name is the path relative to the workspace (repository) root, the
	// subject name in attestations.
	Name string `json:"name"`
	// Path is the copy on disk.
	Path string `json:"path"`
}

// Attestation is one signed attestation file gathered by a gate.
type Attestation struct {
	Name string `json:"name"`
	Path string `json:"path"`
	Data []byte `json:"-"`
}

// State is what the gates share.
type State struct {
	// Dir is the project folder; Config its committed .pipeguard.yaml.
	Dir    string
	Config *Config
	// Source is the commit the run builds.
	Source     *build.Source
	AllowDirty bool
	// ArtifactsDir receives outputs and attestations.
	ArtifactsDir string
	Artifacts    []Artifact
	Attestations []Attestation
	Provenance   *build.Provenance
	// ConfigDigest is the sha256 of the committed .pipeguard.yaml.
	ConfigDigest string
}

// Report is the result of a run.
type Report struct {
	Dir      string     `json:"dir"`
	Source   string     `json:"source"`
	Commit   string     `json:"commit"`
	Path     string     `json:"path,omitempty"`
	Passed   bool       `json:"passed"`
	Outcomes []Outcome  `json:"gates"`
	Artifact []Artifact `json:"artifacts,omitempty"`
}

// Failed reports whether a gate found a problem; Errored whether one
// could not run.
func (r *Report) Failed() bool  { return r.has(StatusFail) }
func (r *Report) Errored() bool { return r.has(StatusError) }

func (r *Report) has(s Status) bool {
	for _, o := range r.Outcomes {
		if o.Status == s {
			return true
		}
	}
	return false
}

// Pipeline is an ordered list of gates.
type Pipeline struct {
	gates []Gate
	log   *slog.Logger
}

// New returns a pipeline running gates in order.
func New(log *slog.Logger, gates ...Gate) *Pipeline {
	if log == nil {
		log = slog.Default()
	}
	return &Pipeline{gates: gates, log: log}
}

// Run runs every gate until one fails or errors; the rest are skipped.
func (p *Pipeline) Run(ctx context.Context, st *State) *Report {
	r := &Report{Dir: st.Dir, Source: st.Source.URI, Commit: st.Source.Commit, Path: st.Source.Path}
	stop := false
	for _, g := range p.gates {
		if stop {
			r.Outcomes = append(r.Outcomes, Outcome{Gate: g.Name(), Status: StatusSkipped, Summary: "not run: an earlier gate did not pass"})
			continue
		}
		p.log.Debug("running gate", "gate", g.Name())
		o := g.Run(ctx, st)
		o.Gate = g.Name()
		r.Outcomes = append(r.Outcomes, o)
		if o.Status != StatusPass {
			stop = true
		}
	}
	r.Passed = !stop && len(p.gates) > 0
	r.Artifact = st.Artifacts
	return r
}

// Prepare resolves the project folder's source (its repository at HEAD;
// a dirty tree is refused unless allowDirty) and reads its committed
// .pipeguard.yaml.
func Prepare(ctx context.Context, dir string, allowDirty bool, artifactsDir string) (*State, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	src, err := build.ResolveSource(ctx, abs, "", allowDirty)
	if err != nil {
		return nil, err
	}
	data, err := src.ReadFile(ctx, src.Repo, path.Join(src.Path, ConfigFile))
	if err != nil {
		return nil, fmt.Errorf("reading the committed %s of %s (is it committed?): %w", ConfigFile, dir, err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, err
	}
	if artifactsDir == "" {
		artifactsDir = filepath.Join(abs, "pipeguard-out")
	}
	return &State{Dir: abs, Config: cfg, Source: src, AllowDirty: allowDirty, ArtifactsDir: artifactsDir, ConfigDigest: sha256Hex(data)}, nil
}

// repoPath turns a path relative to the project folder into one relative
// to the repository root.
func (st *State) repoPath(p string) string {
	if st.Source.Path == "" {
		return p
	}
	return path.Join(st.Source.Path, p)
}

var errNoArtifacts = errors.New("no artifacts to verify: the build gate must run first")
