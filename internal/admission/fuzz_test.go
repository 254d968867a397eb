package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/pipeguard/pipeguard/internal/oci"
	"github.com/pipeguard/pipeguard/internal/oci/ocitest"
)

// noRegistry answers every registry call 404 at once (a transport error
// would be retried with backoff), so that fuzzing exercises the review
// handling and never waits on a connection.
type noRegistry struct{}

func (noRegistry) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusNotFound, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
}

func FuzzReview(f *testing.F) {
	for _, name := range []string{"pod.json", "deployment.json", "cronjob.json", "ephemeral.json", "delete.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"","version":"v1","kind":"Pod"},"object":{"spec":{"containers":[{"image":"::"}]}}}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))

	dir := f.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(pol, []byte(ocitest.Policy(ocitest.NewKey(f), "", nil)), 0o644); err != nil {
		f.Fatal(err)
	}
	s, err := New(Config{Policy: pol, Exempt: []string{"kube-system"}, Timeout: time.Second, MaxBodyBytes: 256 << 10},
		oci.New(oci.WithTransport(noRegistry{})), PolicyLoader())
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{"/validate", "/mutate"} {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			h.ServeHTTP(rec, req)
			switch rec.Code {
			case http.StatusOK:
			case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
				return
			default:
				t.Fatalf("%s: HTTP %d", path, rec.Code)
			}
			var in admissionv1.AdmissionReview
			if err := json.Unmarshal(body, &in); err != nil || in.Request == nil {
				t.Fatalf("%s: answered 200 to a body that is not a review", path)
			}
			var out admissionv1.AdmissionReview
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
				t.Fatalf("%s: answer is not a review: %s", path, rec.Body.Bytes())
			}
			if out.Response.UID != in.Request.UID {
				t.Fatalf("%s: answered uid %q to %q", path, out.Response.UID, in.Request.UID)
			}
			// Nothing can be verified here, so any image of a checked
			// request must be refused.
			if out.Response.Allowed && hasImages(in.Request) && in.Request.Namespace != "kube-system" &&
				in.Request.Operation != admissionv1.Delete && in.Request.Operation != admissionv1.Connect {
				t.Fatalf("%s: admitted an image nothing could verify: %s", path, body)
			}
		}
	})
}

// hasImages reports whether the request's new object has any new image the
// webhook would judge.
func hasImages(req *admissionv1.AdmissionRequest) bool {
	w, err := workloadOf(req)
	if err != nil {
		return false
	}
	for _, c := range containersOf(w.Spec, "") {
		if !w.OldImages[c.Image] {
			return true
		}
	}
	return false
}

func FuzzReport(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"a","namespace":"n"},"spec":{"template":{"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}]}`))
	f.Add([]byte(`{"items":[{"apiVersion":"v1","kind":"Pod","metadata":{"ownerReferences":[{"kind":"ReplicaSet"}]}},{"kind":"ConfigMap"}]}`))
	f.Add([]byte(`{"items":[{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"x"},"spec":{"jobTemplate":"bad"}}]}`))
	f.Add([]byte(`{"items":null}`))
	dir := f.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(pol, []byte(ocitest.Policy(ocitest.NewKey(f), "", nil)), 0o644); err != nil {
		f.Fatal(err)
	}
	s, err := New(Config{Policy: pol, Exempt: []string{"kube-system"}, Timeout: time.Second}, oci.New(oci.WithTransport(noRegistry{})), PolicyLoader())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := s.Report(context.Background(), data)
		if err != nil {
			return
		}
		for _, r := range rows {
			// Nothing verifies here, so nothing is pinned: a row is refused
			// exactly when it says why.
			if r.Refused != (r.Reason != "") {
				t.Fatalf("row %+v", r)
			}
		}
	})
}
