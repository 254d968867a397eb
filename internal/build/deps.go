package build

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
)

// Dependency is one fetched input, checked against a lockfile.
type Dependency struct {
	// URI is a package URL: pkg:golang/MODULE@VERSION or pkg:npm/NAME@VERSION.
	URI string
	// Digest of the fetched file (sha256 of a Go module zip or go.mod,
	// sha512 of an npm tarball).
	Digest map[string]string
	// Lock is the lockfile's own hash (go.sum's h1:, npm's integrity).
	Lock string
}

// GoSum maps "MODULE VERSION" and "MODULE VERSION/go.mod" to their h1:
// hashes.
type GoSum map[string]string

// ParseGoSum reads go.sum lines. A module listed twice with different
// hashes is an error: the lockfile contradicts itself.
func ParseGoSum(data []byte, into GoSum) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 || !strings.HasPrefix(f[2], "h1:") {
			return fmt.Errorf("go.sum line %d is malformed", n)
		}
		k := f[0] + " " + f[1]
		if old, ok := into[k]; ok && old != f[2] {
			return fmt.Errorf("go.sum lists %s twice with different hashes", k)
		}
		into[k] = f[2]
	}
	return sc.Err()
}

// VerifyGoModules checks every module the fetch phase downloaded into the
// module cache at modcache against sums. Anything downloaded that go.sum
// does not pin, or that hashes differently, is an error: the build would
// otherwise use dependencies nobody reviewed.
func VerifyGoModules(modcache string, sums GoSum) ([]Dependency, error) {
	base := filepath.Join(modcache, "cache", "download")
	var deps []Dependency
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == base {
				return fs.SkipAll
			}
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return fmt.Errorf("module cache holds a symlink %s", p)
		}
		if d.IsDir() {
			if d.Name() == "sumdb" && filepath.Dir(p) == base {
				return fs.SkipDir
			}
			return nil
		}
		isZip, isMod := strings.HasSuffix(p, ".zip"), strings.HasSuffix(p, ".mod")
		if !isZip && !isMod {
			return nil
		}
		rel, _ := filepath.Rel(base, p)
		escMod, file, ok := strings.Cut(filepath.ToSlash(rel), "/@v/")
		if !ok {
			return nil
		}
		mod, err := module.UnescapePath(escMod)
		if err != nil {
			return fmt.Errorf("module cache path %s: %w", rel, err)
		}
		ver, err := module.UnescapeVersion(strings.TrimSuffix(strings.TrimSuffix(file, ".zip"), ".mod"))
		if err != nil {
			return fmt.Errorf("module cache path %s: %w", rel, err)
		}
		var key, got string
		if isZip {
			key = mod + " " + ver
			got, err = dirhash.HashZip(p, dirhash.Hash1)
		} else {
			key = mod + " " + ver + "/go.mod"
			got, err = dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) { return os.Open(p) })
		}
		if err != nil {
			return fmt.Errorf("hashing %s: %w", key, err)
		}
		want, ok := sums[key]
		if !ok {
			return fmt.Errorf("fetched %s, which go.sum does not pin", key)
		}
		if got != want {
			return fmt.Errorf("fetched %s hashes to %s, go.sum says %s", key, got, want)
		}
		if isZip {
			sum, err := fileDigest(p, sha256.New)
			if err != nil {
				return err
			}
			deps = append(deps, Dependency{URI: "pkg:golang/" + mod + "@" + ver, Digest: map[string]string{"sha256": sum}, Lock: want})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The build reads the extracted trees, not the zips: each must hash
	// like its go.sum line, and nothing else may sit beside them.
	err = filepath.WalkDir(modcache, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(modcache, p)
		rel = filepath.ToSlash(rel)
		if rel == "cache" {
			return fs.SkipDir
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return fmt.Errorf("module cache holds a symlink %s", rel)
		}
		if !d.IsDir() {
			if !d.Type().IsRegular() {
				return fmt.Errorf("module cache holds a special file %s", rel)
			}
			if !strings.Contains(rel, "@") {
				return fmt.Errorf("module cache holds %s, which belongs to no module", rel)
			}
			return nil
		}
		escMod, escVer, ok := strings.Cut(rel, "@")
		if !ok || strings.Contains(escVer, "/") {
			return nil
		}
		mod, err := module.UnescapePath(escMod)
		if err != nil {
			return fmt.Errorf("module cache directory %s: %w", rel, err)
		}
		ver, err := module.UnescapeVersion(escVer)
		if err != nil {
			return fmt.Errorf("module cache directory %s: %w", rel, err)
		}
		key := mod + " " + ver
		want, ok := sums[key]
		if !ok {
			return fmt.Errorf("module cache holds %s, which go.sum does not pin", key)
		}
		got, err := dirhash.HashDir(p, mod+"@"+ver, dirhash.Hash1)
		if err != nil {
			return fmt.Errorf("hashing %s: %w", key, err)
		}
		if got != want {
			return fmt.Errorf("extracted %s hashes to %s, go.sum says %s", key, got, want)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	sort.Slice(deps, func(i, j int) bool { return deps[i].URI < deps[j].URI })
	return deps, nil
}

// NpmLock is the part of package-lock.json (v2/v3) this package reads.
type NpmLock struct {
	Packages map[string]struct {
		Version   string `json:"version"`
		Resolved  string `json:"resolved"`
		Integrity string `json:"integrity"`
		Optional  bool   `json:"optional"`
		Link      bool   `json:"link"`
	} `json:"packages"`
}

// VerifyNpm checks that every package of the lockfile that carries an
// integrity hash was fetched into npm's content-addressed cache (cacache
// at cacheDir/_cacache) with exactly that content. Optional packages (other
// platforms' binaries) may be absent.
func VerifyNpm(cacheDir string, lockData []byte) ([]Dependency, error) {
	var lock NpmLock
	if err := json.Unmarshal(lockData, &lock); err != nil {
		return nil, fmt.Errorf("reading package-lock.json: %w", err)
	}
	var deps []Dependency
	for path, p := range lock.Packages {
		if path == "" || p.Link || p.Integrity == "" {
			continue
		}
		fields := strings.Fields(p.Integrity)
		if len(fields) == 0 {
			return nil, fmt.Errorf("package-lock.json: %s has an empty integrity", path)
		}
		alg, b64, ok := strings.Cut(fields[0], "-")
		if !ok || alg != "sha512" {
			return nil, fmt.Errorf("package-lock.json: %s has integrity %q; only sha512 is accepted", path, p.Integrity)
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(raw) != sha512.Size {
			return nil, fmt.Errorf("package-lock.json: %s has a malformed integrity", path)
		}
		want := hex.EncodeToString(raw)
		content := filepath.Join(cacheDir, "_cacache", "content-v2", "sha512", want[:2], want[2:4], want[4:])
		got, err := fileDigest(content, sha512.New)
		if errors.Is(err, fs.ErrNotExist) {
			if p.Optional {
				continue
			}
			return nil, fmt.Errorf("%s@%s was not fetched (no cached tarball with the lockfile's integrity)", npmName(path), p.Version)
		}
		if err != nil {
			return nil, err
		}
		if got != want {
			return nil, fmt.Errorf("fetched %s@%s does not match package-lock.json's integrity", npmName(path), p.Version)
		}
		deps = append(deps, Dependency{URI: "pkg:npm/" + npmName(path) + "@" + p.Version, Digest: map[string]string{"sha512": got}, Lock: p.Integrity})
	}
	sort.Slice(deps, func(i, j int) bool { return deps[i].URI < deps[j].URI })
	return deps, nil
}

func npmName(lockPath string) string {
	if i := strings.LastIndex(lockPath, "node_modules/"); i >= 0 {
		return lockPath[i+len("node_modules/"):]
	}
	return lockPath
}

func fileDigest(p string, h func() hash.Hash) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	w := h()
	if _, err := io.Copy(w, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", p, err)
	}
	return hex.EncodeToString(w.Sum(nil)), nil
}
