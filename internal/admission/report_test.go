package admission_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/pipeguard/pipeguard/internal/admission"
)

// TestReport: the warn-mode rollout report lists the running workloads the
// webhook would refuse, judged in enforce mode whatever the namespace's mode.
func TestReport(t *testing.T) {
	f := newFixture(t)
	s, _ := f.server(t, admission.Config{Mode: admission.Warn})
	var items []runtime.RawExtension
	add := func(kind, ns, name string, owned bool, images ...string) {
		obj, _, _ := objectFor(kind, podSpec(images...))
		m := obj.(metav1.Object)
		m.SetNamespace(ns)
		m.SetName(name)
		if owned {
			m.SetOwnerReferences([]metav1.OwnerReference{{Kind: "ReplicaSet", Name: "x", APIVersion: "apps/v1", UID: "1"}})
		}
		b, _ := json.Marshal(obj)
		items = append(items, runtime.RawExtension{Raw: b})
	}
	add("Deployment", "shop", "web", false, f.good)
	add("Deployment", "shop", "legacy", false, f.bad)
	add("Deployment", "shop", "tagged", false, f.goodTag)
	add("CronJob", "ops", "backup", false, f.badTag)
	add("Pod", "shop", "web-abc", true, f.bad) // owned: judged through its owner
	add("DaemonSet", "kube-system", "cni", false, f.bad)
	cm, _ := json.Marshal(&corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}})
	items = append(items, runtime.RawExtension{Raw: cm})
	list, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})

	rows, err := s.Report(context.Background(), list)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]admission.ReportRow{}
	for _, r := range rows {
		got[r.Namespace+"/"+r.Name] = r
	}
	if len(rows) != 5 {
		t.Fatalf("rows %+v", rows)
	}
	for name, refused := range map[string]bool{"shop/web": false, "shop/legacy": true, "shop/tagged": false, "ops/backup": true, "kube-system/cni": false} {
		r, ok := got[name]
		if !ok || r.Refused != refused {
			t.Errorf("%s: %+v, want refused=%v", name, r, refused)
		}
	}
	if !strings.Contains(got["shop/legacy"].Reason, "no attestations found") || !strings.Contains(got["shop/tagged"].Reason, "pins") {
		t.Errorf("reasons: %q / %q", got["shop/legacy"].Reason, got["shop/tagged"].Reason)
	}
	if _, err := s.Report(context.Background(), []byte(`{"kind":"Pod"}`)); err == nil {
		t.Error("a single object was taken for a list")
	}
}
