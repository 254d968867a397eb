// Package pipeline is `pipeguard run`: the guarded pipeline over one
// project folder. It reads the folder's committed .pipeguard.yaml, then
// runs a list of gates in order: the sandboxed, signed build first, the
// policy verification (with a VSA) last, and any later capability (secret
// scan, dependency check, rebuild) in between, each adding attestations.
package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ConfigFile is the pipeline file's name in a project folder.
const ConfigFile = ".pipeguard.yaml"

// ConfigAPIVersion is the apiVersion this release reads.
const ConfigAPIVersion = "pipeguard.dev/pipeline/v1"

// maxConfigSize bounds .pipeguard.yaml.
const maxConfigSize = 256 << 10

// Config is .pipeguard.yaml.
type Config struct {
	APIVersion string       `yaml:"apiVersion"`
	Build      BuildConfig  `yaml:"build"`
	Verify     VerifyConfig `yaml:"verify"`
}

// BuildConfig is the build step.
type BuildConfig struct {
	// Command is the build command (argv), run in the project folder.
	Command []string `yaml:"command"`
	// Artifacts are globs of outputs relative to the project folder.
	Artifacts []string `yaml:"artifacts"`
	// Hermetic gives the build no network (default true).
	Hermetic *bool `yaml:"hermetic,omitempty"`
	// Fetch is an optional dependency-fetch command (shell), run with
	// network before the build and checked against the lockfiles.
	Fetch string `yaml:"fetch,omitempty"`
	// Env adds NAME=VALUE entries to the build's environment.
	Env []string `yaml:"env,omitempty"`
}

// VerifyConfig names the committed policy.
type VerifyConfig struct {
	// Policy is the policy file, relative to the project folder. It is
	// read from the commit being built, never from the working tree, so a
	// run can never judge itself by a policy it generated.
	Policy string `yaml:"policy"`
	// HomeKeyAs names the file, beside the policy, that stands for this
	// machine's builder public key (from the home, created on first use).
	// A policy that lists `keys: [{path: NAME}]` then trusts the local
	// builder; a policy for CI pins its builder's key instead.
	HomeKeyAs string `yaml:"homeKeyAs,omitempty"`
}

// HermeticBuild reports whether the build runs without network.
func (c *Config) HermeticBuild() bool { return c.Build.Hermetic == nil || *c.Build.Hermetic }

// ParseConfig decodes .pipeguard.yaml strictly: unknown keys, a second
// document, paths escaping the folder are errors.
func ParseConfig(data []byte) (*Config, error) {
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", ConfigFile, maxConfigSize)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", ConfigFile, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("%s holds more than one YAML document", ConfigFile)
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", ConfigFile, err)
	}
	return &c, nil
}

func (c *Config) validate() error {
	if c.APIVersion != ConfigAPIVersion {
		return fmt.Errorf("apiVersion is %q; this pipeguard reads %q", c.APIVersion, ConfigAPIVersion)
	}
	if len(c.Build.Command) == 0 || c.Build.Command[0] == "" {
		return errors.New("build.command is required (a list: [\"sh\", \"-c\", \"make\"])")
	}
	if len(c.Build.Artifacts) == 0 {
		return errors.New("build.artifacts needs at least one glob")
	}
	for i, a := range c.Build.Artifacts {
		if !fs.ValidPath(a) || a == "." {
			return fmt.Errorf("build.artifacts[%d] %q must be relative to the project folder, without '..'", i, a)
		}
		if _, err := path.Match(a, ""); err != nil {
			return fmt.Errorf("build.artifacts[%d] %q: %w", i, a, err)
		}
	}
	for i, e := range c.Build.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return fmt.Errorf("build.env[%d] is not NAME=VALUE", i)
		}
	}
	if c.Verify.Policy == "" {
		return errors.New("verify.policy is required: the committed policy the artifacts must satisfy")
	}
	if !fs.ValidPath(c.Verify.Policy) || c.Verify.Policy == "." {
		return fmt.Errorf("verify.policy %q must be a file in the project folder, without '..'", c.Verify.Policy)
	}
	if k := c.Verify.HomeKeyAs; k != "" {
		if strings.ContainsAny(k, "/\\") || k == "." || k == ".." || strings.HasPrefix(k, ".") {
			return fmt.Errorf("verify.homeKeyAs %q must be a plain file name", k)
		}
		if k == path.Base(c.Verify.Policy) {
			return errors.New("verify.homeKeyAs names the policy file itself")
		}
	}
	return nil
}
