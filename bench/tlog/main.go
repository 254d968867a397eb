// Command tlog is the load generator for `pipeguard server`: it starts the
// real binary on loopback, registers a builder, and measures end to end
// appends/s and latency to inclusion (a 201 response carries the verified
// inclusion proof) at several concurrency levels, then proof-fetch latency
// and attestation store writes/reads. Every acknowledged entry is checked
// afterwards: its proof verifies and the whole log audits against the final
// checkpoint.
//
//	go run ./bench/tlog -duration 60s                      # SQLite + POSIX
//	go run ./bench/tlog -duration 60s -db postgres://...   # PostgreSQL store
//	go run ./bench/tlog -duration 60s -rekor /tmp/peers/bin/rekor-server-posix  # + the peer, Rekor v2
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/pipeguard/pipeguard/internal/attest"
	"github.com/pipeguard/pipeguard/internal/sign"
	"github.com/pipeguard/pipeguard/internal/tlog"
)

// keepWork, when set (PIPEGUARD_BENCH_KEEP=1), leaves the server's home and log for inspection.
var keepWork = os.Getenv("PIPEGUARD_BENCH_KEEP")

func main() {
	var (
		duration    = flag.Duration("duration", 60*time.Second, "how long each concurrency level runs")
		levels      = flag.String("clients", "64,256,1024", "concurrency levels")
		dsn         = flag.String("db", "", "store DSN (postgres://...); default SQLite in the server's home")
		bin         = flag.String("pipeguard", "", "pipeguard binary (default: go build it)")
		rate        = flag.Int("presign-rate", 4000, "entries pre-signed per second of -duration per level (upper bound of what can be measured)")
		proofs      = flag.Int("proofs", 2000, "inclusion proofs fetched for the proof latency")
		storeWrites = flag.Duration("store-duration", 10*time.Second, "how long the attestation store phase runs")
		rekor       = flag.String("rekor", "", "peer: rekor-tiles v2.3.0 POSIX server binary, run side by side on the same input")
	)
	flag.Parse()
	if err := run(*duration, *levels, *dsn, *bin, *rate, *proofs, *storeWrites); err != nil {
		log.Fatal(err)
	}
	if *rekor != "" {
		if err := runRekor(*rekor, *duration, *levels, *rate); err != nil {
			log.Fatal(err)
		}
	}
}

type result struct {
	clients       int
	acked, failed int
	elapsed       time.Duration
	lat           []time.Duration
	serverCPU     time.Duration
}

// procCPU is the user+system CPU time a process has used so far.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * (time.Second / 100) // USER_HZ is 100 on Linux
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

func run(d time.Duration, levels, dsn, bin string, rate, nproofs int, storeD time.Duration) error {
	work, err := os.MkdirTemp("", "pipeguard-bench-tlog")
	if err != nil {
		return err
	}
	defer func() {
		if keepWork == "" {
			os.RemoveAll(work)
		}
	}()
	if bin == "" {
		bin = filepath.Join(work, "pipeguard")
		if out, err := exec.Command("go", "build", "-o", bin, "github.com/pipeguard/pipeguard/cmd/pipeguard").CombinedOutput(); err != nil {
			return fmt.Errorf("building pipeguard: %v\n%s", err, out)
		}
	}
	homeDir := filepath.Join(work, "home")
	k, _ := sign.GenerateKey(sign.AlgECDSAP256)
	key := k.(*ecdsa.PrivateKey)
	pubPEM, _ := sign.EncodePublicKey(key.Public())
	keyPath := filepath.Join(work, "builder.pub")
	os.WriteFile(keyPath, pubPEM, 0o644)
	args := []string{"server", "add-builder", "--home", homeDir, "--name", fmt.Sprintf("bench-%d", time.Now().UnixNano()), "--key", keyPath}
	if dsn != "" {
		args = append(args, "--db", dsn)
	}
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		return fmt.Errorf("add-builder: %w", err)
	}
	token := strings.TrimSpace(string(out))
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	args = []string{"server", "--listen", addr, "--home", homeDir}
	if dsn != "" {
		args = append(args, "--db", dsn)
	}
	srv := exec.Command(bin, args...)
	logf, _ := os.Create(filepath.Join(work, "server.log"))
	srv.Stdout, srv.Stderr = logf, logf
	srv.Env = append(os.Environ(), "PIPEGUARD_PASSWORD=")
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
	base := "http://" + addr
	if err := waitHealthy(base); err != nil {
		return err
	}
	id, err := tlog.LoadPublicIdentity(filepath.Join(homeDir, "log"))
	if err != nil {
		return err
	}
	backend := "SQLite + POSIX"
	if dsn != "" {
		backend = "PostgreSQL + POSIX"
	}
	fmt.Printf("# pipeguard server load test: %s, %d CPUs, %s per level, load average at start %s\n", backend, runtime.NumCPU(), d, loadAvg())

	der, _ := x509.MarshalPKIXPublicKey(key.Public())
	var seq atomic.Uint64
	var all []*protorekor.TransparencyLogEntry
	var results []result
	for _, ls := range strings.Split(levels, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(ls))
		if err != nil {
			return fmt.Errorf("bad -clients %q", levels)
		}
		n := int(float64(rate) * d.Seconds())
		reqs := presign(key, der, &seq, n)
		cpu0 := procCPU(srv.Process.Pid)
		res, tles, err := load(base, token, c, d, reqs)
		if err != nil {
			return err
		}
		res.serverCPU = procCPU(srv.Process.Pid) - cpu0
		if res.acked >= n {
			fmt.Fprintf(os.Stderr, "warning: all %d pre-signed entries were used; raise -presign-rate\n", n)
		}
		results = append(results, res)
		all = append(all, tles...)
	}
	printTable(results)

	// Every acknowledged entry: proof verifies against a checkpoint signed
	// by the log, and the whole log audits against the latest checkpoint.
	ctx := context.Background()
	cl, _ := tlog.NewClient(base, token)
	verified := map[string]bool{}
	for _, tle := range all {
		env := tle.GetInclusionProof().GetCheckpoint().GetEnvelope()
		if !verified[env] {
			if _, err := id.VerifyCheckpoint([]byte(env)); err != nil {
				return fmt.Errorf("acknowledged entry %d: %w", tle.GetLogIndex(), err)
			}
			verified[env] = true
		}
		if _, err := id.VerifyEntry(tle); err != nil {
			return fmt.Errorf("acknowledged entry %d: %w", tle.GetLogIndex(), err)
		}
	}
	raw, err := cl.Checkpoint(ctx)
	if err != nil {
		return err
	}
	latest, err := id.VerifyCheckpoint(raw)
	if err != nil {
		return err
	}
	if latest.Size < uint64(len(all)) {
		return fmt.Errorf("log size %d < %d acknowledged entries", latest.Size, len(all))
	}
	if err := tlog.Audit(ctx, cl.ReadEntryBundle, latest); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	fmt.Printf("\nall %d acknowledged entries verified (proofs, %d checkpoints); log of %d entries audited against its checkpoint\n", len(all), len(verified), latest.Size)

	// Proof fetch: inclusion proofs built from tiles over HTTP, as an auditor does.
	var plat []time.Duration
	for range nproofs {
		idx := mrand.Uint64N(latest.Size)
		t0 := time.Now()
		if _, err := cl.InclusionProof(ctx, idx, latest.Size); err != nil {
			return err
		}
		plat = append(plat, time.Since(t0))
	}
	fmt.Printf("\nproof fetch (%d random entries, tree size %d, sequential): p50 %s, p99 %s\n", nproofs, latest.Size, pct(plat, 50), pct(plat, 99))

	return storePhase(ctx, base, token, key, storeD)
}

func printTable(results []result) {
	fmt.Println()
	fmt.Println("| clients | acknowledged | refused/failed | appends/s | p50 to inclusion | p99 to inclusion | server CPU per entry |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		perEntry := "-"
		if r.acked > 0 && r.serverCPU > 0 {
			perEntry = (r.serverCPU / time.Duration(r.acked)).Round(time.Microsecond).String()
		}
		fmt.Printf("| %d | %d | %d | %.0f | %s | %s | %s |\n", r.clients, r.acked, r.failed, float64(r.acked)/r.elapsed.Seconds(), pct(r.lat, 50), pct(r.lat, 99), perEntry)
	}
	fmt.Printf("\nload average at the end: %s\n", loadAvg())
}

// runRekor runs the peer, Rekor v2 (rekor-tiles) on Tessera POSIX, with
// the same batching and checkpoint interval, on the same kind of input,
// and checks its acknowledged entries the same way.
func runRekor(bin string, d time.Duration, levels string, rate int) error {
	work, err := os.MkdirTemp("", "pipeguard-bench-rekor")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	keyPath := filepath.Join(work, "log.key")
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	ports := make([]string, 3)
	for i := range ports {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		_, ports[i], _ = net.SplitHostPort(ln.Addr().String())
		ln.Close()
	}
	storage := filepath.Join(work, "log")
	srv := exec.Command(bin, "serve", "--http-address", "127.0.0.1", "--http-port", ports[0], "--grpc-address", "127.0.0.1", "--grpc-port", ports[1],
		"--http-metrics-port", ports[2], "--hostname", "127.0.0.1", "--storage-dir", storage, "--signer-filepath", keyPath,
		"--batch-max-size", "1024", "--batch-max-age", "50ms", "--checkpoint-interval", "100ms", "--pushback-max-outstanding", "16384")
	logf, _ := os.Create(filepath.Join(work, "rekor.log"))
	srv.Stdout, srv.Stderr = logf, logf
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
	base := "http://127.0.0.1:" + ports[0]
	if err := waitHealthy(base); err != nil {
		return err
	}
	id := &tlog.Identity{Origin: "127.0.0.1", Public: priv.Public().(ed25519.PublicKey)}
	k, _ := sign.GenerateKey(sign.AlgECDSAP256)
	key := k.(*ecdsa.PrivateKey)
	kder, _ := x509.MarshalPKIXPublicKey(key.Public())
	var seq atomic.Uint64
	fmt.Printf("\n# peer: rekor-tiles v2.3.0 (Rekor v2) on Tessera POSIX, same batching (1024, 50ms) and checkpoint interval (100ms), %s per level, load average at start %s\n", d, loadAvg())
	var results []result
	var all []*protorekor.TransparencyLogEntry
	for _, ls := range strings.Split(levels, ",") {
		c, _ := strconv.Atoi(strings.TrimSpace(ls))
		reqs := presign(key, kder, &seq, int(float64(rate)*d.Seconds()))
		cpu0 := procCPU(srv.Process.Pid)
		res, tles, err := load(base, "", c, d, reqs)
		if err != nil {
			return err
		}
		res.serverCPU = procCPU(srv.Process.Pid) - cpu0
		results = append(results, res)
		all = append(all, tles...)
	}
	printTable(results)
	for _, tle := range all {
		if _, err := id.VerifyEntry(tle); err != nil {
			return fmt.Errorf("rekor entry %d: %w", tle.GetLogIndex(), err)
		}
	}
	fmt.Printf("\nall %d entries acknowledged by rekor verified (proofs against its signed checkpoints)\n", len(all))
	return nil
}

func waitHealthy(base string) error {
	for range 600 {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("server at %s never became healthy", base)
}

// presign makes n distinct signed requests, spread over the CPUs.
func presign(key *ecdsa.PrivateKey, der []byte, seq *atomic.Uint64, n int) [][]byte {
	out := make([][]byte, n)
	var wg sync.WaitGroup
	w := runtime.NumCPU()
	for g := range w {
		wg.Go(func() {
			for i := g; i < n; i += w {
				var msg [8]byte
				binary.BigEndian.PutUint64(msg[:], seq.Add(1))
				dg := sha256.Sum256(msg[:])
				sig, _ := ecdsa.SignASN1(rand.Reader, key, dg[:])
				body, _ := tlog.MarshalRequest(&rekortilespb.HashedRekordRequestV002{
					Digest: dg[:],
					Signature: &rekortilespb.Signature{Content: sig, Verifier: &rekortilespb.Verifier{
						KeyDetails: protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
						Verifier:   &rekortilespb.Verifier_PublicKey{PublicKey: &rekortilespb.PublicKey{RawBytes: der}},
					}},
				})
				out[i] = body
			}
		})
	}
	wg.Wait()
	return out
}

func load(base, token string, clients int, d time.Duration, reqs [][]byte) (result, []*protorekor.TransparencyLogEntry, error) {
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}
	var next atomic.Int64
	var failed atomic.Int64
	var reasonsMu sync.Mutex
	reasons := map[string]int{}
	fail := func(why string) {
		failed.Add(1)
		reasonsMu.Lock()
		reasons[why]++
		reasonsMu.Unlock()
	}
	type ack struct {
		body []byte
		lat  time.Duration
	}
	acks := make([][]ack, clients)
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range clients {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				i := next.Add(1) - 1
				if int(i) >= len(reqs) {
					return
				}
				t0 := time.Now()
				req, _ := http.NewRequest(http.MethodPost, base+tlog.PathEntries, bytes.NewReader(reqs[i]))
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				if err != nil {
					fail(errClass(err))
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					fail(fmt.Sprintf("HTTP %d: %.80s", resp.StatusCode, body))
					continue
				}
				acks[w] = append(acks[w], ack{body, time.Since(t0)})
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	hc.CloseIdleConnections()
	res := result{clients: clients, failed: int(failed.Load()), elapsed: elapsed}
	var tles []*protorekor.TransparencyLogEntry
	for _, as := range acks {
		for _, a := range as {
			var tle protorekor.TransparencyLogEntry
			if err := protojson.Unmarshal(a.body, &tle); err != nil {
				return res, nil, fmt.Errorf("decoding acknowledged entry: %w", err)
			}
			tles = append(tles, &tle)
			res.lat = append(res.lat, a.lat)
		}
	}
	res.acked = len(tles)
	fmt.Fprintf(os.Stderr, "%d clients: %d acknowledged, %d failed in %s %v\n", clients, res.acked, res.failed, elapsed.Round(time.Millisecond), reasons)
	return res, tles, nil
}

// errClass shortens a transport error to its kind.
func errClass(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}

func pct(l []time.Duration, p float64) string {
	if len(l) == 0 {
		return "-"
	}
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(i, 0)].Round(100 * time.Microsecond).String()
}

// storePhase uploads pre-signed DSSE attestations from 16 clients, then
// reads them back by subject digest.
func storePhase(ctx context.Context, base, token string, key *ecdsa.PrivateKey, d time.Duration) error {
	s, err := sign.NewSigner(key)
	if err != nil {
		return err
	}
	const clients = 16
	nonce := time.Now().UnixNano() // distinct subjects per run, even on a shared database
	n := int(2500 * d.Seconds())
	bundles := make([][]byte, n)
	digests := make([]string, n)
	var wg sync.WaitGroup
	for g := range runtime.NumCPU() {
		wg.Go(func() {
			for i := g; i < n; i += runtime.NumCPU() {
				dg := sha256.Sum256([]byte(fmt.Sprint("artifact", nonce, i)))
				hexd := fmt.Sprintf("%x", dg)
				st, _ := attest.NewStatement([]attest.Subject{{Name: "artifact", Digest: map[string]string{"sha256": hexd}}}, "https://slsa.dev/provenance/v1",
					map[string]any{"runDetails": map[string]any{"builder": map[string]any{"id": "https://bench.example/builder"}}})
				b, err := s.DSSE(ctx, attest.PayloadType, st)
				if err != nil {
					panic(err)
				}
				bundles[i], _ = attest.MarshalBundle(b)
				digests[i] = "sha256:" + hexd
			}
		})
	}
	wg.Wait()
	cl, _ := tlog.NewClient(base, token, tlog.WithHTTPClient(&http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}))
	var next, failed atomic.Int64
	lats := make([][]time.Duration, clients)
	deadline := time.Now().Add(d)
	start := time.Now()
	for w := range clients {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				i := next.Add(1) - 1
				if int(i) >= n {
					return
				}
				t0 := time.Now()
				if err := cl.PutAttestation(ctx, bundles[i]); err != nil {
					failed.Add(1)
					continue
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var put []time.Duration
	for _, l := range lats {
		put = append(put, l...)
	}
	stored := len(put)
	var get []time.Duration
	for range 1000 {
		i := mrand.IntN(stored)
		t0 := time.Now()
		got, err := cl.Attestations(ctx, digests[i])
		if err != nil {
			return err
		}
		if len(got) != 1 {
			return fmt.Errorf("GET %s returned %d bundles", digests[i], len(got))
		}
		get = append(get, time.Since(t0))
	}
	fmt.Printf("\nattestation store: %d DSSE bundles stored by %d clients in %s (%.0f/s, %d failed), PUT p50 %s p99 %s; GET by digest (1000, sequential) p50 %s p99 %s\n",
		stored, clients, elapsed.Round(time.Millisecond), float64(stored)/elapsed.Seconds(), failed.Load(), pct(put, 50), pct(put, 99), pct(get, 50), pct(get, 99))
	return nil
}
