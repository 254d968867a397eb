package admission

import (
	"encoding/json"
	"fmt"
	"strconv"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// container is one image use in a pod spec, with the JSON Pointer of its
// image field for a patch.
type container struct {
	Name  string
	Image string
	Path  string // e.g. /spec/template/spec/initContainers/0/image
}

// workload is the pod spec an admission request carries, wherever it sits.
type workload struct {
	Kind      string
	Spec      *corev1.PodSpec
	SpecPath  string // JSON Pointer of the pod spec in the object
	OldImages map[string]bool
}

// kindKey names a resource kind as group/Kind ("" group for core).
type kindKey struct{ group, kind string }

// podSpecOf knows where each supported kind keeps its pod template.
var podSpecOf = map[kindKey]func(raw []byte) (*corev1.PodSpec, string, error){
	{"", "Pod"}: func(raw []byte) (*corev1.PodSpec, string, error) {
		var o corev1.Pod
		err := json.Unmarshal(raw, &o)
		return &o.Spec, "/spec", err
	},
	{"apps", "Deployment"}: func(raw []byte) (*corev1.PodSpec, string, error) {
		var o appsv1.Deployment
		err := json.Unmarshal(raw, &o)
		return &o.Spec.Template.Spec, "/spec/template/spec", err
	},
	{"apps", "StatefulSet"}: func(raw []byte) (*corev1.PodSpec, string, error) {
		var o appsv1.StatefulSet
		err := json.Unmarshal(raw, &o)
		return &o.Spec.Template.Spec, "/spec/template/spec", err
	},
	{"apps", "DaemonSet"}: func(raw []byte) (*corev1.PodSpec, string, error) {
		var o appsv1.DaemonSet
		err := json.Unmarshal(raw, &o)
		return &o.Spec.Template.Spec, "/spec/template/spec", err
	},
	{"apps", "ReplicaSet"}: func(raw []byte) (*corev1.PodSpec, string, error) {
		var o appsv1.ReplicaSet
		err := json.Unmarshal(raw, &o)
		return &o.Spec.Template.Spec, "/spec/template/spec", err
	},
	{"batch", "Job"}: func(raw []byte) (*corev1.PodSpec, string, error) {
		var o batchv1.Job
		err := json.Unmarshal(raw, &o)
		return &o.Spec.Template.Spec, "/spec/template/spec", err
	},
	{"batch", "CronJob"}: func(raw []byte) (*corev1.PodSpec, string, error) {
		var o batchv1.CronJob
		err := json.Unmarshal(raw, &o)
		return &o.Spec.JobTemplate.Spec.Template.Spec, "/spec/jobTemplate/spec/template/spec", err
	},
}

// SupportedKinds lists the kinds the webhook understands, for docs and the
// webhook configuration.
func SupportedKinds() []string {
	return []string{"Pod", "pods/ephemeralcontainers", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"}
}

// workloadOf reads the pod spec out of a request. An object it cannot read
// is an error: the caller denies, since an unread object is an unchecked one.
func workloadOf(req *admissionv1.AdmissionRequest) (*workload, error) {
	k := kindKey{req.Kind.Group, req.Kind.Kind}
	if req.Kind.Version != "v1" {
		return nil, fmt.Errorf("unsupported version %s/%s of %s", req.Kind.Group, req.Kind.Version, req.Kind.Kind)
	}
	switch {
	case req.SubResource == "":
	case k == kindKey{"", "Pod"} && req.SubResource == "ephemeralcontainers":
		// The object of a pods/ephemeralcontainers request is the whole Pod.
	default:
		return nil, fmt.Errorf("unsupported subresource %s/%s", req.Kind.Kind, req.SubResource)
	}
	decode, ok := podSpecOf[k]
	if !ok {
		return nil, fmt.Errorf("unsupported kind %s", kindName(k))
	}
	if len(req.Object.Raw) == 0 {
		return nil, fmt.Errorf("the request carries no %s object", k.kind)
	}
	spec, path, err := decode(req.Object.Raw)
	if err != nil {
		return nil, fmt.Errorf("cannot read the %s in the request: %v", k.kind, err)
	}
	w := &workload{Kind: k.kind, Spec: spec, SpecPath: path}
	if req.Operation == admissionv1.Update && len(req.OldObject.Raw) > 0 {
		// Images the object already ran with were admitted then; checking
		// them again would block unrelated edits (labels, scale) of
		// workloads that predate a policy change.
		old, _, err := decode(req.OldObject.Raw)
		if err == nil {
			w.OldImages = map[string]bool{}
			for _, c := range containersOf(old, "") {
				w.OldImages[c.Image] = true
			}
		}
	}
	return w, nil
}

func kindName(k kindKey) string {
	if k.group == "" {
		return k.kind
	}
	return k.group + "/" + k.kind
}

// containersOf lists every container of a pod spec: containers, init
// containers and ephemeral containers.
func containersOf(spec *corev1.PodSpec, base string) []container {
	var out []container
	for i, c := range spec.Containers {
		out = append(out, container{c.Name, c.Image, base + "/containers/" + strconv.Itoa(i) + "/image"})
	}
	for i, c := range spec.InitContainers {
		out = append(out, container{c.Name, c.Image, base + "/initContainers/" + strconv.Itoa(i) + "/image"})
	}
	for i, c := range spec.EphemeralContainers {
		out = append(out, container{c.Name, c.Image, base + "/ephemeralContainers/" + strconv.Itoa(i) + "/image"})
	}
	return out
}
