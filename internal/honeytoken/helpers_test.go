package honeytoken

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipeguard/pipeguard/internal/store"
)

// newTestRegistry opens a registry on a fresh SQLite file.
func newTestRegistry(t *testing.T) *Registry {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, filepath.Join(dir, "pipeguard.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fp := make([]byte, 32)
	seal := make([]byte, 32)
	for i := range fp {
		fp[i], seal[i] = byte(i), byte(255-i)
	}
	ca, err := LoadOrCreateCA(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, db, fp, seal, WithCA(ca))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustCreate(t *testing.T, r *Registry, o CreateOptions) *Token {
	t.Helper()
	if o.Note == "" {
		o.Note = "test: " + string(o.Type)
	}
	tok, err := r.Create(context.Background(), o)
	if err != nil {
		t.Fatalf("creating %s token: %v", o.Type, err)
	}
	return tok
}

// receiver is a real local webhook receiver that can be switched off
// (answers 503) to simulate a sink outage.
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	down bool
	got  []Alert
	raw  []map[string]any
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if rc.down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var a Alert
		var raw map[string]any
		if json.Unmarshal(b, &a) != nil || json.Unmarshal(b, &raw) != nil || r.Method != http.MethodPost {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		rc.got = append(rc.got, a)
		rc.raw = append(rc.raw, raw)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) setDown(d bool) { rc.mu.Lock(); rc.down = d; rc.mu.Unlock() }

func (rc *receiver) alerts() []Alert {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Alert(nil), rc.got...)
}

// waitFor polls cond until it holds or a generous deadline passes. It is
// a liveness wait, not a timing assertion.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// alertFor waits until the receiver has an alert of kind for token id.
func (rc *receiver) alertFor(t *testing.T, id, kind string) Alert {
	t.Helper()
	var found Alert
	waitFor(t, "a "+kind+" alert for "+id+" at the webhook", func() bool {
		for _, a := range rc.alerts() {
			if a.TokenID == id && a.Kind == kind {
				found = a
				return true
			}
		}
		return false
	})
	return found
}

// startServer runs a Server until the test ends.
func startServer(t *testing.T, r *Registry, cfg ServeConfig) *Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = 20*time.Millisecond, 200*time.Millisecond
	}
	if cfg.Refresh == 0 {
		cfg.Refresh = 100 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = quietLog(t)
	}
	s, err := Start(ctx, r, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		s.Wait()
	})
	return s
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// quietLog logs to the test log only with -v, so expected delivery
// failures do not flood the output.
func quietLog(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tlogWriter{t}, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type tlogWriter struct{ t *testing.T }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
