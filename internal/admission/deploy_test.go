package admission_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	policyv1 "k8s.io/api/policy/v1"

	"github.com/pipeguard/pipeguard/internal/admission"
)

// decodeStrict turns one YAML document into a typed object, refusing
// unknown fields: a typo in a manifest is caught here, not in a cluster.
func decodeStrict(t *testing.T, doc map[string]any, into any) {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		t.Fatalf("%s %v: %v", doc["kind"], doc["metadata"], err)
	}
}

// TestDeployManifests checks deploy/ against what the webhook needs: two
// replicas with a disruption budget, fail-closed validation with a timeout
// the webhook's internal deadline beats, every supported kind covered.
func TestDeployManifests(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "deploy", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no manifests in deploy/")
	}
	var dep *appsv1.Deployment
	var pdb *policyv1.PodDisruptionBudget
	var vwc *admissionregv1.ValidatingWebhookConfiguration
	var mwc *admissionregv1.MutatingWebhookConfiguration
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var doc map[string]any
			if err := d.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			switch doc["kind"] {
			case "Deployment":
				dep = &appsv1.Deployment{}
				decodeStrict(t, doc, dep)
			case "PodDisruptionBudget":
				pdb = &policyv1.PodDisruptionBudget{}
				decodeStrict(t, doc, pdb)
			case "ValidatingWebhookConfiguration":
				vwc = &admissionregv1.ValidatingWebhookConfiguration{}
				decodeStrict(t, doc, vwc)
			case "MutatingWebhookConfiguration":
				mwc = &admissionregv1.MutatingWebhookConfiguration{}
				decodeStrict(t, doc, mwc)
			}
		}
	}
	if dep == nil || pdb == nil || vwc == nil || mwc == nil {
		t.Fatal("deploy/ lacks a Deployment, PodDisruptionBudget or webhook configuration")
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas < 2 {
		t.Error("the webhook Deployment needs at least two replicas")
	}
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() < 1 {
		t.Error("the PodDisruptionBudget must keep a replica")
	}
	var internal time.Duration
	for _, a := range dep.Spec.Template.Spec.Containers[0].Args {
		if v, ok := strings.CutPrefix(a, "--timeout="); ok {
			internal, _ = time.ParseDuration(v)
		}
	}
	if internal == 0 {
		internal = admission.DefaultTimeout
	}
	want := []string{"pods", "pods/ephemeralcontainers", "deployments", "statefulsets", "daemonsets", "replicasets", "jobs", "cronjobs"}
	check := func(name string, ts *int32, rules []admissionregv1.RuleWithOperations) {
		if ts == nil || *ts > 30 || time.Duration(*ts)*time.Second <= internal {
			t.Errorf("%s: timeoutSeconds must be at most 30 and above the webhook's --timeout %s", name, internal)
		}
		var got []string
		for _, r := range rules {
			got = append(got, r.Resources...)
		}
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("%s: does not cover %s", name, w)
			}
		}
	}
	for _, w := range vwc.Webhooks {
		if w.FailurePolicy == nil || *w.FailurePolicy != admissionregv1.Fail {
			t.Errorf("%s: validating webhook must fail closed", w.Name)
		}
		if w.ClientConfig.Service == nil || w.ClientConfig.Service.Path == nil || *w.ClientConfig.Service.Path != "/validate" {
			t.Errorf("%s: must call /validate", w.Name)
		}
		check(w.Name, w.TimeoutSeconds, w.Rules)
	}
	for _, w := range mwc.Webhooks {
		if w.ClientConfig.Service == nil || w.ClientConfig.Service.Path == nil || *w.ClientConfig.Service.Path != "/mutate" {
			t.Errorf("%s: must call /mutate", w.Name)
		}
		check(w.Name, w.TimeoutSeconds, w.Rules)
	}
}
