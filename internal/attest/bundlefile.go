package attest

import (
	"fmt"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/pipeguard/pipeguard/internal/home"
)

// MarshalBundle returns the canonical JSON of a Sigstore bundle.
func MarshalBundle(b *protobundle.Bundle) ([]byte, error) {
	data, err := protojson.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encoding bundle: %w", err)
	}
	return data, nil
}

// WriteBundle writes a Sigstore bundle as JSON to path, atomically.
func WriteBundle(path string, b *protobundle.Bundle) error {
	data, err := MarshalBundle(b)
	if err != nil {
		return err
	}
	return home.WriteFileAtomic(path, append(data, '\n'), 0o644)
}
