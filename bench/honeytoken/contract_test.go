package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCommandContract runs the CLI exactly as the acceptance checks do:
// create --output json, then serve with --http --dns --zone --webhook --db
// on the same home, and a use of each kind of decoy reaches the webhook as
// a JSON POST naming the token in token_id.
func TestCommandContract(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the pipeguard binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "pipeguard")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/pipeguard/pipeguard/cmd/pipeguard").CombinedOutput(); err != nil {
		t.Skipf("cannot build pipeguard in this tree (another package is mid-edit?): %v\n%s", err, out)
	}
	env := append(os.Environ(), "PIPEGUARD_HOME="+t.TempDir())
	httpPort, dnsPort, dbPort := freePort(), freeUDPPort(t), freePort()
	base := "http://127.0.0.1:" + strconv.Itoa(httpPort)
	zone := "canary.example.test"

	create := func(typ string, extra ...string) map[string]any {
		args := append([]string{"honeytoken", "create", "--type", typ, "--note", "contract " + typ, "--output", "json"}, extra...)
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("create %s: %v", typ, err)
		}
		var v map[string]any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"id", "type", "token"} {
			if s, _ := v[k].(string); s == "" {
				t.Fatalf("create %s: no %q in %s", typ, k, out)
			}
		}
		return v
	}
	web := create("url", "--base-url", base)
	dns := create("dns", "--zone", zone)
	db := create("env-db", "--base-url", base, "--db-addr", "127.0.0.1:"+strconv.Itoa(dbPort))
	if f, _ := db["file"].(string); !strings.Contains(f, db["token"].(string)) {
		t.Fatalf("env-db file does not hold the token: %q", f)
	}

	var mu sync.Mutex
	got := map[string]int{}
	wl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go http.Serve(wl, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a struct {
			TokenID string `json:"token_id"`
		}
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || json.Unmarshal(b, &a) != nil {
			w.WriteHeader(400)
			return
		}
		mu.Lock()
		got[a.TokenID]++
		mu.Unlock()
	}))
	defer wl.Close()

	serve := exec.CommandContext(ctx, bin, "honeytoken", "serve", "--http", "127.0.0.1:"+strconv.Itoa(httpPort), "--dns", "127.0.0.1:"+strconv.Itoa(dnsPort),
		"--zone", zone, "--webhook", "http://"+wl.Addr().String()+"/hook", "--db", "127.0.0.1:"+strconv.Itoa(dbPort))
	serve.Env = env
	serve.Stderr = os.Stderr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		serve.Process.Signal(os.Interrupt)
		serve.Wait()
	}()
	waitPort(httpPort)

	resp, err := http.Get(web["token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", "127.0.0.1:"+strconv.Itoa(dnsPort))
	}}
	res.LookupHost(ctx, dns["token"].(string))
	if _, err := exec.LookPath("psql"); err == nil {
		c := exec.CommandContext(ctx, "psql", db["token"].(string), "-c", "select 1")
		c.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10")
		c.Run()
	}

	want := []string{web["id"].(string), dns["id"].(string)}
	if _, err := exec.LookPath("psql"); err == nil {
		want = append(want, db["id"].(string))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		missing := []string{}
		for _, id := range want {
			if got[id] == 0 {
				missing = append(missing, id)
			}
		}
		mu.Unlock()
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no webhook alert for %v", missing)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freeUDPPort(t *testing.T) int {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}
