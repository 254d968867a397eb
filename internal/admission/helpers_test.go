package admission_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/pipeguard/pipeguard/internal/admission"
	"github.com/pipeguard/pipeguard/internal/oci"
	"github.com/pipeguard/pipeguard/internal/oci/ocitest"
)

// fixture is a registry with a few images and a webhook judging them.
type fixture struct {
	reg      *ocitest.Registry
	client   *oci.Client
	builder  *ocitest.Key
	verifier *ocitest.Key
	policy   string // path
	good     string // digest reference of an attested image
	goodTag  string // tag reference of the same image
	bad      string // digest reference of an image without attestations
	badTag   string
	dir      string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{reg: ocitest.Start(t, ocitest.Referrers), client: oci.New(oci.WithInsecure()), dir: t.TempDir()}
	f.builder, f.verifier = ocitest.NewKey(t), ocitest.NewKey(t)
	f.policy = f.writePolicy(t, "policy.yaml", ocitest.Policy(f.builder, "", f.verifier))

	f.goodTag = f.reg.Ref("app:v1")
	gd := ocitest.PushImage(t, f.goodTag)
	f.good = f.reg.Ref("app@" + gd.String())
	f.attach(t, ctx, f.good, gd, f.builder.Provenance(t, f.reg.Ref("app"), gd))

	f.badTag = f.reg.Ref("bare:v1")
	bd := ocitest.PushImage(t, f.badTag)
	f.bad = f.reg.Ref("bare@" + bd.String())
	return f
}

func (f *fixture) attach(t *testing.T, ctx context.Context, ref string, d v1.Hash, bundles ...[]byte) {
	t.Helper()
	dr, err := name.NewDigest(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Attach(ctx, dr, bundles); err != nil {
		t.Fatal(err)
	}
	_ = d
}

func (f *fixture) writePolicy(t *testing.T, name, yaml string) string {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fixture) server(t *testing.T, cfg admission.Config) (*admission.Server, *httptest.Server) {
	t.Helper()
	if cfg.Policy == "" {
		cfg.Policy = f.policy
	}
	if cfg.Exempt == nil {
		cfg.Exempt = []string{"kube-system", "pipeguard-system"}
	}
	s, err := admission.New(cfg, f.client, admission.PolicyLoader())
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return s, hs
}

// podSpec makes a pod spec whose containers use the given images.
func podSpec(images ...string) corev1.PodSpec {
	var s corev1.PodSpec
	for i, img := range images {
		s.Containers = append(s.Containers, corev1.Container{Name: "c" + strconv.Itoa(i), Image: img})
	}
	return s
}

func template(spec corev1.PodSpec) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}}, Spec: spec}
}

// objectFor wraps a pod spec in an object of the given kind.
func objectFor(kind string, spec corev1.PodSpec) (runtime.Object, metav1.GroupVersionKind, string) {
	om := metav1.ObjectMeta{Name: "w", Namespace: "apps"}
	switch kind {
	case "Pod":
		return &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: kind}, ObjectMeta: om, Spec: spec}, metav1.GroupVersionKind{Version: "v1", Kind: kind}, "pods"
	case "Deployment":
		return &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: kind}, ObjectMeta: om, Spec: appsv1.DeploymentSpec{Template: template(spec)}}, metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: kind}, "deployments"
	case "StatefulSet":
		return &appsv1.StatefulSet{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: kind}, ObjectMeta: om, Spec: appsv1.StatefulSetSpec{Template: template(spec)}}, metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: kind}, "statefulsets"
	case "DaemonSet":
		return &appsv1.DaemonSet{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: kind}, ObjectMeta: om, Spec: appsv1.DaemonSetSpec{Template: template(spec)}}, metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: kind}, "daemonsets"
	case "ReplicaSet":
		return &appsv1.ReplicaSet{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: kind}, ObjectMeta: om, Spec: appsv1.ReplicaSetSpec{Template: template(spec)}}, metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: kind}, "replicasets"
	case "Job":
		return &batchv1.Job{TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: kind}, ObjectMeta: om, Spec: batchv1.JobSpec{Template: template(spec)}}, metav1.GroupVersionKind{Group: "batch", Version: "v1", Kind: kind}, "jobs"
	case "CronJob":
		return &batchv1.CronJob{TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: kind}, ObjectMeta: om, Spec: batchv1.CronJobSpec{Schedule: "@daily", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: template(spec)}}}}, metav1.GroupVersionKind{Group: "batch", Version: "v1", Kind: kind}, "cronjobs"
	}
	panic("unknown kind " + kind)
}

var uidN int

// review builds an AdmissionReview v1 JSON for obj.
func review(t *testing.T, gvk metav1.GroupVersionKind, resource, subresource, ns string, op admissionv1.Operation, obj, old runtime.Object) ([]byte, types.UID) {
	t.Helper()
	uidN++
	uid := types.UID(fmt.Sprintf("0b1c2d3e-0000-4000-8000-%012d", uidN))
	req := &admissionv1.AdmissionRequest{
		UID: uid, Kind: gvk, Resource: metav1.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: resource},
		SubResource: subresource, Name: "w", Namespace: ns, Operation: op,
		UserInfo: authUser(),
	}
	if obj != nil {
		raw, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		req.Object = runtime.RawExtension{Raw: raw}
	}
	if old != nil {
		raw, err := json.Marshal(old)
		if err != nil {
			t.Fatal(err)
		}
		req.OldObject = runtime.RawExtension{Raw: raw}
	}
	rev := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Request: req}
	b, err := json.Marshal(rev)
	if err != nil {
		t.Fatal(err)
	}
	return b, uid
}

func authUser() (u authenticationv1.UserInfo) {
	u.Username = "system:serviceaccount:apps:deployer"
	return u
}

// post sends body to path and decodes the AdmissionReview answer.
func post(t *testing.T, hs *httptest.Server, path string, body []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	resp, err := http.Post(hs.URL+path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: HTTP %d: %s", path, resp.StatusCode, data)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("decoding answer: %v\n%s", err, data)
	}
	if out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" || out.Response == nil {
		t.Fatalf("answer is not an AdmissionReview v1 with a response: %s", data)
	}
	return out.Response
}

// metric reads one sample from /metrics ("" if absent).
func metric(t *testing.T, hs *httptest.Server, sample string) string {
	t.Helper()
	resp, err := http.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, sample+" "); ok {
			return v
		}
	}
	return ""
}
