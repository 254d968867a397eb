// Package build is pipeguard's build platform control plane: it checks out
// one exact commit into a fresh workspace, runs the project's own commands
// in a sandbox (package sandbox), and only after every process of the step
// is gone hashes the declared outputs, copies them out and writes and signs
// SLSA Provenance v1 for them. The step never sees the signing key, the
// home or the control plane's memory, and cannot talk to the signer.
package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"

	"github.com/pipeguard/pipeguard/internal/attest"
	"github.com/pipeguard/pipeguard/internal/build/sandbox"
	"github.com/pipeguard/pipeguard/internal/sign"
)

// Signer signs the provenance; *sign.Signer is one.
type Signer interface {
	DSSE(ctx context.Context, payloadType string, payload []byte, opts ...sign.BundleOption) (*protobundle.Bundle, error)
}

// Request is one build.
type Request struct {
	// Source is a repository directory (or a folder inside one) or a git
	// URL; Rev a revision in it (default HEAD).
	Source, Rev string
	// AllowDirty builds the commit even though the working tree has
	// changes (which are not built); it is recorded.
	AllowDirty bool
	// Command is the build step, run in the workspace (the source folder
	// when Source names a folder inside its repository).
	Command []string
	// Artifacts are glob patterns relative to the workspace root.
	Artifacts []string
	// Hermetic gives the build step no network.
	Hermetic bool
	// Fetch is an optional shell command run first, with network, in its
	// own sandbox; what it downloads is checked against go.sum and
	// package-lock.json.
	Fetch string
	// Env adds NAME=VALUE entries to the step's environment.
	Env []string
	// ReadOnly are extra host directories shown read-only at the same path.
	ReadOnly []string
	// GoModCache is an existing Go module cache shown read-only (at the
	// same path) as the build's GOMODCACHE, instead of a fetch phase. Its
	// modules are not checked by pipeguard (Go checks them against go.sum
	// as it reads them); the provenance records the path.
	GoModCache string
	// ArtifactsDir receives copies of the outputs (relative paths kept).
	ArtifactsDir string
}

// Result is a finished, signed build.
type Result struct {
	Subjects   []attest.Subject
	Statement  []byte
	Provenance *Provenance
	Bundle     *protobundle.Bundle
	// Artifacts are the copies written under ArtifactsDir.
	Artifacts []string
	// Log is the combined output of the fetch and build steps.
	Log []byte
	// Degraded is set when the step ran without isolation (SLSA Build L2).
	Degraded bool
}

// StepError is a build (or fetch) command that failed; no provenance is
// written for it.
type StepError struct {
	Phase    string
	ExitCode int
	Log      []byte
}

func (e *StepError) Error() string {
	if e.ExitCode < 0 {
		return fmt.Sprintf("the %s command did not finish in time", e.Phase)
	}
	return fmt.Sprintf("the %s command failed with exit status %d", e.Phase, e.ExitCode)
}

// MaxLogSize bounds the steps' combined output kept (and attested).
const MaxLogSize = 256 << 20

// boundedLog keeps the steps' output up to max bytes and remembers if
// more came; the step is never blocked or failed by it.
type boundedLog struct {
	b        strings.Builder
	max      int
	exceeded bool
}

func (l *boundedLog) Write(p []byte) (int, error) {
	if l.b.Len()+len(p) > l.max {
		l.exceeded = true
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *boundedLog) String() string { return l.b.String() }

// RejectedError is a build whose result pipeguard refuses to attest:
// declared outputs missing or not regular files, fetched dependencies that
// do not match the lockfiles.
type RejectedError struct{ Err error }

func (e *RejectedError) Error() string { return e.Err.Error() }
func (e *RejectedError) Unwrap() error { return e.Err }

// Builder runs builds.
type Builder struct {
	signer     Signer
	builderID  string
	log        *slog.Logger
	output     io.Writer
	workRoot   string
	hide       []string
	initPath   string
	noIsolate  string
	clock      func() time.Time
	versionTag string
	maxLog     int
	bundleOpts []sign.BundleOption
}

// Option configures a Builder.
type Option func(*Builder)

// WithLogger sets the logger for progress and warnings.
func WithLogger(l *slog.Logger) Option { return func(b *Builder) { b.log = l } }

// WithOutput streams the steps' output (besides recording it).
func WithOutput(w io.Writer) Option { return func(b *Builder) { b.output = w } }

// WithWorkRoot sets where fresh workspaces are made (default os.TempDir).
func WithWorkRoot(dir string) Option { return func(b *Builder) { b.workRoot = dir } }

// WithHidden names host paths that must never be visible to a step even
// if a read-only mount contains them: the home with its keys.
func WithHidden(paths ...string) Option {
	return func(b *Builder) { b.hide = append(b.hide, paths...) }
}

// WithMaxLog bounds the steps' output kept and attested (default
// MaxLogSize); more refuses the build.
func WithMaxLog(n int) Option { return func(b *Builder) { b.maxLog = n } }

// WithBundleOptions passes options to the signing of the provenance, such
// as sign.WithTransparencyLog to log it and carry the inclusion proof.
func WithBundleOptions(opts ...sign.BundleOption) Option {
	return func(b *Builder) { b.bundleOpts = append(b.bundleOpts, opts...) }
}

// WithInitPath sets the binary re-executed as the sandbox's init.
func WithInitPath(p string) Option { return func(b *Builder) { b.initPath = p } }

// WithoutIsolation runs steps unsandboxed, as happens automatically when
// the kernel refuses namespaces. The provenance then claims SLSA Build L2
// under a distinct builder id. For tests and for machines that cannot
// isolate; reason is recorded.
func WithoutIsolation(reason string) Option { return func(b *Builder) { b.noIsolate = reason } }

// New returns a Builder that signs with s as builderID.
func New(s Signer, builderID string, opts ...Option) (*Builder, error) {
	if s == nil {
		return nil, errors.New("build: a signer is required")
	}
	if builderID == "" {
		return nil, errors.New("build: a builder id is required")
	}
	b := &Builder{signer: s, builderID: builderID, log: slog.Default(), output: io.Discard, workRoot: os.TempDir(), clock: time.Now, maxLog: MaxLogSize}
	for _, o := range opts {
		o(b)
	}
	if b.initPath == "" {
		// Resolved now: once the control plane is undumpable,
		// /proc/self/exe belongs to root and an unprivileged caller can no
		// longer execute it.
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("build: finding this binary to run as the sandbox's init: %w", err)
		}
		b.initPath = exe
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		b.versionTag = bi.Main.Version
	}
	return b, nil
}

// Build runs the request. A failing step returns *StepError; any other
// error is pipeguard's own (set-up, I/O, signing).
func (b *Builder) Build(ctx context.Context, req Request) (*Result, error) {
	if len(req.Command) == 0 {
		return nil, errors.New("no build command")
	}
	if len(req.Artifacts) == 0 {
		return nil, errors.New("no artifacts declared (--artifact GLOB)")
	}
	for _, p := range req.Artifacts {
		if !fs.ValidPath(p) || p == "." {
			return nil, fmt.Errorf("artifact pattern %q must be relative to the workspace root, without '..'", p)
		}
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("artifact pattern %q: %w", p, err)
		}
	}
	if req.ArtifactsDir == "" {
		return nil, errors.New("no artifacts directory")
	}
	userEnv, err := checkEnv(req.Env)
	if err != nil {
		return nil, err
	}
	if err := hardenControlPlane(); err != nil {
		return nil, err
	}
	started := b.clock().UTC()
	src, err := ResolveSource(ctx, req.Source, req.Rev, req.AllowDirty)
	if err != nil {
		return nil, err
	}
	hidden, err := b.hiddenPaths()
	if err != nil {
		return nil, err
	}
	if req.GoModCache != "" && req.Fetch != "" {
		return nil, errors.New("a Go module cache and a fetch phase exclude each other")
	}
	extraRO, err := checkMounts(req.ReadOnly, hidden)
	if err != nil {
		return nil, err
	}
	var modCache string
	if req.GoModCache != "" {
		mc, err := checkMounts([]string{req.GoModCache}, hidden)
		if err != nil {
			return nil, err
		}
		modCache = mc[0]
	}

	base, err := os.MkdirTemp(b.workRoot, "pipeguard-build-")
	if err != nil {
		return nil, fmt.Errorf("creating the workspace: %w", err)
	}
	defer removeAll(base)
	ws, deps, root, tmp := filepath.Join(base, "ws"), filepath.Join(base, "deps"), filepath.Join(base, "root"), filepath.Join(base, "tmp")
	if err := src.Checkout(ctx, ws, req.Rev); err != nil {
		return nil, err
	}
	lock, err := readLockfiles(ctx, src, ws)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{deps, root, tmp} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, err
		}
	}
	if !sandbox.Rootless() && b.noIsolate == "" {
		for _, d := range []string{ws, deps} {
			if err := chownTree(d, sandbox.HostStepUID, sandbox.HostStepUID); err != nil {
				return nil, err
			}
		}
	}

	tc := findToolchain()
	sysDirs, links := sandbox.SystemDirs()
	roDirs := append([]string{}, sysDirs...)
	if tc.goroot != "" && !coveredBy(roDirs, tc.goroot) {
		roDirs = append(roDirs, tc.goroot)
	}
	for _, d := range append(extraRO, modCache) {
		if d != "" && !coveredBy(roDirs, d) {
			roDirs = append(roDirs, d)
		}
	}
	pathEnv := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	if tc.goroot != "" {
		pathEnv = filepath.Join(tc.goroot, "bin") + ":" + pathEnv
	}
	workdir := sandbox.WorkspaceDir
	if src.Path != "" {
		workdir = path.Join(sandbox.WorkspaceDir, src.Path)
	}

	logBuf := &boundedLog{max: b.maxLog}
	logW := io.MultiWriter(logBuf, b.output)
	// This build's own directory stays hidden too, should a read-only
	// mount contain it.
	hidden = append(hidden, base)
	run := &runner{b: b, base: base, ws: ws, deps: deps, root: root, tmp: tmp, ro: roDirs, links: links, hide: hidden, workdir: workdir, out: logW}
	iso := run.isolation(req.Hermetic)

	var fetched []Dependency
	if req.Fetch != "" {
		env := stepEnv(pathEnv, src.Time, userEnv, true, true, fetchPassThrough())
		code, err := run.step(ctx, "fetch", []string{"sh", "-c", req.Fetch}, env, true, &iso)
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, &StepError{Phase: "fetch", ExitCode: -1, Log: []byte(logBuf.String())}
		}
		if err != nil {
			return nil, err
		}
		if code != 0 {
			return nil, &StepError{Phase: "fetch", ExitCode: code, Log: []byte(logBuf.String())}
		}
		if fetched, err = verifyFetched(deps, lock); err != nil {
			return nil, &RejectedError{fmt.Errorf("checking fetched dependencies: %w", err)}
		}
	}
	env := stepEnv(pathEnv, src.Time, userEnv, !req.Hermetic, req.Fetch != "", nil)
	if modCache != "" {
		env = setEnv(env, "GOMODCACHE", modCache)
	}
	code, err := run.step(ctx, "build", req.Command, env, !req.Hermetic, &iso)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, &StepError{Phase: "build", ExitCode: -1, Log: []byte(logBuf.String())}
	}
	if err != nil {
		return nil, err
	}
	if logBuf.exceeded {
		return nil, &RejectedError{fmt.Errorf("the steps' output exceeded %d bytes; the build log must be kept whole to be attested", b.maxLog)}
	}
	if code != 0 {
		return nil, &StepError{Phase: "build", ExitCode: code, Log: []byte(logBuf.String())}
	}

	// Every process of the step is gone: what we hash now is final.
	subjects, copies, err := collect(ws, req.Artifacts, req.ArtifactsDir)
	if err != nil {
		return nil, &RejectedError{err}
	}
	finished := b.clock().UTC()
	logData := []byte(logBuf.String())
	logSum := sha256.Sum256(logData)

	level, builderID := 3, b.builderID
	if iso.Sandbox != "linux-namespaces" {
		level, builderID = 2, b.builderID+DegradedSuffix
	}
	prov := &Provenance{
		BuildDefinition: BuildDefinition{
			BuildType: BuildType,
			ExternalParameters: ExternalParameters{
				Source:         SourceParameter{URI: src.URI, Digest: map[string]string{"gitCommit": src.Commit}, Ref: src.Ref, Path: src.Path},
				Command:        req.Command,
				Artifacts:      req.Artifacts,
				Hermetic:       req.Hermetic,
				Fetch:          req.Fetch,
				Env:            userEnv,
				ReadOnlyMounts: extraRO,
				GoModCache:     modCache,
				AllowDirty:     req.AllowDirty,
			},
			InternalParameters: InternalParameters{
				SLSABuildLevel:  level,
				Isolation:       iso,
				SourceDateEpoch: src.Time,
				SourceTreeDirty: src.Dirty,
				Environment:     env,
			},
			ResolvedDependencies: resolvedDeps(src, tc, req.Command, pathEnv, fetched),
		},
		RunDetails: RunDetails{
			Builder:    BuilderInfo{ID: builderID, Version: map[string]string{"pipeguard": b.versionTag}},
			Metadata:   Metadata{InvocationID: newInvocationID(), StartedOn: started, FinishedOn: finished},
			Byproducts: []ResourceDescriptor{{Name: "build.log", MediaType: "text/plain", Digest: map[string]string{"sha256": hex.EncodeToString(logSum[:])}}},
		},
	}
	st, err := attest.NewStatement(subjects, attest.PredicateSLSAProvenanceV1, prov)
	if err != nil {
		return nil, err
	}
	bundle, err := b.signer.DSSE(ctx, attest.PayloadType, st, b.bundleOpts...)
	if err != nil {
		return nil, fmt.Errorf("signing the provenance: %w", err)
	}
	return &Result{Subjects: subjects, Statement: st, Provenance: prov, Bundle: bundle, Artifacts: copies, Log: logData, Degraded: level < 3}, nil
}
