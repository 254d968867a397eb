// Package admission is pipeguard's Kubernetes admission webhook: before a
// workload runs, every image it names must be pinned to a digest and carry
// attestations that satisfy the namespace's policy. It answers
// admission.k8s.io/v1 AdmissionReviews on /validate (allow or deny) and
// /mutate (pin tags to the digests it verified).
package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/sync/singleflight"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pipeguard/pipeguard/internal/oci"
)

// Mode is what the webhook does with an image that fails its policy.
type Mode string

// Modes.
const (
	// Enforce denies the request.
	Enforce Mode = "enforce"
	// Warn admits it and returns a warning to the client (kubectl shows it).
	Warn Mode = "warn"
	// Audit admits it and records the failure in the audit log annotations,
	// the log and the metrics only.
	Audit Mode = "audit"
)

// ParseMode reads a mode name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Enforce, Warn, Audit:
		return m, nil
	}
	return "", fmt.Errorf("unknown mode %q (want enforce, warn or audit)", s)
}

// Defaults and bounds.
const (
	// MaxTimeout is the longest internal deadline: the API server's own
	// webhook timeout is at most 30 s and the answer must beat it.
	MaxTimeout      = 28 * time.Second
	DefaultTimeout  = 8 * time.Second // for timeoutSeconds: 10 in deploy/
	DefaultCacheTTL = 10 * time.Minute
	// DefaultBodyMax bounds a review: an UPDATE carries the object and the
	// old object, each up to etcd's ~1.5 MiB, plus the review around them.
	DefaultBodyMax = 8 << 20
	maxParallel    = 8
)

// Config configures a Server.
type Config struct {
	// Policy is the policy file for namespaces without their own.
	Policy string
	// NamespacePolicies maps a namespace to its own policy file.
	NamespacePolicies map[string]string
	// Exempt namespaces are admitted without checks (kube-system and the
	// webhook's own namespace, so that the cluster and the webhook can
	// always recover).
	Exempt []string
	// Mode applies where NamespaceModes says nothing (default Enforce).
	Mode           Mode
	NamespaceModes map[string]Mode
	// AllowTags admits tag references on /validate. Off by default: a tag
	// can be moved after admission, so a tag is not an identity.
	AllowTags bool
	// Timeout is the internal deadline of one review (default 8 s, at most
	// 28 s); it must be shorter than the webhook's timeoutSeconds.
	Timeout time.Duration
	// CacheTTL is how long a verdict for an image digest is reused; a
	// negative value disables the cache.
	CacheTTL  time.Duration
	CacheSize int
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64
	// FailOpen admits when verification errors or times out. Off by default.
	FailOpen bool
}

// Server answers admission reviews.
type Server struct {
	cfg     Config
	client  *oci.Client
	pol     *policies
	cache   *verdictCache
	group   singleflight.Group
	metrics *metrics
	log     *slog.Logger
	secrets SecretGetter
	exempt  map[string]bool
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithSecretGetter lets the webhook read imagePullSecrets.
func WithSecretGetter(g SecretGetter) Option { return func(s *Server) { s.secrets = g } }

// New loads the policies and returns a Server.
func New(cfg Config, client *oci.Client, load LoadFunc, opts ...Option) (*Server, error) {
	if cfg.Policy == "" && len(cfg.NamespacePolicies) == 0 {
		return nil, errors.New("a policy is required")
	}
	if cfg.Mode == "" {
		cfg.Mode = Enforce
	}
	if _, err := ParseMode(string(cfg.Mode)); err != nil {
		return nil, err
	}
	for ns, m := range cfg.NamespaceModes {
		if _, err := ParseMode(string(m)); err != nil {
			return nil, fmt.Errorf("namespace %s: %w", ns, err)
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Timeout > MaxTimeout {
		return nil, fmt.Errorf("timeout %s is longer than %s: the API server would give up first", cfg.Timeout, MaxTimeout)
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 10000
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultBodyMax
	}
	pol, err := newPolicies(load, cfg.Policy, cfg.NamespacePolicies)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		client:  client,
		pol:     pol,
		cache:   newVerdictCache(cfg.CacheTTL, cfg.CacheSize),
		metrics: newMetrics(),
		log:     slog.New(slog.DiscardHandler),
		exempt:  map[string]bool{},
	}
	for _, ns := range cfg.Exempt {
		s.exempt[ns] = true
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Reload re-reads the policy files if they changed. On error the policies
// in force stay in force.
func (s *Server) Reload() (bool, error) {
	changed, err := s.pol.reload()
	switch {
	case err != nil:
		s.metrics.inc("pipeguard_admission_policy_reloads_total", "result", "error")
		s.log.Error("policy reload failed; keeping the policies in force", "err", err)
	case changed:
		s.metrics.inc("pipeguard_admission_policy_reloads_total", "result", "changed")
		s.log.Info("policies reloaded")
	}
	return changed, err
}

// WatchPolicies reloads changed policy files every interval until ctx ends.
// Polling, not inotify: a ConfigMap volume swaps a symlink, which polling
// sees the same way as an edit in place.
func (s *Server) WatchPolicies(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = s.Reload()
		}
	}
}

// Handler serves /validate, /mutate, /healthz and /metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/validate", s.serveReview(false))
	mux.HandleFunc("/mutate", s.serveReview(true))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		s.metrics.write(w)
	})
	return mux
}

func (s *Server) badRequest(w http.ResponseWriter, code int, msg string) {
	s.metrics.inc("pipeguard_admission_bad_requests_total", "code", fmt.Sprint(code))
	http.Error(w, msg, code)
}

func (s *Server) serveReview(mutate bool) http.HandlerFunc {
	endpoint := "validate"
	if mutate {
		endpoint = "mutate"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			s.badRequest(w, http.StatusMethodNotAllowed, "POST an AdmissionReview")
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "" && !strings.Contains(ct, "json") {
			s.badRequest(w, http.StatusUnsupportedMediaType, "want application/json, got "+ct)
			return
		}
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				s.badRequest(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", s.cfg.MaxBodyBytes))
				return
			}
			s.badRequest(w, http.StatusBadRequest, "reading request body: "+err.Error())
			return
		}
		rev, err := decodeReview(data)
		if err != nil {
			s.badRequest(w, http.StatusBadRequest, err.Error())
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.deadline(r))
		defer cancel()
		resp := s.safeReview(ctx, rev.Request, mutate)
		out := admissionv1.AdmissionReview{TypeMeta: rev.TypeMeta, Response: resp}
		body, err := json.Marshal(&out)
		if err != nil {
			http.Error(w, "encoding response", http.StatusInternalServerError)
			return
		}
		decision := "allowed"
		if !resp.Allowed {
			decision = "denied"
		}
		s.metrics.inc("pipeguard_admission_requests_total", "endpoint", endpoint, "decision", decision)
		s.metrics.observe(endpoint, time.Since(start))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}
}

// deadline is the internal deadline: the configured one, or less when the
// API server says (?timeout=10s) it will give up sooner.
func (s *Server) deadline(r *http.Request) time.Duration {
	d := s.cfg.Timeout
	if q := r.URL.Query().Get("timeout"); q != "" {
		if t, err := time.ParseDuration(q); err == nil && t > 0 {
			if m := t * 8 / 10; m < d {
				d = m
			}
		}
	}
	return d
}

// decodeReview accepts only an admission.k8s.io/v1 AdmissionReview with a
// request and a uid.
func decodeReview(data []byte) (*admissionv1.AdmissionReview, error) {
	var rev admissionv1.AdmissionReview
	if err := json.Unmarshal(data, &rev); err != nil {
		return nil, fmt.Errorf("not an AdmissionReview: %v", err)
	}
	if rev.APIVersion != "admission.k8s.io/v1" || rev.Kind != "AdmissionReview" {
		return nil, fmt.Errorf("not an admission.k8s.io/v1 AdmissionReview (apiVersion %q, kind %q)", rev.APIVersion, rev.Kind)
	}
	if rev.Request == nil {
		return nil, errors.New("AdmissionReview has no request")
	}
	if rev.Request.UID == "" {
		return nil, errors.New("AdmissionReview request has no uid")
	}
	return &rev, nil
}

// safeReview turns a panic into a denial: whatever goes wrong, the answer
// names the request and refuses.
func (s *Server) safeReview(ctx context.Context, req *admissionv1.AdmissionRequest, mutate bool) (resp *admissionv1.AdmissionResponse) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic while reviewing", "uid", req.UID, "panic", p)
			resp = deny(req, "pipeguard: internal error while reviewing this request")
		}
	}()
	return s.review(ctx, req, mutate)
}

func deny(req *admissionv1.AdmissionRequest, msg string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{
		UID:     req.UID,
		Allowed: false,
		Result:  &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden, Message: msg},
	}
}

func (s *Server) modeFor(ns string) Mode {
	if m, ok := s.cfg.NamespaceModes[ns]; ok {
		return m
	}
	return s.cfg.Mode
}

func (s *Server) review(ctx context.Context, req *admissionv1.AdmissionRequest, mutate bool) *admissionv1.AdmissionResponse {
	return s.reviewWith(ctx, req, mutate, s.modeFor(req.Namespace))
}

// reviewAs judges req as /mutate would (tags resolved) under the given
// mode, for reports.
func (s *Server) reviewAs(ctx context.Context, req *admissionv1.AdmissionRequest, mode Mode) *admissionv1.AdmissionResponse {
	return s.reviewWith(ctx, req, true, mode)
}

func (s *Server) reviewWith(ctx context.Context, req *admissionv1.AdmissionRequest, mutate bool, mode Mode) *admissionv1.AdmissionResponse {
	allow := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	switch req.Operation {
	case admissionv1.Delete, admissionv1.Connect:
		return allow
	}
	if s.exempt[req.Namespace] {
		return allow
	}
	w, err := workloadOf(req)
	if err != nil {
		s.log.Warn("unusable admission request", "uid", req.UID, "kind", req.Kind.Kind, "err", err)
		return deny(req, "pipeguard: "+err.Error())
	}
	pol := s.pol.forNamespace(req.Namespace)
	if pol == nil {
		return deny(req, fmt.Sprintf("pipeguard: no policy applies to namespace %q", req.Namespace))
	}

	var images []string
	seen := map[string]bool{}
	conts := containersOf(w.Spec, w.SpecPath)
	for _, c := range conts {
		if w.OldImages[c.Image] || seen[c.Image] {
			continue
		}
		seen[c.Image] = true
		images = append(images, c.Image)
	}
	if len(images) == 0 {
		return allow
	}

	client := s.lazyClient(ctx, req.Namespace, w.Spec.ImagePullSecrets)
	verdicts := make(map[string]*imageVerdict, len(images))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxParallel)
	for _, img := range images {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var v *imageVerdict
			defer func() {
				// A panic here would end the process, not just the request.
				if p := recover(); p != nil {
					s.log.Error("panic while verifying", "image", img, "panic", p)
					v = &imageVerdict{Image: img, Err: errors.New("internal error while verifying")}
				}
				mu.Lock()
				verdicts[img] = v
				mu.Unlock()
			}()
			v = s.checkImage(ctx, pol, img, client, mutate || s.cfg.AllowTags)
		}()
	}
	wg.Wait()

	var problems []string
	for _, img := range images {
		v := verdicts[img]
		if v.Passed {
			continue
		}
		if v.Err != nil && s.cfg.FailOpen {
			allow.Warnings = append(allow.Warnings, truncate(fmt.Sprintf("pipeguard could not verify %s (admitted: fail-open): %v", img, v.Err), maxWarning))
			continue
		}
		problems = append(problems, v.describe())
	}
	s.log.Debug("reviewed", "uid", req.UID, "namespace", req.Namespace, "kind", w.Kind, "images", len(images), "problems", len(problems))

	if mutate {
		allow.Patch, allow.PatchType = s.pinPatch(conts, verdicts)
	}
	if len(problems) == 0 {
		return allow
	}
	switch mode {
	case Warn:
		for _, p := range problems {
			allow.Warnings = append(allow.Warnings, truncate("pipeguard (warn mode; would be refused): "+p, maxWarning))
		}
		s.log.Warn("warn: would refuse", "uid", req.UID, "namespace", req.Namespace, "kind", w.Kind, "name", req.Name, "problems", strings.Join(problems, "; "))
		return allow
	case Audit:
		// The API server prefixes the key with the webhook's name:
		// verify.pipeguard.dev/would-refuse in the audit log.
		allow.AuditAnnotations = map[string]string{"would-refuse": strings.Join(problems, "; ")}
		s.log.Warn("audit: would refuse", "uid", req.UID, "namespace", req.Namespace, "kind", w.Kind, "name", req.Name, "problems", strings.Join(problems, "; "))
		return allow
	}
	s.log.Info("refused", "uid", req.UID, "namespace", req.Namespace, "kind", w.Kind, "name", req.Name, "problems", strings.Join(problems, "; "))
	return deny(req, "pipeguard refused "+w.Kind+" "+objectName(req)+": "+strings.Join(problems, "; "))
}

// maxWarning is the longest warning the API server passes on whole.
const maxWarning = 256

// truncate shortens s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func objectName(req *admissionv1.AdmissionRequest) string {
	n := req.Name
	if n == "" {
		n = "(generated name)"
	}
	return req.Namespace + "/" + n
}

// pinPatch replaces each tag that verified with tag@digest. Digest-pinned
// images and images that failed stay as they are (the validating webhook
// judges them).
func (s *Server) pinPatch(conts []container, verdicts map[string]*imageVerdict) ([]byte, *admissionv1.PatchType) {
	type op struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value string `json:"value"`
	}
	var ops []op
	for _, c := range conts {
		v := verdicts[c.Image]
		if v == nil || !v.Passed || v.Pinned == "" || v.Pinned == c.Image {
			continue
		}
		ops = append(ops, op{"replace", c.Path, v.Pinned})
	}
	if len(ops) == 0 {
		return nil, nil
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].Path < ops[j].Path })
	b, err := json.Marshal(ops)
	if err != nil {
		return nil, nil
	}
	pt := admissionv1.PatchTypeJSONPatch
	return b, &pt
}

// lazyClient returns a function giving the registry client for this
// request, with the pod's pull secrets read only when a verification
// actually has to reach a registry (never on a cache hit).
func (s *Server) lazyClient(ctx context.Context, ns string, refs []corev1.LocalObjectReference) func() *oci.Client {
	if s.secrets == nil || len(refs) == 0 {
		return func() *oci.Client { return s.client }
	}
	return sync.OnceValue(func() *oci.Client {
		var secrets []*corev1.Secret
		for _, r := range refs {
			sec, err := s.secrets.GetSecret(ctx, ns, r.Name)
			if err != nil {
				// The kubelet also pulls without a missing secret; if the
				// registry needs it, the verification fails closed.
				s.log.Warn("reading imagePullSecret", "namespace", ns, "name", r.Name, "err", err)
				continue
			}
			secrets = append(secrets, sec)
		}
		kc, err := keychainFromSecrets(secrets)
		if err != nil {
			s.log.Warn("reading imagePullSecrets", "namespace", ns, "err", err)
			return s.client
		}
		return s.client.WithExtraKeychain(kc)
	})
}

// imageVerdict is the outcome for one image of a request.
type imageVerdict struct {
	Image    string
	Pinned   string // the reference pinned to the digest that was verified
	Passed   bool
	Failures []string
	Err      error
}

func (v *imageVerdict) describe() string {
	var why string
	switch {
	case v.Err != nil:
		why = "could not be verified: " + v.Err.Error()
	default:
		why = strings.Join(v.Failures, "; ")
	}
	return fmt.Sprintf("image %q: %s", v.Image, why)
}

func failed(image string, reasons ...string) *imageVerdict {
	return &imageVerdict{Image: image, Failures: reasons}
}

// checkImage verifies one image: from the cache when its digest was judged
// recently under the same policy, else once across all concurrent requests.
func (s *Server) checkImage(ctx context.Context, pol *policyEntry, image string, client func() *oci.Client, allowTag bool) *imageVerdict {
	ref, err := s.client.ParseReference(image)
	if err != nil {
		return failed(image, "not a valid image reference: "+err.Error())
	}
	var res *oci.Resolved
	dig, pinned := ref.(name.Digest)
	if !pinned {
		if !allowTag {
			return failed(image, "not pinned to a digest (use image@sha256:…, or let pipeguard's mutating webhook pin it)")
		}
		// A tag is resolved on every request: the point is to pin what the
		// tag names now, so its answer must never come from a cache.
		res, err = client().Resolve(ctx, ref)
		if err != nil {
			return &imageVerdict{Image: image, Err: err}
		}
		dig = res.DigestRef()
	}
	key := pol.digest + "|" + dig.Context().Name() + "@" + dig.DigestStr()
	if v, ok := s.cache.get(key); ok {
		s.metrics.inc("pipeguard_admission_cache_total", "result", "hit")
		return v.forImage(image, ref)
	}
	s.metrics.inc("pipeguard_admission_cache_total", "result", "miss")

	ch := s.group.DoChan(key, func() (_ any, err error) {
		// singleflight re-panics a panic of this function on a goroutine of
		// its own, which would end the process: turn it into an error.
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("panic while verifying", "image", image, "panic", p)
				err = errors.New("internal error while verifying")
			}
		}()
		// Detached from the first caller so that its cancellation does
		// not fail the others waiting on the same verification; bounded by
		// the same internal deadline.
		vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeout)
		defer cancel()
		c := client()
		var ir *oci.ImageResult
		if res != nil {
			ir, err = c.VerifyResolved(vctx, res, pol.judge)
		} else {
			ir, err = c.VerifyDigest(vctx, dig, pol.judge)
		}
		if err != nil {
			s.metrics.inc("pipeguard_admission_verifications_total", "result", "error")
			return nil, err
		}
		v := &imageVerdict{Pinned: dig.String(), Passed: ir.Passed, Failures: ir.Failures()}
		result := "pass"
		if !v.Passed {
			result = "fail"
		}
		s.metrics.inc("pipeguard_admission_verifications_total", "result", result)
		s.cache.put(key, v)
		return v, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return &imageVerdict{Image: image, Err: r.Err}
		}
		return r.Val.(*imageVerdict).forImage(image, ref)
	case <-ctx.Done():
		s.metrics.inc("pipeguard_admission_verifications_total", "result", "timeout")
		return &imageVerdict{Image: image, Err: fmt.Errorf("verification did not finish within the webhook's deadline: %w", ctx.Err())}
	}
}

// forImage copies a shared verdict for one image string of one request.
func (v *imageVerdict) forImage(image string, ref name.Reference) *imageVerdict {
	cp := *v
	cp.Image = image
	cp.Failures = slices.Clone(v.Failures)
	if _, ok := ref.(name.Tag); ok {
		// Keep the tag for humans; the digest decides what runs.
		cp.Pinned = image + "@" + v.Pinned[strings.LastIndex(v.Pinned, "@")+1:]
	} else {
		cp.Pinned = image
	}
	return &cp
}
