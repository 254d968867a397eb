// Package testenv is the test environment every package shares: it finds
// the shared third-party test material (../shared/testdata beside the
// repository, or $PIPEGUARD_TESTDATA) and skips a test clearly when it is
// absent, and runs git for tests with a fixed identity. (Not named
// "testdata": Go's tools skip directories of that name.)
package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// EnvDir names the environment variable that points at the shared test data.
const EnvDir = "PIPEGUARD_TESTDATA"

// Dir returns the shared test data directory joined with elem, or skips the
// test when it cannot be found.
func Dir(t testing.TB, elem ...string) string {
	t.Helper()
	root, ok := find()
	if !ok {
		t.Skipf("shared test data not found: set %s or place it at ../shared/testdata beside the repository", EnvDir)
	}
	p := filepath.Join(append([]string{root}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared test data %s missing: %v", p, err)
	}
	return p
}

func find() (string, bool) {
	if d := os.Getenv(EnvDir); d != "" {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return d, true
		}
		return "", false
	}
	// Walk up from the test's working directory to the module root, then
	// look beside it.
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			d := filepath.Join(dir, "..", "shared", "testdata")
			if fi, err := os.Stat(d); err == nil && fi.IsDir() {
				return d, true
			}
			return "", false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// Lookup returns the shared test data path joined with elem, and whether
// it exists, without skipping: fuzz tests use it for optional seeds.
func Lookup(elem ...string) (string, bool) {
	root, ok := find()
	if !ok {
		return "", false
	}
	p := filepath.Join(append([]string{root}, elem...)...)
	_, err := os.Stat(p)
	return p, err == nil
}
