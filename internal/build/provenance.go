package build

import "time"

// BuildType identifies pipeguard's sandboxed build; its parameters are
// specified in docs/buildtype-v1.md.
const BuildType = "https://pipeguard.dev/buildtypes/sandbox/v1"

// DegradedSuffix is appended to the builder id when the step ran without
// isolation (SLSA Build L2 at most), so that a policy trusting the builder
// for L3 does not trust these builds.
const DegradedSuffix = "/unisolated-l2"

// Provenance is the SLSA Provenance v1 predicate.
type Provenance struct {
	BuildDefinition BuildDefinition `json:"buildDefinition"`
	RunDetails      RunDetails      `json:"runDetails"`
}

// BuildDefinition is what was built and how.
type BuildDefinition struct {
	BuildType            string               `json:"buildType"`
	ExternalParameters   ExternalParameters   `json:"externalParameters"`
	InternalParameters   InternalParameters   `json:"internalParameters"`
	ResolvedDependencies []ResourceDescriptor `json:"resolvedDependencies"`
}

// ExternalParameters are the caller's inputs: everything a verifier must
// check against expectations.
type ExternalParameters struct {
	Source    SourceParameter   `json:"source"`
	Command   []string          `json:"command"`
	Artifacts []string          `json:"artifacts"`
	Hermetic  bool              `json:"hermetic"`
	Fetch     string            `json:"fetch,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
	// ReadOnlyMounts are extra host directories the caller exposed.
	ReadOnlyMounts []string `json:"readOnlyMounts,omitempty"`
	// GoModCache is a read-only Go module cache used instead of a fetch.
	GoModCache string `json:"goModCache,omitempty"`
	AllowDirty bool   `json:"allowDirty,omitempty"`
}

// SourceParameter names the source commit.
type SourceParameter struct {
	URI    string            `json:"uri"`
	Digest map[string]string `json:"digest"`
	Ref    string            `json:"ref,omitempty"`
	Path   string            `json:"path,omitempty"`
}

// InternalParameters are set by the builder itself.
type InternalParameters struct {
	// SLSABuildLevel is 3 when the step ran isolated, 2 otherwise.
	SLSABuildLevel  int       `json:"slsaBuildLevel"`
	Isolation       Isolation `json:"isolation"`
	SourceDateEpoch int64     `json:"sourceDateEpoch"`
	// SourceTreeDirty records that the caller's working tree had
	// uncommitted changes (which were not built).
	SourceTreeDirty bool     `json:"sourceTreeDirty,omitempty"`
	Environment     []string `json:"environment"`
}

// Isolation records the sandbox the step ran in.
type Isolation struct {
	// Sandbox is "linux-namespaces", or "none" when degraded.
	Sandbox string `json:"sandbox"`
	// Reason says why isolation was not available.
	Reason         string            `json:"reason,omitempty"`
	Namespaces     []string          `json:"namespaces,omitempty"`
	Rootless       bool              `json:"rootless,omitempty"`
	StepUID        int               `json:"stepUID,omitempty"`
	NoNewPrivs     bool              `json:"noNewPrivs,omitempty"`
	Capabilities   []string          `json:"capabilities"`
	Network        string            `json:"network"`
	ReadOnlyMounts []string          `json:"readOnlyMounts,omitempty"`
	WritableMounts []string          `json:"writableMounts,omitempty"`
	Masked         []string          `json:"masked,omitempty"`
	Rlimits        map[string]uint64 `json:"rlimits,omitempty"`
}

// ResourceDescriptor is an in-toto resource descriptor.
type ResourceDescriptor struct {
	Name        string            `json:"name,omitempty"`
	URI         string            `json:"uri,omitempty"`
	MediaType   string            `json:"mediaType,omitempty"`
	Digest      map[string]string `json:"digest,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// RunDetails describe this particular run.
type RunDetails struct {
	Builder    BuilderInfo          `json:"builder"`
	Metadata   Metadata             `json:"metadata"`
	Byproducts []ResourceDescriptor `json:"byproducts,omitempty"`
}

// BuilderInfo identifies the build platform.
type BuilderInfo struct {
	ID      string            `json:"id"`
	Version map[string]string `json:"version,omitempty"`
}

// Metadata holds the invocation id and times.
type Metadata struct {
	InvocationID string    `json:"invocationId"`
	StartedOn    time.Time `json:"startedOn"`
	FinishedOn   time.Time `json:"finishedOn"`
}
