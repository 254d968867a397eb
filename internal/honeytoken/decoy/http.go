package decoy

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Limits on what the HTTP decoy reads from a request.
const (
	maxHeaderBytes  = 16 << 10
	maxFormBytes    = 8 << 10
	maxPathSegments = 12
	maxCandidates   = 16
)

// HTTP serves the HTTP decoys on one listener. Which decoy answers depends
// only on the shape of the request, never on whether its credential is a
// known token, so responses reveal nothing about the registry.
type HTTP struct {
	idx Index
	rec Recorder
	lim *Limiter
	log *slog.Logger
}

// HTTPOption configures an HTTP decoy.
type HTTPOption func(*HTTP)

// WithHTTPLimiter sets the per-source response limiter.
func WithHTTPLimiter(l *Limiter) HTTPOption { return func(h *HTTP) { h.lim = l } }

// WithHTTPLogger sets the logger.
func WithHTTPLogger(l *slog.Logger) HTTPOption { return func(h *HTTP) { h.log = l } }

// NewHTTP returns the HTTP decoy handler.
func NewHTTP(idx Index, rec Recorder, opts ...HTTPOption) *HTTP {
	h := &HTTP{idx: idx, rec: rec, log: slog.Default()}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Server wraps the handler in an http.Server with the timeouts and header
// limits an attack-facing listener needs.
func (h *HTTP) Server() *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(h.log.Handler(), slog.LevelDebug),
	}
}

// route names the decoy that answers a request.
type route int

const (
	routeNotFound route = iota
	routeAWS
	routeRegistry
	routeNPM
	routeKube
	routeWebBug
)

var routeNames = [...]string{"http", "aws", "registry", "npm", "kubernetes", "web-bug"}

func classify(r *http.Request) route {
	p := r.URL.Path
	auth := r.Header.Get("Authorization")
	switch {
	case strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") || r.URL.Query().Has("X-Amz-Credential"):
		return routeAWS
	case p == "/v2" || strings.HasPrefix(p, "/v2/"):
		return routeRegistry
	case strings.HasPrefix(p, "/-/") || r.Header.Get("Npm-Command") != "" || strings.HasPrefix(r.UserAgent(), "npm/"):
		return routeNPM
	case p == "/api" || strings.HasPrefix(p, "/api/") || p == "/apis" || strings.HasPrefix(p, "/apis/") || p == "/version" || strings.HasPrefix(p, "/openapi/"):
		return routeKube
	case strings.HasSuffix(p, ".gif"):
		return routeWebBug
	}
	return routeNotFound
}

// ServeHTTP records any decoy credential in the request, then answers as
// the decoy the request is shaped for.
func (h *HTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	src := remoteAddr(r.RemoteAddr)
	rt := classify(r)
	cands := credentials(r, rt)
	ids, matched := lookupAll(h.idx, cands)
	if len(ids) > 0 {
		hit := Hit{
			Time:      time.Now().UTC(),
			Channel:   "http",
			Source:    src.String(),
			UserAgent: sanitize(r.UserAgent(), 200),
			Summary:   sanitize(r.Method+" "+redact(r.URL.Path, matched)+" ("+routeNames[rt]+")", 300),
		}
		for _, id := range ids {
			hit.TokenID = id
			if err := h.rec.Record(r.Context(), hit); err != nil {
				h.log.Error("recording honeytoken hit", "token", id, "err", err)
			}
		}
	}
	if !h.lim.Allow(src) {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	respond(w, r, rt)
}

func remoteAddr(s string) netip.Addr {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.IPv4Unspecified()
	}
	return ap.Addr().Unmap()
}

// credentials extracts the strings in r that could be a decoy credential:
// HTTP auth, an AWS SigV4 access key id, path segments (web bugs) and the
// password of a registry token request. Bounded in number and size.
func credentials(r *http.Request, rt route) []string {
	var out []string
	add := func(s string) {
		if s != "" && len(out) < maxCandidates && len(s) <= 4096 {
			out = append(out, s)
		}
	}
	auth := r.Header.Get("Authorization")
	scheme, rest, _ := strings.Cut(auth, " ")
	rest = strings.TrimSpace(rest)
	switch strings.ToLower(scheme) {
	case "basic":
		add(rest)
		if b, err := base64.StdEncoding.DecodeString(rest); err == nil {
			u, p, _ := strings.Cut(string(b), ":")
			add(p)
			add(u)
		}
	case "bearer", "token":
		add(rest)
	case "aws4-hmac-sha256":
		add(sigV4KeyID(rest))
	}
	if c := r.URL.Query().Get("X-Amz-Credential"); c != "" {
		id, _, _ := strings.Cut(c, "/")
		add(id)
	}
	segs := strings.Split(r.URL.Path, "/")
	if len(segs) > maxPathSegments {
		segs = segs[:maxPathSegments]
	}
	for _, s := range segs {
		if i := strings.LastIndexByte(s, '.'); i > 0 {
			s = s[:i]
		}
		if len(s) >= 16 && len(s) <= 128 {
			add(s)
		}
	}
	// Registry token endpoints receive the password in a form (OAuth2
	// password grant).
	if rt == routeRegistry && r.Method == http.MethodPost {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == "application/x-www-form-urlencoded" {
			r.Body = http.MaxBytesReader(nil, r.Body, maxFormBytes)
			if err := r.ParseForm(); err == nil {
				add(r.PostForm.Get("password"))
				add(r.PostForm.Get("refresh_token"))
			}
		}
	}
	return out
}

// sigV4KeyID returns the access key id from the Credential= part of an
// AWS4-HMAC-SHA256 Authorization header, or "".
func sigV4KeyID(params string) string {
	for _, p := range strings.Split(params, ",") {
		p = strings.TrimSpace(p)
		if v, ok := strings.CutPrefix(p, "Credential="); ok {
			id, _, _ := strings.Cut(v, "/")
			if len(id) >= 16 && len(id) <= 128 {
				return id
			}
		}
	}
	return ""
}

// Fixed response bodies: nothing from the request ever goes back.
var (
	gif1x1 = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

	awsInvalid = `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>Sender</Type>
    <Code>InvalidClientTokenId</Code>
    <Message>The security token included in the request is invalid.</Message>
  </Error>
  <RequestId>%s</RequestId>
</ErrorResponse>
`
	registryUnauthorized = `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}` + "\n"
	npmUnauthorized      = `{"error":"You must be logged in to do that"}` + "\n"
	kubeUnauthorized     = `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}` + "\n"
)

func requestID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func respond(w http.ResponseWriter, r *http.Request, rt route) {
	// Drain a little of the body so keep-alive clients are not reset, but
	// never more than a small bound.
	io.CopyN(io.Discard, r.Body, maxFormBytes)
	hd := w.Header()
	switch rt {
	case routeAWS:
		id := requestID()
		hd.Set("x-amzn-RequestId", id)
		hd.Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, awsInvalid, id)
	case routeRegistry:
		hd.Set("Content-Type", "application/json")
		hd.Set("Docker-Distribution-Api-Version", "registry/2.0")
		hd.Set("WWW-Authenticate", `Basic realm="Registry Realm"`)
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, registryUnauthorized)
	case routeNPM:
		hd.Set("Content-Type", "application/json")
		hd.Set("WWW-Authenticate", "Bearer")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, npmUnauthorized)
	case routeKube:
		hd.Set("Content-Type", "application/json")
		hd.Set("Cache-Control", "no-cache, private")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, kubeUnauthorized)
	case routeWebBug:
		hd.Set("Content-Type", "image/gif")
		hd.Set("Cache-Control", "no-store, max-age=0")
		hd.Set("Content-Length", strconv.Itoa(len(gif1x1)))
		w.WriteHeader(http.StatusOK)
		w.Write(gif1x1)
	default:
		http.NotFound(w, r)
	}
}

// ServeHTTPListener serves h on ln until ctx ends, then shuts down
// gracefully. The caller bounds concurrent connections on ln.
func ServeHTTPListener(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-errc
		return nil
	}
}
