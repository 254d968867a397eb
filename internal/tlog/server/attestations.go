package server

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"

	"github.com/pipeguard/pipeguard/internal/attest"
	"github.com/pipeguard/pipeguard/internal/store"
	"github.com/pipeguard/pipeguard/internal/tlog"
)

// MaxResponseBytes bounds the bundles one store query returns.
const MaxResponseBytes = 32 << 20

// indexed is what the store learns from an accepted bundle.
type indexed struct {
	predicateType string
	builderID     string
	logIndex      int64
	subjects      []store.AttestationSubject
}

// ParseBundle decodes a Sigstore bundle (JSON) as uploaded to the store.
func ParseBundle(body []byte) (*protobundle.Bundle, error) {
	var b sgbundle.Bundle
	if err := b.UnmarshalJSON(body); err != nil {
		return nil, fmt.Errorf("decoding Sigstore bundle: %w", err)
	}
	return b.Bundle, nil
}

// inspect verifies that builder b signed the bundle, checks any entry of
// this log it carries, and extracts what the store indexes.
func (s *Server) inspect(b *Builder, pb *protobundle.Bundle) (*indexed, error) {
	req, err := tlog.RequestFor(b.PEM, pb)
	if err != nil {
		return nil, err
	}
	e, err := tlog.NewEntry(req)
	if err != nil {
		return nil, fmt.Errorf("bundle signature does not verify with the key of builder %s: %w", b.Name, err)
	}
	out := &indexed{logIndex: -1}
	id := s.log.Identity()
	for _, tle := range pb.GetVerificationMaterial().GetTlogEntries() {
		if !bytes.Equal(tle.GetLogId().GetKeyId(), id.LogID()) {
			continue
		}
		if _, err := id.VerifyEntry(tle); err != nil {
			return nil, fmt.Errorf("bundle's entry in this log: %w", err)
		}
		if !bytes.Equal(tle.GetCanonicalizedBody(), e.Body) {
			return nil, errors.New("bundle's entry in this log is not for this signature")
		}
		out.logIndex = tle.GetLogIndex()
	}
	switch {
	case pb.GetDsseEnvelope() != nil:
		env := pb.GetDsseEnvelope()
		if env.GetPayloadType() != attest.PayloadType {
			return nil, fmt.Errorf("DSSE payload type %q is not an in-toto statement", env.GetPayloadType())
		}
		st, err := attest.ParseStatement(env.GetPayload())
		if err != nil {
			return nil, err
		}
		out.predicateType = st.PredicateType
		out.builderID = provenanceBuilderID(st.Predicate)
		for _, sub := range st.Subject {
			for alg, v := range sub.Digest {
				out.subjects = append(out.subjects, store.AttestationSubject{Name: sub.Name, Digest: strings.ToLower(alg + ":" + v)})
			}
		}
	case pb.GetMessageSignature() != nil:
		d := pb.GetMessageSignature().GetMessageDigest()
		alg := strings.ToLower(strings.ReplaceAll(d.GetAlgorithm().String(), "SHA2_", "sha"))
		out.subjects = []store.AttestationSubject{{Digest: alg + ":" + hex.EncodeToString(d.GetDigest())}}
	}
	if out.builderID == "" {
		out.builderID = b.Name
	}
	return out, nil
}

// provenanceBuilderID reads the builder id of SLSA provenance v1 or v0.2.
func provenanceBuilderID(pred json.RawMessage) string {
	var p struct {
		RunDetails struct {
			Builder struct {
				ID string `json:"id"`
			} `json:"builder"`
		} `json:"runDetails"`
		Builder struct {
			ID string `json:"id"`
		} `json:"builder"`
	}
	if json.Unmarshal(pred, &p) != nil {
		return ""
	}
	if p.RunDetails.Builder.ID != "" {
		return p.RunDetails.Builder.ID
	}
	return p.Builder.ID
}

func (s *Server) putAttestation(w http.ResponseWriter, r *http.Request) {
	b, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	body, ok := readBody(w, r, MaxBundleBytes)
	if !ok {
		return
	}
	pb, err := ParseBundle(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ix, err := s.inspect(b, pb)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	a := &store.Attestation{
		ID: bundleID(body), Bundle: body, PredicateType: ix.predicateType, Signer: b.KeyID,
		BuilderID: ix.builderID, LogIndex: ix.logIndex, Created: time.Now(), Subjects: ix.subjects,
	}
	if err := s.db.PutAttestation(r.Context(), a); err != nil {
		s.logger.Error("storing attestation", "builder", b.Name, "err", err)
		writeError(w, http.StatusServiceUnavailable, "attestation was not stored; retry")
		return
	}
	s.metrics.stored.Inc()
	digests := make([]string, len(ix.subjects))
	for i, sub := range ix.subjects {
		digests[i] = sub.Digest
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{"id": a.ID, "subjects": digests, "predicateType": a.PredicateType, "logIndex": a.LogIndex})
}

// ParseQuery reads an attestation query from URL parameters.
func ParseQuery(v map[string][]string) (store.AttestationQuery, error) {
	get := func(k string) string {
		if len(v[k]) > 0 {
			return v[k][0]
		}
		return ""
	}
	q := store.AttestationQuery{
		Digest: strings.ToLower(get("digest")), PredicateType: get("predicateType"),
		Signer: get("signer"), BuilderID: get("builder"),
	}
	if q.Digest != "" {
		alg, val, ok := strings.Cut(q.Digest, ":")
		if !ok || alg == "" || val == "" || len(q.Digest) > 256 {
			return q, fmt.Errorf("digest %q must be ALG:VALUE, e.g. sha256:<hex>", q.Digest)
		}
	}
	for _, t := range []struct {
		k   string
		dst *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if s := get(t.k); s != "" {
			ts, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return q, fmt.Errorf("%s must be an RFC 3339 time: %w", t.k, err)
			}
			*t.dst = ts
		}
	}
	if l := get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			return q, errors.New("limit must be between 1 and 1000")
		}
		q.Limit = n
	}
	if q == (store.AttestationQuery{}) {
		return q, errors.New("name at least one of digest, predicateType, signer, builder, since, until")
	}
	return q, nil
}

func (s *Server) getAttestations(w http.ResponseWriter, r *http.Request) {
	if s.privateStore {
		if _, ok := s.authenticate(w, r); !ok {
			return
		}
	}
	q, err := ParseQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	as, err := s.db.FindAttestations(r.Context(), q)
	if err != nil {
		s.logger.Error("querying attestations", "err", err)
		writeError(w, http.StatusServiceUnavailable, "store unavailable")
		return
	}
	out := struct {
		Attestations []json.RawMessage `json:"attestations"`
		// Truncated says the answer was cut at MaxResponseBytes: narrow the query.
		Truncated bool `json:"truncated,omitempty"`
	}{Attestations: make([]json.RawMessage, 0, len(as))}
	total := 0
	for _, a := range as {
		if total += len(a.Bundle); total > MaxResponseBytes {
			out.Truncated = true
			break
		}
		out.Attestations = append(out.Attestations, json.RawMessage(a.Bundle))
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}
