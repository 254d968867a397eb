package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	flog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/pipeguard/pipeguard/internal/sign"
	"github.com/pipeguard/pipeguard/internal/tlog"
)

// buildPipeguard compiles the real binary once per test binary run.
var buildOnce struct {
	sync.Once
	path string
	err  error
	out  []byte
}

func pipeguardBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pipeguard-bin")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "pipeguard")
		cmd := exec.Command("go", "build", "-o", buildOnce.path, "github.com/pipeguard/pipeguard/cmd/pipeguard")
		buildOnce.out, buildOnce.err = cmd.CombinedOutput()
	})
	if buildOnce.err != nil {
		t.Fatalf("building pipeguard: %v\n%s", buildOnce.err, buildOnce.out)
	}
	return buildOnce.path
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type serverProc struct {
	cmd *exec.Cmd
	url string
}

func startServer(t *testing.T, bin, homeDir, addr string, extra ...string) *serverProc {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(homeDir, "..", "server.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	cmd := exec.Command(bin, append([]string{"server", "--listen", addr, "--home", homeDir}, extra...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "PIPEGUARD_PASSWORD=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProc{cmd: cmd, url: "http://" + addr}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(homeDir, "..", "server.log"))
	t.Fatalf("server did not become healthy:\n%s", log)
	return nil
}

type rawSigner struct {
	key *ecdsa.PrivateKey
	der []byte
}

func (s *rawSigner) request(msg string) *rekortilespb.HashedRekordRequestV002 {
	d := sha256.Sum256([]byte(msg))
	sig, _ := ecdsa.SignASN1(rand.Reader, s.key, d[:])
	return &rekortilespb.HashedRekordRequestV002{
		Digest: d[:],
		Signature: &rekortilespb.Signature{Content: sig, Verifier: &rekortilespb.Verifier{
			KeyDetails: protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
			Verifier:   &rekortilespb.Verifier_PublicKey{PublicKey: &rekortilespb.PublicKey{RawBytes: s.der}},
		}},
	}
}

// TestCrashSafety kills the real server with SIGKILL during a burst of
// concurrent submissions, restarts it, and checks that every acknowledged
// entry is in the log with a valid inclusion proof against the new
// checkpoint, and that the new checkpoint is consistent with every
// checkpoint handed out before the crash.
func TestCrashSafety(t *testing.T) {
	bin := pipeguardBinary(t)
	base := t.TempDir()
	homeDir := filepath.Join(base, "home")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(key.Public())
	pubPEM, _ := sign.EncodePublicKey(key.Public())
	keyPath := filepath.Join(base, "builder.pub")
	os.WriteFile(keyPath, pubPEM, 0o644)
	out, err := exec.Command(bin, "server", "add-builder", "--home", homeDir, "--name", "ci", "--key", keyPath).Output()
	if err != nil {
		t.Fatalf("add-builder: %v", err)
	}
	token := strings.TrimSpace(string(out))
	addr := freePort(t)
	srv := startServer(t, bin, homeDir, addr)
	id, err := tlog.LoadPublicIdentity(LogDir(homeDir))
	if err != nil {
		t.Fatal(err)
	}
	signer := &rawSigner{key: key, der: der}
	c, err := tlog.NewClient(srv.url, token, tlog.WithLogIdentity(id), tlog.WithHTTPClient(&http.Client{Timeout: 20 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu      sync.Mutex
		acked   []*protorekor.TransparencyLogEntry
		handed  = map[string]*flog.Checkpoint{}
		n       atomic.Int64
		stop    = make(chan struct{})
		workers sync.WaitGroup
	)
	keep := func(raw string) {
		cp, err := id.VerifyCheckpoint([]byte(raw))
		if err != nil {
			t.Errorf("server handed out a checkpoint that does not verify: %v", err)
			return
		}
		mu.Lock()
		handed[raw] = cp
		mu.Unlock()
	}
	for w := range 48 {
		workers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				tle, err := c.Submit(ctx, signer.request(fmt.Sprintf("worker %d entry %d", w, i)))
				cancel()
				if err != nil {
					continue // not acknowledged: may or may not be in the log
				}
				n.Add(1)
				keep(tle.GetInclusionProof().GetCheckpoint().GetEnvelope())
				mu.Lock()
				acked = append(acked, tle)
				mu.Unlock()
			}
		})
	}
	// Also record checkpoints handed out to readers.
	workers.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if raw, err := c.Checkpoint(context.Background()); err == nil {
				keep(string(raw))
			}
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for n.Load() < 300 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	// Kill in the middle of the burst: submissions are in flight.
	if err := srv.cmd.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	srv.cmd.Wait()
	close(stop)
	workers.Wait()
	if len(acked) < 300 {
		t.Fatalf("only %d entries acknowledged before the crash", len(acked))
	}
	t.Logf("%d entries acknowledged, %d checkpoints handed out before SIGKILL", len(acked), len(handed))

	startServer(t, bin, homeDir, addr) // same home, same port: clients reconnect
	ctx := context.Background()
	// A few entries after the restart: the log is live and keeps growing.
	for i := range 5 {
		if _, err := c.Submit(ctx, signer.request(fmt.Sprintf("after restart %d", i))); err != nil {
			t.Fatalf("submitting after restart: %v", err)
		}
	}
	raw, err := c.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	latest, err := id.VerifyCheckpoint(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, tle := range acked {
		if _, err := id.VerifyEntry(tle); err != nil {
			t.Fatalf("acknowledged entry %d: %v", tle.GetLogIndex(), err)
		}
		idx := uint64(tle.GetLogIndex())
		hashes, err := c.InclusionProof(ctx, idx, latest.Size)
		if err != nil {
			t.Fatalf("inclusion proof for acknowledged entry %d after restart: %v", idx, err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, idx, latest.Size, rfc6962.DefaultHasher.HashLeaf(tle.GetCanonicalizedBody()), hashes, latest.Hash); err != nil {
			t.Fatalf("acknowledged entry %d lost or changed after the crash: %v", idx, err)
		}
	}
	for _, cp := range handed {
		if err := tlog.VerifyConsistency(ctx, c.ReadTile, cp, latest); err != nil {
			t.Fatalf("checkpoint of size %d handed out before the crash: %v", cp.Size, err)
		}
	}
	if err := tlog.Audit(ctx, c.ReadEntryBundle, latest); err != nil {
		t.Fatalf("audit after restart: %v", err)
	}
}
