// Package admission_bench measures the admission webhook's latency under a
// steady load, with the real binary serving TLS on loopback and a real
// registry process behind it. Run (see docs/BENCHMARKS.md):
//
//	PIPEGUARD_BENCH=1 PATH=/tmp/peers/bin:$PATH go test ./bench/admission -run TestAdmissionLatency -v -timeout 20m
//
// Knobs: BENCH_RATE (requests/s, default 500), BENCH_DURATION (default 30s).
package admission_bench

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/pipeguard/pipeguard/internal/oci"
	"github.com/pipeguard/pipeguard/internal/oci/ocitest"
)

type scenario struct {
	name       string
	images     []string // digest references, used round-robin
	containers int      // containers per pod, all of one image
	cacheTTL   string   // webhook --cache-ttl
	warmup     bool
}

func TestAdmissionLatency(t *testing.T) {
	if os.Getenv("PIPEGUARD_BENCH") == "" {
		t.Skip("benchmark: set PIPEGUARD_BENCH=1 (see docs/BENCHMARKS.md)")
	}
	rate := envInt("BENCH_RATE", 500)
	dur, err := time.ParseDuration(envOr("BENCH_DURATION", "30s"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	reg := ocitest.Start(t, ocitest.Referrers)
	builder := ocitest.NewKey(t)
	client := oci.New(oci.WithInsecure())
	var images []string
	// One repository per image, as in a real registry; the test registry
	// lists referrers by scanning a repository, which would otherwise
	// dominate the cold figures.
	for i := 0; i < 200; i++ {
		repo := "app" + strconv.Itoa(i)
		d := ocitest.PushImage(t, reg.Ref(repo+":v1"))
		ref := reg.Ref(repo + "@" + d.String())
		dr, _ := name.NewDigest(ref, name.Insecure)
		if _, err := client.Attach(ctx, dr, [][]byte{builder.Provenance(t, dr.Context().Name(), d)}); err != nil {
			t.Fatal(err)
		}
		images = append(images, ref)
	}
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(pol, []byte(ocitest.Policy(builder, "", nil)), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := buildPipeguard(t)
	t.Logf("load average before: %s (%d CPUs)", loadavg(), runtime.NumCPU())
	for _, sc := range []scenario{
		{name: "warm, 1 container", images: images[:1], containers: 1, cacheTTL: "10m", warmup: true},
		{name: "warm, 8 containers of one image", images: images[:1], containers: 8, cacheTTL: "10m", warmup: true},
		{name: "cold (no cache), 1 container, 200 images", images: images, containers: 1, cacheTTL: "-1s"},
		{name: "cold (no cache), 8 containers of one image, 200 images", images: images, containers: 8, cacheTTL: "-1s"},
	} {
		addr, hc, stop := startWebhook(t, bin, dir, pol, sc.cacheTTL)
		if sc.warmup {
			for _, img := range sc.images {
				if _, err := send(hc, addr, img, sc.containers, 0); err != nil {
					t.Fatal(err)
				}
			}
		}
		lat, errs, denied := load(hc, addr, sc, rate, dur)
		verifs := metricSum(hc, addr, "pipeguard_admission_verifications_total")
		stop()
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		t.Logf("%-58s rate=%d/s dur=%s n=%d errors=%d denied=%d verifications=%s p50=%s p99=%s max=%s",
			sc.name, rate, dur, len(lat), errs, denied, verifs, pct(lat, 50), pct(lat, 99), pct(lat, 100))
		if denied > 0 || errs > 0 {
			t.Errorf("%s: %d denied, %d errors: the benchmark measured failures", sc.name, denied, errs)
		}
		t.Logf("load average after: %s", loadavg())
	}

	// The peer on the same input: the real cosign verifying the same
	// attested image, one process per verification, as a webhook shelling
	// out to it would pay (cosign has no admission figures of its own).
	cosign, err := exec.LookPath("cosign")
	if err != nil {
		t.Log("cosign not on PATH: no peer figures")
		return
	}
	pub := filepath.Join(dir, "builder.pub")
	if err := os.WriteFile(pub, builder.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	var lat []time.Duration
	for i := 0; i < 20; i++ {
		cmd := exec.Command(cosign, "verify-attestation", "--key", pub, "--type", "https://slsa.dev/provenance/v1",
			"--insecure-ignore-tlog", "--allow-http-registry", images[i%len(images)])
		cmd.Env = append(os.Environ(), "HOME="+dir)
		t0 := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cosign verify-attestation: %v\n%s", err, out)
		}
		lat = append(lat, time.Since(t0))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("%-58s n=%d sequential p50=%s p99=%s", "peer: cosign verify-attestation (cold, one process each)", len(lat), pct(lat, 50), pct(lat, 99))
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.TrimSpace(string(b))
}

func startWebhook(t *testing.T, bin, dir, pol, ttl string) (string, *http.Client, func()) {
	t.Helper()
	cert, key, pool := selfSigned(t)
	cp, kp := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	_ = os.WriteFile(cp, cert, 0o600)
	_ = os.WriteFile(kp, key, 0o600)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "webhook", "--policy", pol, "--tls-cert", cp, "--tls-key", kp, "--listen", addr,
		"--insecure-registry", "--cache-ttl", ttl)
	cmd.Env = append(os.Environ(), "PIPEGUARD_HOME="+filepath.Join(dir, "home"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256,
	}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := hc.Get("https://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("webhook did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return addr, hc, func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
}

var uid int64
var uidMu sync.Mutex

func review(img string, containers int) []byte {
	uidMu.Lock()
	uid++
	u := uid
	uidMu.Unlock()
	var cs []map[string]string
	for i := 0; i < containers; i++ {
		cs = append(cs, map[string]string{"name": "c" + strconv.Itoa(i), "image": img})
	}
	pod := map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "p", "namespace": "apps"}, "spec": map[string]any{"containers": cs}}
	rev := map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": map[string]any{
		"uid": fmt.Sprintf("bench-%d", u), "kind": map[string]string{"group": "", "version": "v1", "kind": "Pod"},
		"resource": map[string]string{"group": "", "version": "v1", "resource": "pods"}, "namespace": "apps", "name": "p",
		"operation": "CREATE", "userInfo": map[string]string{"username": "bench"}, "object": pod}}
	b, _ := json.Marshal(rev)
	return b
}

// send posts one review and returns its latency; allowed reports the answer.
func send(hc *http.Client, addr, img string, containers int, _ int) (bool, error) {
	resp, err := hc.Post("https://"+addr+"/validate?timeout=10s", "application/json", bytes.NewReader(review(img, containers)))
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var out struct {
		Response struct {
			Allowed bool `json:"allowed"`
		} `json:"response"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return false, err
	}
	return out.Response.Allowed, nil
}

// load sends reviews at a fixed rate (open loop: a slow answer does not
// slow the sender, so queueing shows in the latencies).
func load(hc *http.Client, addr string, sc scenario, rate int, dur time.Duration) ([]time.Duration, int, int) {
	var mu sync.Mutex
	var lat []time.Duration
	errs, denied := 0, 0
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.Sub(start) >= dur {
			break
		}
		time.Sleep(time.Until(at))
		img := sc.images[i%len(sc.images)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			ok, err := send(hc, addr, img, sc.containers, i)
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs++
			case !ok:
				denied++
			}
			lat = append(lat, d)
		}()
	}
	wg.Wait()
	return lat, errs, denied
}

func pct(lat []time.Duration, p int) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	i := (len(lat)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	if i > len(lat) {
		i = len(lat)
	}
	return lat[i-1].Round(10 * time.Microsecond)
}

func metricSum(hc *http.Client, addr, name string) string {
	resp, err := hc.Get("https://" + addr + "/metrics")
	if err != nil {
		return "?"
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	total := 0.0
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, name+"{") {
			f := strings.Fields(l)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			total += v
		}
	}
	return strconv.FormatFloat(total, 'f', 0, 64)
}

func buildPipeguard(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	bin := filepath.Join(t.TempDir(), "pipeguard")
	out, err := exec.Command("go", "build", "-o", bin, filepath.Join(filepath.Dir(file), "..", "..", "cmd", "pipeguard")).CombinedOutput()
	if err != nil {
		t.Fatalf("building pipeguard: %v\n%s", err, out)
	}
	return bin
}

func selfSigned(t *testing.T) ([]byte, []byte, *x509.CertPool) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(k)
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), pool
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return def
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
