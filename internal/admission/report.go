package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ReportRow is the verdict on one running workload.
type ReportRow struct {
	Namespace string `json:"namespace"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Refused   bool   `json:"refused"`
	Reason    string `json:"reason,omitempty"`
}

// Report judges the workloads in a Kubernetes List (kubectl get
// pods,deployments,... -A -o json) as if each were created now in enforce
// mode, and says which the webhook would refuse. Tags are resolved and
// judged as the mutating webhook would pin them. It is how a cluster moves
// from warn to enforce without surprises (docs/deploy-gate.md). Objects of
// kinds the webhook does not judge are skipped; exempt namespaces are
// reported as admitted.
func (s *Server) Report(ctx context.Context, list []byte) ([]ReportRow, error) {
	var l struct {
		Kind  string            `json:"kind"`
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(list, &l); err != nil {
		return nil, fmt.Errorf("reading the workload list: %w", err)
	}
	if l.Items == nil {
		return nil, errors.New("reading the workload list: no items (want the JSON of kubectl get ... -o json)")
	}
	var rows []ReportRow
	for i, raw := range l.Items {
		var head struct {
			APIVersion string            `json:"apiVersion"`
			Kind       string            `json:"kind"`
			Metadata   metav1.ObjectMeta `json:"metadata"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		group, version, ok := strings.Cut(head.APIVersion, "/")
		if !ok {
			group, version = "", head.APIVersion
		}
		if _, known := podSpecOf[kindKey{group, head.Kind}]; !known || version != "v1" {
			continue
		}
		// Pods owned by a controller are judged through their owner.
		if len(head.Metadata.OwnerReferences) > 0 && (head.Kind == "Pod" || head.Kind == "ReplicaSet" || head.Kind == "Job") {
			continue
		}
		req := &admissionv1.AdmissionRequest{
			UID:       types.UID(fmt.Sprintf("report-%d", i)),
			Kind:      metav1.GroupVersionKind{Group: group, Version: version, Kind: head.Kind},
			Namespace: head.Metadata.Namespace,
			Name:      head.Metadata.Name,
			Operation: admissionv1.Create,
		}
		req.Object.Raw = raw
		rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		resp := s.reviewAs(rctx, req, Enforce)
		cancel()
		row := ReportRow{Namespace: req.Namespace, Kind: head.Kind, Name: req.Name, Refused: !resp.Allowed}
		switch {
		case resp.Result != nil:
			row.Reason = resp.Result.Message
		case resp.Patch != nil:
			row.Reason = "admitted once the mutating webhook pins its tags to the verified digests"
		}
		rows = append(rows, row)
	}
	return rows, nil
}
