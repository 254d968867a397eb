// Command honeytoken-load drives `pipeguard honeytoken serve` on loopback
// with a mix of decoy hits and junk from many 127.x source addresses, then
// checks that every hit was recorded and alerted (first hit at once,
// repeats grouped) and reports throughput and the listener's memory.
//
// It stops by itself after -duration; it never leaves loopback.
//
//	go build -o /tmp/pipeguard ./cmd/pipeguard
//	go run ./bench/honeytoken -bin /tmp/pipeguard -duration 60s -rate 6000
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pipeguard/pipeguard/internal/home"
	"github.com/pipeguard/pipeguard/internal/honeytoken"
)

type token struct {
	ID, Type, Token, File string
}

type alertCounts struct {
	mu     sync.Mutex
	first  map[string]int64
	repeat map[string]int64 // sum of counts
	n      int
}

func main() {
	bin := flag.String("bin", "", "pipeguard binary to run (required)")
	duration := flag.Duration("duration", 60*time.Second, "load duration")
	rate := flag.Int("rate", 6000, "target requests per second (open loop)")
	workers := flag.Int("workers", 128, "concurrent clients")
	sources := flag.Int("sources", 250, "distinct 127.x source addresses")
	ntokens := flag.Int("tokens", 20, "honeytokens to create")
	hitRatio := flag.Float64("hit-ratio", 0.4, "share of requests that use a honeytoken")
	window := flag.Duration("window", 10*time.Second, "alert grouping window given to serve")
	compare := flag.Duration("compare", 0, "if set, first drive a trivial net/http server (fixed 404, separate process) for this long at -compare-rate, then pipeguard, and report the ratio")
	compareRate := flag.Int("compare-rate", 20000, "request rate for the -compare runs (above what the machine can do, to find the ceiling)")
	trivial := flag.String("trivial-server", "", "internal: run the yardstick server on this address")
	flag.Parse()
	if *trivial != "" {
		log.Fatal(http.ListenAndServe(*trivial, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			http.NotFound(w, r)
		})))
	}
	if *bin == "" {
		log.Fatal("-bin is required")
	}
	if *duration > 5*time.Minute {
		log.Fatal("-duration is capped at 5m")
	}
	tmp, err := os.MkdirTemp("", "honeytoken-load")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	hdir := filepath.Join(tmp, "home")
	port := freePort()
	base := "http://127.0.0.1:" + strconv.Itoa(port)

	// Tokens of every HTTP-observable type, made through the CLI.
	types := []string{"url", "aws", "npm", "docker", "kubeconfig"}
	var toks []token
	for i := 0; i < *ntokens; i++ {
		typ := types[i%len(types)]
		out, err := exec.Command(*bin, "--home", hdir, "honeytoken", "create", "--type", typ, "--note", "load test "+strconv.Itoa(i), "--base-url", base, "--output", "json").Output()
		if err != nil {
			log.Fatalf("create: %v", err)
		}
		var t token
		if err := json.Unmarshal(out, &t); err != nil {
			log.Fatal(err)
		}
		toks = append(toks, t)
	}

	// The webhook receiver.
	ac := &alertCounts{first: map[string]int64{}, repeat: map[string]int64{}}
	wln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(wln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a honeytoken.Alert
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
			w.WriteHeader(400)
			return
		}
		ac.mu.Lock()
		ac.n++
		if a.Kind == honeytoken.KindFirst {
			ac.first[a.TokenID]++
		} else {
			ac.repeat[a.TokenID] += a.Count
		}
		ac.mu.Unlock()
	}))

	serve := exec.Command(*bin, "--home", hdir, "honeytoken", "serve", "--http", "127.0.0.1:"+strconv.Itoa(port),
		"--webhook", "http://"+wln.Addr().String()+"/hook", "--group-window", window.String(), "--rate", "100000", "--burst", "100000")
	serve.Stderr = os.Stderr
	if err := serve.Start(); err != nil {
		log.Fatal(err)
	}
	defer serve.Process.Kill()
	waitPort(port)

	// Memory sampler.
	var rssMax, rssFirst, rssLast int64
	var samples []int64
	stopSample := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopSample:
				return
			case <-t.C:
				rss := procKB(serve.Process.Pid, "VmRSS:")
				samples = append(samples, rss)
				if rssFirst == 0 {
					rssFirst = rss
				}
				rssLast = rss
				if rss > rssMax {
					rssMax = rss
				}
			}
		}
	}()

	var cmp map[string]float64
	var extraHits, extraHitsErr int64
	extraPerToken := make([]int64, len(toks))
	if *compare > 0 {
		// Yardstick first: a trivial server in its own process under the
		// same generator shows what this machine can do at all.
		self, err := os.Executable()
		if err != nil {
			log.Fatal(err)
		}
		tport := freePort()
		triv := exec.Command(self, "-trivial-server", "127.0.0.1:"+strconv.Itoa(tport))
		if err := triv.Start(); err != nil {
			log.Fatal(err)
		}
		waitPort(tport)
		tl := drive("http://127.0.0.1:"+strconv.Itoa(tport), toks, *compare, *compareRate, *workers, *sources, *hitRatio)
		triv.Process.Kill()
		triv.Wait()
		pl := drive(base, toks, *compare, *compareRate, *workers, *sources, *hitRatio)
		t, p := float64(tl.okResp.Load())/tl.elapsed.Seconds(), float64(pl.okResp.Load())/pl.elapsed.Seconds()
		cmp = map[string]float64{"trivial_req_per_s": t, "pipeguard_req_per_s": p, "ratio": p / t}
		// The comparison run's hits count in the totals checked below.
		extraHits = pl.hitsOK.Load()
		extraHitsErr = pl.hitsErr.Load()
		for i := range toks {
			extraPerToken[i] = pl.perToken[i].Load()
		}
	}
	ld := drive(base, toks, *duration, *rate, *workers, *sources, *hitRatio)
	elapsed := ld.elapsed
	sent, okResp, errs, hitsOK, hitsErr, limited, status, perToken := &ld.sent, &ld.okResp, &ld.errs, &ld.hitsOK, &ld.hitsErr, &ld.limited, ld.status, ld.perToken

	// Let the last grouping windows close and deliveries finish, then stop
	// the listener gracefully.
	time.Sleep(*window + 3*time.Second)
	close(stopSample)
	<-sampled
	serve.Process.Signal(syscall.SIGTERM)
	serve.Wait()

	// Check the store: every hit recorded, every hit accounted for in
	// exactly one alert count, every alert delivered.
	ctx2 := context.Background()
	h, err := home.Open(ctx2, hdir)
	if err != nil {
		log.Fatal(err)
	}
	reg, db, err := honeytoken.OpenHome(ctx2, h)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	stored, _ := reg.HitCount(ctx2, "")
	alerts, err := reg.Alerts(ctx2, honeytoken.AlertFilter{})
	if err != nil {
		log.Fatal(err)
	}
	sumCounts, pending, firsts := int64(0), 0, 0
	for _, a := range alerts {
		sumCounts += a.Count
		pending += len(a.Pending)
		if a.Kind == honeytoken.KindFirst {
			firsts++
		}
	}
	var perTokenMismatch []string
	for i, t := range toks {
		n, _ := reg.HitCount(ctx2, t.ID)
		ac.mu.Lock()
		got := ac.first[t.ID] + ac.repeat[t.ID]
		ac.mu.Unlock()
		if n < perToken[i].Load()+extraPerToken[i] || got != n {
			perTokenMismatch = append(perTokenMismatch, fmt.Sprintf("%s sent-ok=%d stored=%d alerted=%d", t.ID, perToken[i].Load()+extraPerToken[i], n, got))
		}
	}

	res := map[string]any{
		"duration_s":       elapsed.Seconds(),
		"requests":         sent.Load(),
		"responses":        okResp.Load(),
		"errors":           errs.Load(),
		"req_per_s":        float64(okResp.Load()) / elapsed.Seconds(),
		"hits_sent_ok":     hitsOK.Load(),
		"hits_sent_err":    hitsErr.Load(),
		"hits_stored":      stored,
		"alerts":           len(alerts),
		"alerts_first":     firsts,
		"alert_count_sum":  sumCounts,
		"alerts_pending":   pending,
		"webhook_received": ac.n,
		"rss_kb_first":     rssFirst,
		"rss_kb_max":       rssMax,
		"rss_kb_last":      rssLast,
		"status_200":       status[200].Load(),
		"status_401":       status[401].Load(),
		"status_403":       status[403].Load(),
		"status_404":       status[404].Load(),
		"status_429":       limited.Load(),
		"sources":          *sources,
		"tokens":           len(toks),
		"token_mismatches": perTokenMismatch,
		"compare":          cmp,
		"compare_hits_ok":  extraHits,
		"compare_hits_err": extraHitsErr,
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	fmt.Println(string(b))
	okAll := stored >= hitsOK.Load()+extraHits && stored <= hitsOK.Load()+hitsErr.Load()+extraHits+extraHitsErr && sumCounts == stored && pending == 0 && ac.n == len(alerts) && len(perTokenMismatch) == 0
	if !okAll {
		fmt.Println("FAIL: not every hit was recorded and alerted exactly once")
		os.Exit(1)
	}
	if cmp != nil {
		fmt.Printf("COMPARE (%s each, offered %d req/s): trivial net/http server %.0f req/s, pipeguard decoy %.0f req/s, ratio %.2f\n",
			compare.String(), *compareRate, cmp["trivial_req_per_s"], cmp["pipeguard_req_per_s"], cmp["ratio"])
	}
	fmt.Printf("PASS: %.0f req/s for %.0fs from %d sources; %d hits stored = %d alerted in %d alerts (%d first); listener RSS %d..%d KB (max %d)\n",
		res["req_per_s"], elapsed.Seconds(), *sources, stored, sumCounts, len(alerts), firsts, rssFirst, rssLast, rssMax)
}

func clientFrom(src int) *http.Client {
	ip := net.IPv4(127, 1, byte(src>>8), byte(src&0xff+1))
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext:         d.DialContext,
			MaxIdleConnsPerHost: 1,
			MaxConnsPerHost:     1,
			DisableCompression:  true,
		},
	}
}

func hitRequest(base string, t token) *http.Request {
	var req *http.Request
	switch t.Type {
	case "url":
		// The token's path on whichever server this run drives.
		u, _ := url.Parse(t.Token)
		req, _ = http.NewRequest("GET", base+u.Path, nil)
	case "aws":
		req, _ = http.NewRequest("POST", base+"/", strings.NewReader("Action=GetCallerIdentity&Version=2011-06-15"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+t.Token+"/20260101/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
	case "npm":
		req, _ = http.NewRequest("GET", base+"/-/whoami", nil)
		req.Header.Set("Authorization", "Bearer "+t.Token)
	case "docker":
		req, _ = http.NewRequest("GET", base+"/v2/", nil)
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("ci:"+t.Token)))
	case "kubeconfig":
		req, _ = http.NewRequest("GET", base+"/api", nil)
		req.Header.Set("Authorization", "Bearer "+t.Token)
	}
	req.Header.Set("User-Agent", "load/1")
	return req
}

func junkRequest(base string, rng *rand.Rand) *http.Request {
	var req *http.Request
	switch rng.IntN(6) {
	case 0:
		req, _ = http.NewRequest("GET", base+"/wp-login.php?x="+strconv.Itoa(rng.IntN(1e6)), nil)
	case 1:
		req, _ = http.NewRequest("GET", base+"/static/"+randStr(rng, 26)+".gif", nil)
	case 2:
		req, _ = http.NewRequest("POST", base+"/", strings.NewReader("Action=GetCallerIdentity"))
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIA"+strings.ToUpper(randStr(rng, 16))+"/20260101/us-east-1/sts/aws4_request, Signature=00")
	case 3:
		req, _ = http.NewRequest("GET", base+"/v2/", nil)
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("admin:"+randStr(rng, 20))))
	case 4:
		req, _ = http.NewRequest("GET", base+"/api/v1/namespaces/"+randStr(rng, 8)+"/secrets", nil)
		req.Header.Set("Authorization", "Bearer "+randStr(rng, 40))
	default:
		req, _ = http.NewRequest("GET", base+"/"+strings.Repeat(randStr(rng, 30)+"/", 20), nil)
	}
	req.Header.Set("User-Agent", "junk/1")
	return req
}

func randStr(rng *rand.Rand, n int) string {
	const a = "abcdefghijklmnopqrstuvwxyz234567"
	b := make([]byte, n)
	for i := range b {
		b[i] = a[rng.IntN(len(a))]
	}
	return string(b)
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitPort(port int) {
	for i := 0; i < 200; i++ {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	log.Fatal("serve did not come up")
}

// procKB reads a kB field from /proc/PID/status.
func procKB(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// load is what one run of the generator saw.
type load struct {
	elapsed                                      time.Duration
	sent, okResp, errs, hitsOK, hitsErr, limited atomic.Int64
	status                                       []atomic.Int64
	perToken                                     []atomic.Int64
}

// drive sends an open-loop mix of hits and junk at rate for duration.
func drive(base string, toks []token, duration time.Duration, rate, workers, sources int, hitRatio float64) *load {
	ld := &load{status: make([]atomic.Int64, 600), perToken: make([]atomic.Int64, len(toks))}
	sent, okResp, errs, hitsOK, hitsErr, limited, status, perToken := &ld.sent, &ld.okResp, &ld.errs, &ld.hitsOK, &ld.hitsErr, &ld.limited, ld.status, ld.perToken
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	interval := time.Duration(float64(time.Second) * float64(workers) / float64(rate))
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			// Each worker cycles through its own share of source addresses.
			clients := map[int]*http.Client{}
			next := start.Add(time.Duration(rng.Int64N(int64(interval))))
			for i := 0; ; i++ {
				if d := time.Until(next); d > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(d):
					}
				} else if ctx.Err() != nil {
					return
				}
				next = next.Add(interval)
				// Each source address belongs to one worker, so every
				// source keeps one keep-alive connection.
				mine := (sources - w + workers - 1) / workers
				if mine < 1 {
					mine = 1
				}
				src := (w + (i%mine)*(workers)) % sources
				c, ok := clients[src]
				if !ok {
					c = clientFrom(src)
					clients[src] = c
				}
				ti := -1
				var req *http.Request
				if rng.Float64() < hitRatio {
					ti = rng.IntN(len(toks))
					req = hitRequest(base, toks[ti])
				} else {
					req = junkRequest(base, rng)
				}
				sent.Add(1)
				resp, err := c.Do(req)
				if err != nil {
					errs.Add(1)
					if ti >= 0 {
						hitsErr.Add(1)
					}
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				okResp.Add(1)
				status[resp.StatusCode].Add(1)
				if resp.StatusCode == 429 {
					limited.Add(1)
				}
				if ti >= 0 {
					hitsOK.Add(1)
					perToken[ti].Add(1)
				}
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	ld.elapsed = elapsed
	return ld
}
