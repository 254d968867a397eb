package oci

import (
	"encoding/base64"
	"testing"
)

func FuzzParseBundle(f *testing.F) {
	payload := base64.StdEncoding.EncodeToString([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"ab"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}`))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{"payload":"` + payload + `","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AA=="}]}}`))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","messageSignature":{"signature":"AA=="}}`))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=0.1","dsseEnvelope":{"payload":"!!","payloadType":"application/vnd.in-toto+json","signatures":[]}}`))
	f.Add([]byte(`{"mediaType":"text/plain"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := ParseBundle(data)
		if err != nil {
			return
		}
		switch info.Content {
		case "dsse-envelope":
			if info.Envelope == nil || info.PredicateType == "" {
				t.Fatalf("DSSE bundle without envelope or predicate type: %+v", info)
			}
			pt, err := envelopePredicateType(info.Envelope)
			if err != nil || pt != info.PredicateType {
				t.Fatalf("re-encoded envelope reads back as %q, %v; want %q", pt, err, info.PredicateType)
			}
		case "message-signature":
			if info.Envelope != nil {
				t.Fatal("message signature with an envelope")
			}
		default:
			t.Fatalf("content %q", info.Content)
		}
	})
}
