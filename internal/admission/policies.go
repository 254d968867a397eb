package admission

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/pipeguard/pipeguard/internal/oci"
)

// LoadFunc reads a policy file and returns the Judge that applies it and a
// digest naming its content (verdicts are cached per policy digest).
type LoadFunc func(path string) (oci.Judge, string, error)

type policyEntry struct {
	path   string
	judge  oci.Judge
	digest string
}

type policySet struct {
	def  *policyEntry
	byNS map[string]*policyEntry
}

// policies holds the loaded policy files and swaps them atomically when a
// file changes, so requests in flight keep the set they started with.
type policies struct {
	load    LoadFunc
	defPath string
	nsPaths map[string]string

	mu    sync.Mutex // serialises reloads
	seen  map[string]string
	cur   atomic.Pointer[policySet]
	count atomic.Int64
}

func newPolicies(load LoadFunc, defPath string, nsPaths map[string]string) (*policies, error) {
	p := &policies{load: load, defPath: defPath, nsPaths: nsPaths}
	if _, err := p.reload(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *policies) paths() []string {
	var out []string
	if p.defPath != "" {
		out = append(out, p.defPath)
	}
	for _, path := range p.nsPaths {
		out = append(out, path)
	}
	sort.Strings(out)
	return out
}

// reload re-reads every policy file whose bytes changed. If any file fails
// to load, the whole previous set stays in force and the error is returned:
// a half-applied or broken policy must never be what admits pods.
func (p *policies) reload() (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := map[string]string{}
	changed := p.cur.Load() == nil
	for _, path := range p.paths() {
		data, err := os.ReadFile(path)
		if err != nil {
			return false, fmt.Errorf("reading policy %s: %w", path, err)
		}
		sum := sha256.Sum256(data)
		now[path] = hex.EncodeToString(sum[:])
		if p.seen[path] != now[path] {
			changed = true
		}
	}
	if !changed {
		return false, nil
	}
	loaded := map[string]*policyEntry{}
	for _, path := range p.paths() {
		if _, ok := loaded[path]; ok {
			continue
		}
		j, digest, err := p.load(path)
		if err != nil {
			return false, fmt.Errorf("loading policy %s: %w", path, err)
		}
		if digest == "" {
			digest = now[path]
		}
		loaded[path] = &policyEntry{path: path, judge: j, digest: digest}
	}
	set := &policySet{byNS: map[string]*policyEntry{}}
	if p.defPath != "" {
		set.def = loaded[p.defPath]
	}
	for ns, path := range p.nsPaths {
		set.byNS[ns] = loaded[path]
	}
	p.seen = now
	p.cur.Store(set)
	p.count.Add(1)
	return true, nil
}

// forNamespace returns the policy for ns, or nil when none applies.
func (p *policies) forNamespace(ns string) *policyEntry {
	set := p.cur.Load()
	if e, ok := set.byNS[ns]; ok {
		return e
	}
	return set.def
}
