package admission_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/pipeguard/pipeguard/internal/oci"
	"github.com/pipeguard/pipeguard/internal/oci/ocitest"
	"github.com/pipeguard/pipeguard/internal/sign"
)

var cli struct {
	once sync.Once
	bin  string
	err  error
}

// buildPipeguard builds the CLI once per test process.
func buildPipeguard(t *testing.T) string {
	t.Helper()
	cli.once.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		dir, err := os.MkdirTemp("", "pipeguard-cli-")
		if err != nil {
			cli.err = err
			return
		}
		cli.bin = filepath.Join(dir, "pipeguard")
		if out, err := exec.Command("go", "build", "-o", cli.bin, filepath.Join(filepath.Dir(file), "..", "..", "cmd", "pipeguard")).CombinedOutput(); err != nil {
			cli.err = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if cli.err != nil {
		t.Fatalf("building pipeguard: %v", cli.err)
	}
	return cli.bin
}

func runCLI(t *testing.T, bin, home string, args ...string) (string, int) {
	t.Helper()
	return runCLIEnv(t, bin, []string{"PIPEGUARD_HOME=" + home, "PIPEGUARD_PASSWORD=", "DOCKER_CONFIG=" + home}, args...)
}

func runCLIEnv(t *testing.T, bin string, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	}
	t.Fatalf("running pipeguard: %v", err)
	return "", -1
}

// TestCommandContract runs the commands exactly as the acceptance checks do:
// `pipeguard attach`, `pipeguard verify image REF --policy P
// --insecure-registry` (exit 0 pass, 1 refused, 2 error) and `pipeguard
// webhook ... --listen 127.0.0.1:PORT` answering POST /validate over TLS.
func TestCommandContract(t *testing.T) {
	bin := buildPipeguard(t)
	home := t.TempDir()
	ctx := context.Background()
	for _, kind := range []string{ocitest.Distribution, ocitest.Referrers} {
		t.Run(kind, func(t *testing.T) {
			reg := ocitest.Start(t, kind)
			dir := t.TempDir()
			builder, verifier := ocitest.NewKey(t), ocitest.NewKey(t)
			keyPEM, err := sign.EncodePrivateKey(builder.Private, nil)
			if err != nil {
				t.Fatal(err)
			}
			vkeyPEM, _ := sign.EncodePrivateKey(verifier.Private, nil)
			write := func(name string, data []byte) string {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, data, 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			}
			pol := write("policy.yaml", []byte(ocitest.Policy(builder, "", verifier)))
			vkey := write("verifier.key", vkeyPEM)

			// The whole chain through the CLI: attest the image digest with
			// the builder's key, attach, verify.
			cd := ocitest.PushImage(t, reg.Ref("cli:v1"))
			pred := write("pred.json", []byte(`{"buildDefinition":{"buildType":"https://pipeguard.dev/build/v1","externalParameters":{}},"runDetails":{"builder":{"id":"`+ocitest.BuilderID+`"}}}`))
			out, code := runCLI(t, bin, home, "attest", "--type", "https://slsa.dev/provenance/v1", "--predicate", pred,
				"--bundle", filepath.Join(dir, "cli.json"), "--key", write("builder.key", keyPEM), "--subject-digest", reg.Ref("cli")+"@"+cd.String())
			if code != 0 {
				t.Fatalf("attest: exit %d\n%s", code, out)
			}
			if out, code = runCLI(t, bin, home, "attach", reg.Ref("cli:v1"), "--bundle", filepath.Join(dir, "cli.json"), "--insecure-registry"); code != 0 {
				t.Fatalf("attach: exit %d\n%s", code, out)
			}
			if out, code = runCLI(t, bin, home, "verify", "image", reg.Ref("cli:v1"), "--policy", pol, "--insecure-registry"); code != 0 {
				t.Fatalf("verify image after CLI attest+attach: exit %d\n%s", code, out)
			}
			// attach --sign: cosign verify accepts the image signature.
			if out, code = runCLI(t, bin, home, "attach", reg.Ref("cli:v1"), "--sign", "--key", filepath.Join(dir, "builder.key"), "--insecure-registry"); code != 0 || !strings.Contains(out, ".sig") {
				t.Fatalf("attach --sign: exit %d\n%s", code, out)
			}
			if cosign, err := exec.LookPath("cosign"); err == nil {
				pub := write("builder.pub", builder.PEM)
				cmd := exec.Command(cosign, "verify", "--key", pub, "--insecure-ignore-tlog", "--allow-http-registry", reg.Ref("cli@"+cd.String()))
				cmd.Env = append(os.Environ(), "HOME="+dir)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("cosign verify after pipeguard attach --sign: %v\n%s", err, out)
				}
			}

			d := ocitest.PushImage(t, reg.Ref("app:v1"))
			bundle := write("prov.json", builder.Provenance(t, reg.Ref("app"), d))
			out, code = runCLI(t, bin, home, "attach", reg.Ref("app:v1"), "--bundle", bundle, "--insecure-registry")
			if code != 0 || !strings.Contains(out, ".att") {
				t.Fatalf("attach: exit %d\n%s", code, out)
			}
			out, code = runCLI(t, bin, home, "verify", "image", reg.Ref("app:v1"), "--policy", pol, "--insecure-registry",
				"--vsa-out", filepath.Join(dir, "vsa.json"), "--attach-vsa", "--key", vkey)
			if code != 0 || !strings.HasPrefix(out, "PASS ") {
				t.Fatalf("verify image of an attested image: exit %d\n%s", code, out)
			}
			if _, err := os.Stat(filepath.Join(dir, "vsa.json")); err != nil {
				t.Fatalf("no VSA written: %v", err)
			}
			// The attached VSA is now found with the image.
			dr, _ := name.NewDigest(reg.Ref("app@"+d.String()), name.Insecure)
			atts, err := oci.New(oci.WithInsecure()).Discover(ctx, dr)
			if err != nil {
				t.Fatal(err)
			}
			var vsas int
			for _, a := range atts {
				if a.PredicateType == "https://slsa.dev/verification_summary/v1" {
					vsas++
				}
			}
			if len(atts) != 2 || vsas != 1 {
				t.Fatalf("after --attach-vsa: %d attachments (%d VSAs), want the provenance and the VSA", len(atts), vsas)
			}

			ocitest.PushImage(t, reg.Ref("bare:v1"))
			out, code = runCLI(t, bin, home, "verify", "image", reg.Ref("bare:v1"), "--policy", pol, "--insecure-registry")
			if code != 1 || !strings.Contains(out, "no attestations found") {
				t.Fatalf("verify image without attestations: exit %d\n%s", code, out)
			}
			out, code = runCLI(t, bin, home, "verify", "image", reg.Ref("missing:v1"), "--policy", pol, "--insecure-registry")
			if code != 2 {
				t.Fatalf("verify image of a missing image: exit %d, want 2\n%s", code, out)
			}
			out, code = runCLI(t, bin, home, "verify", "image", "Not A Ref", "--policy", pol)
			if code != 2 {
				t.Fatalf("bad reference: exit %d, want 2\n%s", code, out)
			}

			if kind != ocitest.Referrers {
				return
			}
			// The rollout report over a workload list, as kubectl prints it.
			var items []json.RawMessage
			for _, img := range []string{reg.Ref("app@" + d.String()), reg.Ref("bare:v1")} {
				obj, _, _ := objectFor("Deployment", podSpec(img))
				b, _ := json.Marshal(obj)
				items = append(items, b)
			}
			list, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
			out, code = runCLI(t, bin, home, "webhook", "report", "--policy", pol, "-f", write("list.json", list), "--insecure-registry")
			if code != 1 || !strings.Contains(out, "1 would be refused") || !strings.Contains(out, "REFUSE Deployment") {
				t.Fatalf("webhook report: exit %d\n%s", code, out)
			}
			// The webhook, served by the binary over TLS.
			cert, key, pool := selfSigned(t)
			addr := freePort(t)
			wh := exec.Command(bin, "webhook", "--policy", pol, "--tls-cert", write("tls.crt", cert), "--tls-key", write("tls.key", key),
				"--listen", addr, "--insecure-registry")
			wh.Env = append(os.Environ(), "PIPEGUARD_HOME="+home)
			stderr, _ := wh.StderrPipe()
			if err := wh.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = wh.Process.Kill(); _ = wh.Wait() })
			go func() { _, _ = io.Copy(io.Discard, bufio.NewReader(stderr)) }()
			client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
			waitHTTPS(t, client, "https://"+addr+"/healthz")
			for img, allowed := range map[string]bool{reg.Ref("app@" + d.String()): true, reg.Ref("bare:v1"): false} {
				obj, gvk, res := objectFor("Deployment", podSpec(img))
				body, uid := review(t, gvk, res, "", "apps", admissionv1.Create, obj, nil)
				resp, err := client.Post("https://"+addr+"/validate", "application/json", bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				var rev admissionv1.AdmissionReview
				err = json.NewDecoder(resp.Body).Decode(&rev)
				resp.Body.Close()
				if err != nil || rev.Response == nil || rev.Response.UID != uid || rev.Response.Allowed != allowed {
					t.Fatalf("webhook on %s: %v %+v", img, err, rev.Response)
				}
			}
			resp, err := client.Post("https://"+addr+"/validate", "application/json", strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("non-review body: HTTP %d", resp.StatusCode)
			}
		})
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitHTTPS(t *testing.T, c *http.Client, url string) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never answered", url)
}

// selfSigned makes a TLS pair for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte, pool *x509.CertPool) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pipeguard-webhook"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(k)
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), pool
}

// TestVerifyImagePrivateRegistry: `pipeguard verify image` reads a private
// registry with the credentials `docker login` leaves in the docker config.
func TestVerifyImagePrivateRegistry(t *testing.T) {
	bin := buildPipeguard(t)
	ctx := context.Background()
	reg := ocitest.StartPrivate(t, "ci", "s3cret-pass")
	creds := authn.AuthConfig{Username: "ci", Password: "s3cret-pass"}
	d := ocitest.PushImage(t, reg.Ref("private/app:v1"), remote.WithAuth(authn.FromConfig(creds)))
	builder := ocitest.NewKey(t)
	dr, _ := name.NewDigest(reg.Ref("private/app@"+d.String()), name.Insecure)
	pusher := oci.New(oci.WithInsecure(), oci.WithKeychain(staticKeychain{creds}))
	if _, err := pusher.Attach(ctx, dr, [][]byte{builder.Provenance(t, dr.Context().Name(), d)}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(pol, []byte(ocitest.Policy(builder, "", nil)), 0o644); err != nil {
		t.Fatal(err)
	}
	withCreds, without := t.TempDir(), t.TempDir()
	cfg := `{"auths":{"` + reg.Host + `":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("ci:s3cret-pass")) + `"}}}`
	if err := os.WriteFile(filepath.Join(withCreds, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	args := []string{"verify", "image", reg.Ref("private/app:v1"), "--policy", pol, "--insecure-registry"}
	if out, code := runCLIEnv(t, bin, []string{"PIPEGUARD_HOME=" + home, "DOCKER_CONFIG=" + without}, args...); code != 2 {
		t.Fatalf("without credentials: exit %d, want 2\n%s", code, out)
	}
	if out, code := runCLIEnv(t, bin, []string{"PIPEGUARD_HOME=" + home, "DOCKER_CONFIG=" + withCreds}, args...); code != 0 {
		t.Fatalf("with docker config credentials: exit %d\n%s", code, out)
	}
}
