package build

import (
	"bytes"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"
)

// goModCache writes a module cache holding example.com/m v1.0.0 as the go
// command leaves it (zip, .mod, extracted tree) and returns it with the
// matching go.sum.
func goModCache(t *testing.T) (string, GoSum) {
	t.Helper()
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module example.com/m\n"), 0o644)
	os.WriteFile(filepath.Join(src, "m.go"), []byte("package m\n"), 0o644)
	mc := t.TempDir()
	mv := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	dl := filepath.Join(mc, "cache", "download", "example.com", "m", "@v")
	os.MkdirAll(dl, 0o755)
	var zb bytes.Buffer
	if err := modzip.CreateFromDir(&zb, mv, src); err != nil {
		t.Fatal(err)
	}
	zipPath := filepath.Join(dl, "v1.0.0.zip")
	os.WriteFile(zipPath, zb.Bytes(), 0o644)
	os.WriteFile(filepath.Join(dl, "v1.0.0.mod"), []byte("module example.com/m\n"), 0o644)
	if err := modzip.Unzip(filepath.Join(mc, "example.com", "m@v1.0.0"), mv, zipPath); err != nil {
		t.Fatal(err)
	}
	h1, err := dirhash.HashZip(zipPath, dirhash.Hash1)
	if err != nil {
		t.Fatal(err)
	}
	sums := GoSum{}
	gosum := "example.com/m v1.0.0 " + h1 + "\n"
	mh, err := dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) { return os.Open(filepath.Join(dl, "v1.0.0.mod")) })
	if err != nil {
		t.Fatal(err)
	}
	gosum += "example.com/m v1.0.0/go.mod " + mh + "\n"
	if err := ParseGoSum([]byte(gosum), sums); err != nil {
		t.Fatal(err)
	}
	return mc, sums
}

func TestVerifyGoModules(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(mc string, sums GoSum)
		wantErr string
	}{
		{"as fetched", func(string, GoSum) {}, ""},
		{"zip changed", func(mc string, _ GoSum) {
			p := filepath.Join(mc, "cache/download/example.com/m/@v/v1.0.0.zip")
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 1
			os.WriteFile(p, b, 0o644)
		}, "v1.0.0"},
		{"extracted tree changed", func(mc string, _ GoSum) {
			p := filepath.Join(mc, "example.com/m@v1.0.0/m.go")
			os.Chmod(p, 0o644)
			os.WriteFile(p, []byte("package m // evil\n"), 0o644)
		}, "extracted"},
		{"file added to the extracted tree", func(mc string, _ GoSum) {
			d := filepath.Join(mc, "example.com/m@v1.0.0")
			os.Chmod(d, 0o755)
			os.WriteFile(filepath.Join(d, "extra.go"), []byte("package m\n"), 0o644)
		}, "extracted"},
		{"not pinned", func(_ string, sums GoSum) { delete(sums, "example.com/m v1.0.0") }, "does not pin"},
		{"stray file", func(mc string, _ GoSum) {
			os.WriteFile(filepath.Join(mc, "example.com", "loose.go"), []byte("x"), 0o644)
		}, "belongs to no module"},
		{"symlink", func(mc string, _ GoSum) { os.Symlink("/etc/passwd", filepath.Join(mc, "example.com", "link")) }, "symlink"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mc, sums := goModCache(t)
			tc.tamper(mc, sums)
			deps, err := VerifyGoModules(mc, sums)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(deps) != 1 || deps[0].URI != "pkg:golang/example.com/m@v1.0.0" || len(deps[0].Digest["sha256"]) != 64 {
					t.Fatalf("deps %+v", deps)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			// Make the tree removable again.
			filepath.Walk(mc, func(p string, _ os.FileInfo, _ error) error { os.Chmod(p, 0o755); return nil })
		})
	}
}

func TestParseGoSum(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"a v1 h1:x=\na v1/go.mod h1:y=\n\n", true},
		{"a v1 h1:x=\na v1 h1:z=\n", false},
		{"a v1\n", false},
		{"a v1 sha256:x\n", false},
	} {
		if err := ParseGoSum([]byte(tc.in), GoSum{}); (err == nil) != tc.ok {
			t.Errorf("ParseGoSum(%q) = %v", tc.in, err)
		}
	}
}

func npmCache(t *testing.T, tarballs map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for _, b := range tarballs {
		sum := sha512.Sum512(b)
		h := hex.EncodeToString(sum[:])
		p := filepath.Join(dir, "_cacache", "content-v2", "sha512", h[:2], h[2:4], h[4:])
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, b, 0o644)
	}
	return dir
}

func integrity(b []byte) string {
	s := sha512.Sum512(b)
	return "sha512-" + base64.StdEncoding.EncodeToString(s[:])
}

func TestVerifyNpm(t *testing.T) {
	left, right := []byte("left-pad tarball"), []byte("right-pad tarball")
	lock := func(extra string) []byte {
		return []byte(`{"lockfileVersion": 3, "packages": {
  "": {"name": "app"},
  "node_modules/left-pad": {"version": "1.3.0", "integrity": "` + integrity(left) + `"},
  "node_modules/right-pad": {"version": "1.0.1", "integrity": "` + integrity(right) + `"}` + extra + `}}`)
	}
	tests := []struct {
		name    string
		cache   map[string][]byte
		lock    []byte
		wantErr string
		wantN   int
	}{
		{"all fetched", map[string][]byte{"l": left, "r": right}, lock(""), "", 2},
		{"one missing", map[string][]byte{"l": left}, lock(""), "right-pad@1.0.1 was not fetched", 0},
		{"optional missing", map[string][]byte{"l": left, "r": right}, lock(`, "node_modules/fsevents": {"version": "2.3.3", "optional": true, "integrity": "` + integrity([]byte("mac only")) + `"}`), "", 2},
		{"weak integrity", map[string][]byte{"l": left, "r": right}, lock(`, "node_modules/old": {"version": "1.0.0", "integrity": "sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA="}`), "only sha512", 0},
		{"not json", nil, []byte("{"), "package-lock.json", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := npmCache(t, tc.cache)
			deps, err := VerifyNpm(dir, tc.lock)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(deps) != tc.wantN {
				t.Fatalf("deps %v, err %v", deps, err)
			}
		})
	}
	// Content stored under a tarball's address but with other bytes.
	dir := npmCache(t, map[string][]byte{"l": left, "r": right})
	sum := sha512.Sum512(left)
	h := hex.EncodeToString(sum[:])
	os.WriteFile(filepath.Join(dir, "_cacache", "content-v2", "sha512", h[:2], h[2:4], h[4:]), []byte("evil"), 0o644)
	if _, err := VerifyNpm(dir, lock("")); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("tampered tarball accepted: %v", err)
	}
}

func TestParseSourceArg(t *testing.T) {
	for _, tc := range []struct{ in, repo, rev string }{
		{"/src/app", "/src/app", ""},
		{"/src/app@v1.2.0", "/src/app", "v1.2.0"},
		{"/src/app@0123abc", "/src/app", "0123abc"},
		{"git@github.com:acme/app.git", "git@github.com:acme/app.git", ""},
		{"https://user@host/x/app", "https://user@host/x/app", ""},
		{"https://host/x/app@main", "https://host/x/app", "main"},
	} {
		repo, rev := ParseSourceArg(tc.in)
		if repo != tc.repo || rev != tc.rev {
			t.Errorf("ParseSourceArg(%q) = %q, %q", tc.in, repo, rev)
		}
	}
}

func FuzzParseGoSum(f *testing.F) {
	f.Add([]byte("golang.org/x/mod v0.43.0 h1:abc=\ngolang.org/x/mod v0.43.0/go.mod h1:def=\n"))
	f.Add([]byte("a b c d\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sums := GoSum{}
		if err := ParseGoSum(data, sums); err != nil {
			return
		}
		for k, v := range sums {
			if !strings.HasPrefix(v, "h1:") || len(strings.Fields(k)) != 2 {
				t.Fatalf("accepted %q -> %q", k, v)
			}
		}
	})
}

func FuzzVerifyNpm(f *testing.F) {
	f.Add([]byte(`{"packages": {"node_modules/a": {"version": "1", "integrity": "` + integrity([]byte("a")) + `"}}}`))
	f.Add([]byte(`{"packages": {"node_modules/a": {"integrity": "sha512-"}}}`))
	f.Add([]byte(`{"packages": {"node_modules/a": {"integrity": " "}}}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		// An empty cache: whatever the lockfile says must never verify
		// a package that was not fetched.
		deps, err := VerifyNpm(dir, data)
		if err == nil && len(deps) > 0 {
			t.Fatalf("verified %v from an empty cache", deps)
		}
	})
}

func FuzzParseSourceArg(f *testing.F) {
	f.Add("/src/app@v1")
	f.Add("git@host:a/b@main")
	f.Fuzz(func(t *testing.T, s string) {
		repo, rev := ParseSourceArg(s)
		if rev != "" && repo+"@"+rev != s {
			t.Fatalf("%q split into %q and %q", s, repo, rev)
		}
		if rev == "" && repo != s {
			t.Fatalf("%q lost text: %q", s, repo)
		}
	})
}
