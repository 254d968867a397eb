package admission_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ktypes "k8s.io/apimachinery/pkg/types"

	"github.com/pipeguard/pipeguard/internal/admission"
	"github.com/pipeguard/pipeguard/internal/attest"
	"github.com/pipeguard/pipeguard/internal/oci"
	"github.com/pipeguard/pipeguard/internal/oci/ocitest"
	"github.com/pipeguard/pipeguard/internal/verify"
)

var allKinds = []string{"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"}

// TestEveryKind posts a real AdmissionReview v1 for each supported kind, with
// an attested and an unattested image in each container slot.
func TestEveryKind(t *testing.T) {
	f := newFixture(t)
	_, hs := f.server(t, admission.Config{})
	type slot struct {
		name string
		spec func(img string) corev1.PodSpec
	}
	slots := []slot{
		{"container", func(img string) corev1.PodSpec { return podSpec(img) }},
		{"initContainer", func(img string) corev1.PodSpec {
			s := podSpec(f.good)
			s.InitContainers = []corev1.Container{{Name: "init", Image: img}}
			return s
		}},
		{"ephemeralContainer", func(img string) corev1.PodSpec {
			s := podSpec(f.good)
			s.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: img}}}
			return s
		}},
	}
	for _, kind := range allKinds {
		for _, sl := range slots {
			t.Run(kind+"/"+sl.name, func(t *testing.T) {
				obj, gvk, res := objectFor(kind, sl.spec(f.good))
				body, uid := review(t, gvk, res, "", "apps", admissionv1.Create, obj, nil)
				r := post(t, hs, "/validate", body)
				if r.UID != uid || !r.Allowed {
					t.Fatalf("attested image: uid=%s allowed=%v %+v", r.UID, r.Allowed, r.Result)
				}
				obj, gvk, res = objectFor(kind, sl.spec(f.bad))
				body, uid = review(t, gvk, res, "", "apps", admissionv1.Create, obj, nil)
				r = post(t, hs, "/validate", body)
				if r.UID != uid || r.Allowed {
					t.Fatalf("unattested image admitted: uid=%s", r.UID)
				}
				msg := r.Result.Message
				if !strings.Contains(msg, f.bad) || !strings.Contains(msg, "no attestations found") || !strings.Contains(msg, kind) {
					t.Fatalf("denial does not name the image, kind and failed rule: %s", msg)
				}
			})
		}
	}
}

// TestEphemeralContainersSubresource: kubectl debug updates
// pods/ephemeralcontainers; the new debug image is checked, the pod's
// existing images are not re-judged.
func TestEphemeralContainersSubresource(t *testing.T) {
	f := newFixture(t)
	_, hs := f.server(t, admission.Config{})
	old, gvk, _ := objectFor("Pod", podSpec(f.good))
	for _, tc := range []struct {
		debug   string
		allowed bool
	}{{f.good, true}, {f.bad, false}} {
		spec := podSpec(f.good)
		spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: tc.debug}}}
		obj, _, _ := objectFor("Pod", spec)
		body, uid := review(t, gvk, "pods", "ephemeralcontainers", "apps", admissionv1.Update, obj, old)
		r := post(t, hs, "/validate", body)
		if r.UID != uid || r.Allowed != tc.allowed {
			t.Fatalf("debug image %s: allowed=%v want %v (%+v)", tc.debug, r.Allowed, tc.allowed, r.Result)
		}
	}
	// An update that keeps an old unattested image (say a label change on
	// a pod admitted before the policy) is not blocked by it.
	oldBad, _, _ := objectFor("Pod", podSpec(f.bad))
	body, _ := review(t, gvk, "pods", "", "apps", admissionv1.Update, oldBad, oldBad)
	if r := post(t, hs, "/validate", body); !r.Allowed {
		t.Fatalf("unchanged image re-judged on update: %+v", r.Result)
	}
}

func TestDigestRequiredAndMutatePins(t *testing.T) {
	f := newFixture(t)
	_, hs := f.server(t, admission.Config{})
	obj, gvk, res := objectFor("Deployment", podSpec(f.goodTag, f.goodTag, f.good))
	body, uid := review(t, gvk, res, "", "apps", admissionv1.Create, obj, nil)
	r := post(t, hs, "/validate", body)
	if r.Allowed || !strings.Contains(r.Result.Message, "not pinned to a digest") {
		t.Fatalf("tag admitted on /validate: %+v", r.Result)
	}
	r = post(t, hs, "/mutate", body)
	if r.UID != uid || !r.Allowed || r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("mutate: %+v", r)
	}
	var ops []struct{ Op, Path, Value string }
	if err := json.Unmarshal(r.Patch, &ops); err != nil {
		t.Fatal(err)
	}
	digest := f.good[strings.Index(f.good, "@")+1:]
	if len(ops) != 2 || ops[0].Path != "/spec/template/spec/containers/0/image" || ops[1].Path != "/spec/template/spec/containers/1/image" {
		t.Fatalf("patch %s", r.Patch)
	}
	for _, op := range ops {
		if op.Op != "replace" || op.Value != f.goodTag+"@"+digest {
			t.Fatalf("patch op %+v, want %s@%s", op, f.goodTag, digest)
		}
	}
	// The tag moves to other content after admission: what was pinned is
	// what runs, and it still passes /validate.
	ocitest.PushImage(t, f.goodTag)
	pinned, _, _ := objectFor("Deployment", podSpec(ops[0].Value, ops[1].Value, f.good))
	body, _ = review(t, gvk, res, "", "apps", admissionv1.Create, pinned, nil)
	if r := post(t, hs, "/validate", body); !r.Allowed {
		t.Fatalf("pinned deployment refused: %+v", r.Result)
	}
	// /mutate now resolves the moved tag to the new, unattested content and
	// refuses it.
	body, _ = review(t, gvk, res, "", "apps", admissionv1.Create, obj, nil)
	if r := post(t, hs, "/mutate", body); r.Allowed || r.Patch != nil {
		t.Fatalf("moved tag: allowed=%v patch=%s", r.Allowed, r.Patch)
	}
	// A tag of an unattested image is not pinned and is refused.
	obj, _, _ = objectFor("Deployment", podSpec(f.badTag))
	body, _ = review(t, gvk, res, "", "apps", admissionv1.Create, obj, nil)
	if r := post(t, hs, "/mutate", body); r.Allowed || r.Patch != nil {
		t.Fatalf("unattested tag: allowed=%v patch=%s", r.Allowed, r.Patch)
	}
}

func TestModesAndExemptions(t *testing.T) {
	f := newFixture(t)
	_, hs := f.server(t, admission.Config{NamespaceModes: map[string]admission.Mode{"trial": admission.Warn, "watch": admission.Audit}})
	for _, tc := range []struct {
		ns       string
		allowed  bool
		warnings bool
		audit    bool
	}{
		{"apps", false, false, false},
		{"trial", true, true, false},
		{"watch", true, false, true},
		{"kube-system", true, false, false},
		{"pipeguard-system", true, false, false},
	} {
		t.Run(tc.ns, func(t *testing.T) {
			obj, gvk, res := objectFor("Pod", podSpec(f.bad))
			body, uid := review(t, gvk, res, "", tc.ns, admissionv1.Create, obj, nil)
			r := post(t, hs, "/validate", body)
			if r.UID != uid || r.Allowed != tc.allowed || (len(r.Warnings) > 0) != tc.warnings || (len(r.AuditAnnotations) > 0) != tc.audit {
				t.Fatalf("%s: %+v", tc.ns, r)
			}
			if tc.warnings && !strings.Contains(r.Warnings[0], f.bad) {
				t.Fatalf("warning does not name the image: %s", r.Warnings[0])
			}
		})
	}
}

func TestPerNamespacePolicyAndReload(t *testing.T) {
	f := newFixture(t)
	other := ocitest.NewKey(t)
	strict := f.writePolicy(t, "strict.yaml", ocitest.Policy(other, "", nil))
	s, hs := f.server(t, admission.Config{NamespacePolicies: map[string]string{"secure": strict}})
	check := func(ns string) bool {
		obj, gvk, res := objectFor("Pod", podSpec(f.good))
		body, _ := review(t, gvk, res, "", ns, admissionv1.Create, obj, nil)
		return post(t, hs, "/validate", body).Allowed
	}
	if !check("apps") || check("secure") {
		t.Fatal("per-namespace policy not applied")
	}
	// Edit the default policy to trust another key: the cached verdict
	// does not survive the policy change.
	f.writePolicy(t, "policy.yaml", ocitest.Policy(other, "", nil))
	if changed, err := s.Reload(); err != nil || !changed {
		t.Fatalf("reload: changed=%v err=%v", changed, err)
	}
	if check("apps") {
		t.Fatal("image still admitted after the policy stopped trusting its builder")
	}
	// A broken policy file keeps the one in force.
	f.writePolicy(t, "policy.yaml", "apiVersion: pipeguard.dev/policy/v1\nbogus: true\n")
	if _, err := s.Reload(); err == nil {
		t.Fatal("broken policy reloaded without error")
	}
	if check("apps") {
		t.Fatal("broken policy replaced the one in force")
	}
	if v := metric(t, hs, `pipeguard_admission_policy_reloads_total{result="error"}`); v != "1" {
		t.Fatalf("reload error metric %q", v)
	}
}

// TestOneVerificationPerImage: eight containers of one image are one
// verification, and the next request is answered from the cache.
func TestOneVerificationPerImage(t *testing.T) {
	f := newFixture(t)
	_, hs := f.server(t, admission.Config{})
	imgs := make([]string, 8)
	for i := range imgs {
		imgs[i] = f.good
	}
	obj, gvk, res := objectFor("Pod", podSpec(imgs...))
	for i := 0; i < 3; i++ {
		body, _ := review(t, gvk, res, "", "apps", admissionv1.Create, obj, nil)
		if r := post(t, hs, "/validate", body); !r.Allowed {
			t.Fatalf("refused: %+v", r.Result)
		}
	}
	if v := metric(t, hs, `pipeguard_admission_verifications_total{result="pass"}`); v != "1" {
		t.Fatalf("verifications = %q, want 1", v)
	}
	if v := metric(t, hs, `pipeguard_admission_cache_total{result="hit"}`); v != "2" {
		t.Fatalf("cache hits = %q, want 2", v)
	}
}

// TestTrustedVSA: an image carrying only a VSA from a verifier the policy
// trusts is admitted; the same VSA from an untrusted key is not.
func TestTrustedVSA(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, hs := f.server(t, admission.Config{})
	for _, tc := range []struct {
		key     *ocitest.Key
		allowed bool
	}{{f.verifier, true}, {ocitest.NewKey(t), false}} {
		tag := f.reg.Ref("vsa:" + strings.ToLower(tc.key.Signer(t).KeyID()[:8]))
		d := ocitest.PushImage(t, tag)
		ref := f.reg.Ref("vsa@" + d.String())
		rep := &verify.Report{Subject: verify.Subject{Name: f.reg.Ref("vsa"), Digests: map[string]string{"sha256": d.Hex}}, Passed: true, PolicyDigest: strings.Repeat("0", 64), VerifiedLevels: []string{"SLSA_BUILD_LEVEL_3"}}
		b, err := verify.SignVSA(ctx, tc.key.Signer(t), rep, verify.DefaultVerifierID, ref)
		if err != nil {
			t.Fatal(err)
		}
		data, err := attest.MarshalBundle(b)
		if err != nil {
			t.Fatal(err)
		}
		f.attach(t, ctx, ref, d, data)
		obj, gvk, res := objectFor("Pod", podSpec(ref))
		body, _ := review(t, gvk, res, "", "apps", admissionv1.Create, obj, nil)
		if r := post(t, hs, "/validate", body); r.Allowed != tc.allowed {
			t.Fatalf("VSA signed by trusted=%v: allowed=%v %+v", tc.allowed, r.Allowed, r.Result)
		}
	}
}

// TestFailClosed: an unreachable registry and one that never answers are
// both refusals, within the internal deadline.
func TestFailClosed(t *testing.T) {
	f := newFixture(t)
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()
	go func() {
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			defer c.Close() // accept and never answer
		}
	}()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	digest := f.good[strings.Index(f.good, "@"):]
	_, hs := f.server(t, admission.Config{Timeout: 500 * time.Millisecond})
	for what, img := range map[string]string{"hanging": hang.Addr().String() + "/app" + digest, "refused": deadAddr + "/app" + digest} {
		t.Run(what, func(t *testing.T) {
			obj, gvk, res := objectFor("Pod", podSpec(img))
			body, uid := review(t, gvk, res, "", "apps", admissionv1.Create, obj, nil)
			start := time.Now()
			r := post(t, hs, "/validate", body)
			if r.UID != uid || r.Allowed || !strings.Contains(r.Result.Message, "could not be verified") {
				t.Fatalf("%s registry: %+v", what, r.Result)
			}
			if el := time.Since(start); el > 10*time.Second {
				t.Fatalf("answer took %s", el) // sanity bound only, far above the deadline
			}
		})
	}
	// The same with --fail-open admits with a warning.
	_, open := f.server(t, admission.Config{Timeout: 300 * time.Millisecond, FailOpen: true})
	obj, gvk, res := objectFor("Pod", podSpec(deadAddr+"/app"+digest))
	body, _ := review(t, gvk, res, "", "apps", admissionv1.Create, obj, nil)
	if r := post(t, open, "/validate", body); !r.Allowed || len(r.Warnings) == 0 {
		t.Fatalf("fail-open: %+v", r)
	}
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t)
	_, hs := f.server(t, admission.Config{MaxBodyBytes: 64 << 10})
	pod, gvk, _ := objectFor("Pod", podSpec(f.good))
	valid, _ := review(t, gvk, "pods", "", "apps", admissionv1.Create, pod, nil)
	for _, tc := range []struct {
		name, method, ctype string
		body                []byte
		code                int
	}{
		{"not json", "POST", "application/json", []byte("hello"), 400},
		{"json but not a review", "POST", "application/json", []byte(`{"kind":"Pod","apiVersion":"v1"}`), 400},
		{"v1beta1 review", "POST", "application/json", bytes.Replace(valid, []byte(`admission.k8s.io/v1"`), []byte(`admission.k8s.io/v1beta1"`), 1), 400},
		{"no request", "POST", "application/json", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), 400},
		{"no uid", "POST", "application/json", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"operation":"CREATE"}}`), 400},
		{"oversized", "POST", "application/json", append(append([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","x":"`), bytes.Repeat([]byte("a"), 70<<10)...), []byte(`"}`)...), 413},
		{"GET", "GET", "", nil, 405},
		{"form", "POST", "application/x-www-form-urlencoded", valid, 415},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, hs.URL+"/validate", bytes.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("HTTP %d, want %d", resp.StatusCode, tc.code)
			}
		})
	}
}

// TestUnusableObject: a review with a uid whose object cannot be read, or
// whose kind the webhook does not know, is denied with that uid.
func TestUnusableObject(t *testing.T) {
	f := newFixture(t)
	_, hs := f.server(t, admission.Config{})
	pod, gvk, _ := objectFor("Pod", podSpec(f.good))
	base, _ := review(t, gvk, "pods", "", "apps", admissionv1.Create, pod, nil)
	var rev admissionv1.AdmissionReview
	if err := json.Unmarshal(base, &rev); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(r *admissionv1.AdmissionRequest)
		want   string
	}{
		{"garbage object", func(r *admissionv1.AdmissionRequest) { r.Object.Raw = []byte(`{"spec":{"containers":"nope"}}`) }, "cannot read the Pod"},
		{"no object", func(r *admissionv1.AdmissionRequest) { r.Object.Raw = nil }, "carries no Pod"},
		{"unknown kind", func(r *admissionv1.AdmissionRequest) {
			r.Kind = metav1.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}
		}, "unsupported kind example.com/Widget"},
		{"old version", func(r *admissionv1.AdmissionRequest) {
			r.Kind = metav1.GroupVersionKind{Group: "apps", Version: "v1beta1", Kind: "Deployment"}
		}, "unsupported version"},
		{"other subresource", func(r *admissionv1.AdmissionRequest) { r.SubResource = "exec" }, "unsupported subresource"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cp := rev
			req := *rev.Request
			req.UID = ktypes.UID("uid-" + strings.ReplaceAll(tc.name, " ", "-"))
			tc.mutate(&req)
			cp.Request = &req
			body, _ := json.Marshal(cp)
			r := post(t, hs, "/validate", body)
			if r.UID != req.UID || r.Allowed || !strings.Contains(r.Result.Message, tc.want) {
				t.Fatalf("uid=%s allowed=%v message=%q", r.UID, r.Allowed, r.Result.Message)
			}
		})
	}
	// DELETE carries no new object and is not judged.
	req := *rev.Request
	req.Operation, req.Object.Raw, req.UID = admissionv1.Delete, nil, "uid-delete"
	rev.Request = &req
	body, _ := json.Marshal(rev)
	if r := post(t, hs, "/validate", body); !r.Allowed || r.UID != "uid-delete" {
		t.Fatalf("delete: %+v", r)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	f := newFixture(t)
	_, hs := f.server(t, admission.Config{})
	resp, err := http.Get(hs.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", err, resp)
	}
	resp.Body.Close()
	obj, gvk, res := objectFor("Pod", podSpec(f.bad))
	body, _ := review(t, gvk, res, "", "apps", admissionv1.Create, obj, nil)
	post(t, hs, "/validate", body)
	if v := metric(t, hs, `pipeguard_admission_requests_total{endpoint="validate",decision="denied"}`); v != "1" {
		t.Fatalf("denied counter %q", v)
	}
	if v := metric(t, hs, `pipeguard_admission_duration_seconds_count{endpoint="validate"}`); v != "1" {
		t.Fatalf("latency histogram count %q", v)
	}
}

// TestConfigRejected: settings that would break the fail-closed promise are
// refused at start.
func TestConfigRejected(t *testing.T) {
	f := newFixture(t)
	load := admission.PolicyLoader()
	for name, cfg := range map[string]admission.Config{
		"no policy":         {},
		"timeout too long":  {Policy: f.policy, Timeout: 31 * time.Second},
		"bad mode":          {Policy: f.policy, Mode: "lenient"},
		"broken policy":     {Policy: f.writePolicy(t, "broken.yaml", "nope: 1\n")},
		"missing ns policy": {Policy: f.policy, NamespacePolicies: map[string]string{"x": "/nonexistent.yaml"}},
	} {
		if _, err := admission.New(cfg, f.client, load); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestPoliciesReloadWithoutRestart: the watcher notices an edited policy
// file on its own.
func TestPoliciesReloadWithoutRestart(t *testing.T) {
	f := newFixture(t)
	s, hs := f.server(t, admission.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.WatchPolicies(ctx, 20*time.Millisecond)
	allowed := func() bool {
		obj, gvk, res := objectFor("Pod", podSpec(f.good))
		body, _ := review(t, gvk, res, "", "apps", admissionv1.Create, obj, nil)
		return post(t, hs, "/validate", body).Allowed
	}
	if !allowed() {
		t.Fatal("attested image refused")
	}
	f.writePolicy(t, "policy.yaml", ocitest.Policy(ocitest.NewKey(t), "", nil))
	for deadline := time.Now().Add(10 * time.Second); allowed(); {
		if time.Now().After(deadline) {
			t.Fatal("edited policy never took effect")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type panicJudge struct{}

func (panicJudge) Judge(context.Context, oci.Subject, []oci.Attachment) (*oci.Verdict, error) {
	panic("judge exploded")
}

// TestPanicIsARefusal: a panic while judging (say, a parser bug on hostile
// attestations) refuses the request and leaves the webhook serving.
func TestPanicIsARefusal(t *testing.T) {
	f := newFixture(t)
	s, err := admission.New(admission.Config{Policy: f.policy}, f.client, func(string) (oci.Judge, string, error) { return panicJudge{}, "p", nil })
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	for i := 0; i < 2; i++ {
		obj, gvk, res := objectFor("Pod", podSpec(f.good))
		body, uid := review(t, gvk, res, "", "apps", admissionv1.Create, obj, nil)
		r := post(t, hs, "/validate", body)
		if r.UID != uid || r.Allowed || !strings.Contains(r.Result.Message, "internal error") {
			t.Fatalf("after a panic: %+v", r)
		}
	}
}

// TestConcurrentRequestsShareOneVerification: requests that arrive while an
// image is being verified wait for that verification instead of starting
// their own. A slow proxy in front of the registry keeps the first one in
// flight while the others arrive.
func TestConcurrentRequestsShareOneVerification(t *testing.T) {
	f := newFixture(t)
	target, _ := url.Parse("http://" + f.reg.Host)
	proxy := httputil.NewSingleHostReverseProxy(target)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond)
		proxy.ServeHTTP(w, r)
	}))
	defer slow.Close()
	img := strings.Replace(f.good, f.reg.Host, strings.TrimPrefix(slow.URL, "http://"), 1)
	_, hs := f.server(t, admission.Config{})
	var wg sync.WaitGroup
	allowed := make([]bool, 6)
	for i := range allowed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			obj, gvk, res := objectFor("Pod", podSpec(img))
			body, _ := review(t, gvk, res, "", "apps", admissionv1.Create, obj, nil)
			allowed[i] = post(t, hs, "/validate", body).Allowed
		}()
	}
	wg.Wait()
	for i, a := range allowed {
		if !a {
			t.Fatalf("request %d refused", i)
		}
	}
	if v := metric(t, hs, `pipeguard_admission_verifications_total{result="pass"}`); v != "1" {
		t.Fatalf("verifications = %q for six concurrent requests of one image, want 1", v)
	}
}
