// Package ocitest starts real registry processes on loopback for tests and
// benchmarks, and pushes images to them. It is test support: nothing in the
// pipeguard binary imports it.
package ocitest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/bcrypt"
)

// Kinds of registry.
const (
	// Distribution is github.com/distribution/distribution/v3/cmd/registry:
	// no referrers API, so attachments go through the tag fallbacks.
	Distribution = "distribution"
	// Referrers is go-containerregistry's registry package served as a
	// process (internal/oci/internal/testregistry), with the referrers API.
	Referrers = "referrers"
)

// DistributionInstall is how CI gets the distribution registry binary.
const DistributionInstall = "GOBIN=/tmp/peers/bin go install github.com/distribution/distribution/v3/cmd/registry@v3.0.0"

// Registry is a running registry process.
type Registry struct {
	Kind string
	Host string // 127.0.0.1:PORT
}

// Start runs a registry of the given kind on a free loopback port for the
// life of t. A missing binary skips the test with how to install it.
func Start(t testing.TB, kind string) *Registry { return start(t, kind, "") }

// StartPrivate runs a distribution registry that requires basic auth with
// user and password.
func StartPrivate(t testing.TB, user, password string) *Registry {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return start(t, Distribution, htpasswd)
}

func start(t testing.TB, kind, htpasswd string) *Registry {
	t.Helper()
	host := freeAddr(t)
	var cmd *exec.Cmd
	switch kind {
	case Distribution:
		bin, err := exec.LookPath("registry")
		if err != nil {
			t.Skipf("distribution registry not on PATH (install: %s)", DistributionInstall)
		}
		cfg := filepath.Join(t.TempDir(), "config.yml")
		conf := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(t.TempDir(), "data"), host)
		if htpasswd != "" {
			conf += fmt.Sprintf("auth:\n  htpasswd:\n    realm: test\n    path: %s\n", htpasswd)
		}
		if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command(bin, "serve", cfg)
	case Referrers:
		cmd = exec.Command(testRegistryBinary(t), "--listen", host)
	default:
		t.Fatalf("unknown registry kind %q", kind)
	}
	logf, err := os.Create(filepath.Join(t.TempDir(), kind+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s registry: %v", kind, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
	})
	waitReady(t, host, logf.Name())
	return &Registry{Kind: kind, Host: host}
}

// Ref is a reference in this registry.
func (r *Registry) Ref(repoAndTag string) string { return r.Host + "/" + repoAndTag }

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitReady(t testing.TB, host, logPath string) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(logPath)
	t.Fatalf("registry on %s did not become ready: %s", host, log)
}

// built caches the test registry binary for the life of the test process:
// building it once per test would cost a link each time.
var built struct {
	once sync.Once
	bin  string
	err  error
}

// RemoveBuilt deletes the test registry binary built for this process. Call
// it from TestMain after m.Run.
func RemoveBuilt() {
	if built.bin != "" {
		_ = os.RemoveAll(filepath.Dir(built.bin))
	}
}

// testRegistryBinary finds pipeguard-testregistry on PATH or builds it.
func testRegistryBinary(t testing.TB) string {
	if bin, err := exec.LookPath("pipeguard-testregistry"); err == nil {
		return bin
	}
	built.once.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		src := filepath.Join(filepath.Dir(file), "..", "internal", "testregistry")
		dir, err := os.MkdirTemp("", "pipeguard-testregistry-")
		if err != nil {
			built.err = err
			return
		}
		built.bin = filepath.Join(dir, "testregistry")
		if out, err := exec.Command("go", "build", "-o", built.bin, src).CombinedOutput(); err != nil {
			built.err = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatalf("building the test registry: %v", built.err)
	}
	return built.bin
}

// PushImage pushes a small random image to ref and returns its digest.
func PushImage(t testing.TB, ref string, opts ...remote.Option) v1.Hash {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	return push(t, ref, img, opts...)
}

func push(t testing.TB, ref string, img v1.Image, opts ...remote.Option) v1.Hash {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, opts...); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// PushIndex pushes a two-platform index (linux/amd64, linux/arm64) to ref and
// returns the index digest and the platform digests.
func PushIndex(t testing.TB, ref string) (v1.Hash, []v1.Hash) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	var idx v1.ImageIndex = mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var plats []v1.Hash
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		d, _ := img.Digest()
		plats = append(plats, d)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatalf("pushing index %s: %v", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d, plats
}
