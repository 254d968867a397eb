// Package server is `pipeguard server`: the transparency log's HTTP API
// (Rekor v2 style submissions, C2SP tlog-tiles reads) and the attestation
// store, with builder authentication, metrics and health checks.
package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/pipeguard/pipeguard/internal/store"
	"github.com/pipeguard/pipeguard/internal/tlog"
)

// MaxBundleBytes bounds an attestation upload.
const MaxBundleBytes = 4 << 20

// Server serves one log and its attestation store.
type Server struct {
	log      *tlog.Log
	tilesDir string
	builders *Builders
	db       *store.DB
	logger   *slog.Logger

	privateStore bool
	addTimeout   time.Duration

	reg     *prometheus.Registry
	metrics *metrics
}

type metrics struct {
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	entries   prometheus.Counter
	refused   *prometheus.CounterVec
	treeSize  prometheus.Gauge
	stored    prometheus.Counter
	inclusion prometheus.Histogram
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the structured logger.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.logger = l } }

// WithPrivateStore makes store reads require a builder token.
func WithPrivateStore() Option { return func(s *Server) { s.privateStore = true } }

// WithAddTimeout bounds how long a submission waits for inclusion.
func WithAddTimeout(d time.Duration) Option { return func(s *Server) { s.addTimeout = d } }

// New builds a server for the log whose tiles live in tilesDir, with the
// builder registry and attestation store in db.
func New(ctx context.Context, l *tlog.Log, tilesDir string, db *store.DB, opts ...Option) (*Server, error) {
	b, err := NewBuilders(ctx, db)
	if err != nil {
		return nil, err
	}
	if err := db.MigrateAttestations(ctx); err != nil {
		return nil, err
	}
	s := &Server{log: l, tilesDir: tilesDir, builders: b, db: db, logger: slog.Default(), addTimeout: 30 * time.Second}
	for _, o := range opts {
		o(s)
	}
	s.reg = prometheus.NewRegistry()
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pipeguard_http_requests_total", Help: "HTTP requests by route and status code."}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "pipeguard_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"route"}),
		entries:  prometheus.NewCounter(prometheus.CounterOpts{Name: "pipeguard_log_entries_added_total", Help: "Entries logged and acknowledged with an inclusion proof."}),
		refused:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pipeguard_log_entries_refused_total", Help: "Submissions refused, by reason."}, []string{"reason"}),
		treeSize: prometheus.NewGauge(prometheus.GaugeOpts{Name: "pipeguard_log_tree_size", Help: "Size of the tree of the latest checkpoint handed out."}),
		stored:   prometheus.NewCounter(prometheus.CounterOpts{Name: "pipeguard_store_attestations_added_total", Help: "Attestations stored."}),
		inclusion: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "pipeguard_log_inclusion_seconds", Help: "Time from accepting a submission to its inclusion proof.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)}),
	}
	s.reg.MustRegister(m.requests, m.latency, m.entries, m.refused, m.treeSize, m.stored, m.inclusion)
	s.metrics = m
	return s, nil
}

// Builders returns the builder registry.
func (s *Server) Builders() *Builders { return s.builders }

// Handler returns the server's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern, route string, h http.HandlerFunc) { mux.Handle(pattern, s.instrument(route, h)) }
	handle("GET /healthz", "healthz", s.healthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	handle("POST "+tlog.PathEntries, "add_entry", s.addEntry)
	handle("GET "+tlog.PathCheckpoint, "checkpoint", s.tiles)
	handle("GET /tile/", "tile", s.tiles)
	handle("GET "+tlog.PathVerifierKey, "verifier_key", s.verifierKey)
	handle("POST "+tlog.PathAttestations, "put_attestation", s.putAttestation)
	handle("GET "+tlog.PathAttestations, "get_attestations", s.getAttestations)
	return mux
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(c int) { w.code = c; w.ResponseWriter.WriteHeader(c) }

func (s *Server) instrument(route string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h(sw, r)
		s.metrics.requests.WithLabelValues(route, fmt.Sprint(sw.code)).Inc()
		s.metrics.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
		if sw.code >= 500 {
			s.logger.Warn("request failed", "route", route, "code", sw.code, "remote", r.RemoteAddr)
		}
	})
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// readBody reads at most limit bytes, refusing larger bodies with 413.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	if r.ContentLength > limit {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", limit))
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", limit))
		} else {
			writeError(w, http.StatusBadRequest, "reading request body failed")
		}
		return nil, false
	}
	return body, true
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.db.PingContext(ctx); err != nil {
		writeError(w, http.StatusServiceUnavailable, "database unavailable")
		return
	}
	// The published checkpoint must be readable and signed by the log; a
	// new log has none until its first publication (a few hundred ms).
	if _, _, err := s.log.Checkpoint(ctx); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.logger.Error("health check: checkpoint", "err", err)
		writeError(w, http.StatusServiceUnavailable, "log checkpoint unreadable or not signed by the log")
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "ok\n")
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return ""
}

func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*Builder, bool) {
	b, err := s.builders.Authenticate(r.Context(), bearer(r))
	if errors.Is(err, ErrUnauthorized) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="pipeguard"`)
		writeError(w, http.StatusUnauthorized, err.Error())
		return nil, false
	}
	if err != nil {
		s.logger.Error("authenticating builder", "err", err)
		writeError(w, http.StatusServiceUnavailable, "builder registry unavailable")
		return nil, false
	}
	return b, true
}

// addEntry logs a hashedrekord entry signed by the authenticated
// builder's key and answers with the entry and its inclusion proof.
func (s *Server) addEntry(w http.ResponseWriter, r *http.Request) {
	b, ok := s.authenticate(w, r)
	if !ok {
		s.metrics.refused.WithLabelValues("unauthorized").Inc()
		return
	}
	body, ok := readBody(w, r, tlog.MaxRequestBytes)
	if !ok {
		s.metrics.refused.WithLabelValues("too_large").Inc()
		return
	}
	start := time.Now()
	req, err := tlog.ParseRequest(body)
	if err != nil {
		s.metrics.refused.WithLabelValues("malformed").Inc()
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !bytes.Equal(req.GetSignature().GetVerifier().GetPublicKey().GetRawBytes(), b.DER) {
		s.metrics.refused.WithLabelValues("wrong_key").Inc()
		writeError(w, http.StatusForbidden, fmt.Sprintf("builder %s may only log entries signed by its own key %s", b.Name, b.KeyID))
		return
	}
	e, err := tlog.NewEntry(req)
	if err != nil {
		s.metrics.refused.WithLabelValues("invalid").Inc()
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.addTimeout)
	defer cancel()
	tle, err := s.log.Add(ctx, e)
	switch {
	case errors.Is(err, tlog.ErrPushback):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "log is busy; retry")
		return
	case err != nil:
		s.logger.Error("adding entry", "builder", b.Name, "err", err)
		writeError(w, http.StatusServiceUnavailable, "entry was not logged; retry")
		return
	}
	out, err := protojson.Marshal(tle)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding entry failed")
		return
	}
	s.metrics.entries.Inc()
	s.metrics.inclusion.Observe(time.Since(start).Seconds())
	s.metrics.treeSize.Set(float64(tle.GetInclusionProof().GetTreeSize()))
	s.logger.Debug("entry logged", "builder", b.Name, "index", tle.GetLogIndex())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	w.Write(out)
}

// tiles serves the C2SP tlog-tiles resources (checkpoint, tiles, entry
// bundles) straight from storage, and nothing else from that directory.
func (s *Server) tiles(w http.ResponseWriter, r *http.Request) {
	p := path.Clean(r.URL.Path)
	if p != tlog.PathCheckpoint && !strings.HasPrefix(p, "/tile/") {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	f := filepath.Join(s.tilesDir, filepath.FromSlash(strings.TrimPrefix(p, "/")))
	data, err := os.ReadFile(f)
	if err != nil {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	if p == tlog.PathCheckpoint {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		// Full tiles never change; partial ones are replaced by larger ones.
		if strings.Contains(p, ".p/") {
			w.Header().Set("Cache-Control", "no-cache")
		} else {
			w.Header().Set("Cache-Control", "public, max-age=604800, immutable")
		}
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	w.Write(data)
}

func (s *Server) verifierKey(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, s.log.Identity().VerifierKey()+"\n")
}

// Serve runs the server on ln until ctx is done, then shuts down
// gracefully: in-flight submissions finish (and are acknowledged) first.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      s.addTimeout + 30*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.addTimeout+5*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	if cerr := s.log.Close(sctx); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

func bundleID(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
