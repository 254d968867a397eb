package oci_test

import (
	"context"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/pipeguard/pipeguard/internal/oci"
	"github.com/pipeguard/pipeguard/internal/oci/ocitest"
)

// BenchmarkVerifyImage is one cold verification of a digest-pinned image
// against a registry process on loopback: resolve, discover both layouts,
// judge. It is what the webhook does on a cache miss.
func BenchmarkVerifyImage(b *testing.B) { benchVerify(b, false) }

// BenchmarkVerifyDigest is the webhook's cold path for a digest reference
// (no manifest fetch when the digest's own attestations pass).
func BenchmarkVerifyDigest(b *testing.B) { benchVerify(b, true) }

func benchVerify(b *testing.B, digestPath bool) {
	ctx := context.Background()
	reg := ocitest.Start(b, ocitest.Referrers)
	c := oci.New(oci.WithInsecure())
	builder := ocitest.NewKey(b)
	d := ocitest.PushImage(b, reg.Ref("app:v1"))
	ref, err := name.NewDigest(reg.Ref("app@"+d.String()), name.Insecure)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Attach(ctx, ref, [][]byte{builder.Provenance(b, ref.Context().Name(), d)}); err != nil {
		b.Fatal(err)
	}
	j := judge(b, ocitest.Policy(builder, "", nil))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var res *oci.ImageResult
		var err error
		if digestPath {
			res, err = c.VerifyDigest(ctx, ref, j)
		} else {
			res, err = c.VerifyImage(ctx, ref, j)
		}
		if err != nil || !res.Passed {
			b.Fatalf("%v %v", err, res)
		}
	}
}
