package oci_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/pipeguard/pipeguard/internal/oci"
	"github.com/pipeguard/pipeguard/internal/oci/ocitest"
)

// TestCosignVerifiesOurSignatures: `cosign verify --key` accepts image
// signatures pipeguard made, in cosign v3's form (a referrer) and in the
// legacy .sig layout, and refuses them under another key.
func TestCosignVerifiesOurSignatures(t *testing.T) {
	for _, kind := range registryKinds {
		for _, layout := range []string{"bundle", "legacy-sig"} {
			t.Run(kind+"/"+layout, func(t *testing.T) {
				ctx := context.Background()
				reg := ocitest.Start(t, kind)
				dig := ocitest.PushImage(t, reg.Ref("app:v1"))
				d := digestRef(t, reg, "app", dig)
				c := oci.New(oci.WithInsecure())
				key := ocitest.NewKey(t)
				switch layout {
				case "bundle":
					b, err := oci.SignatureBundle(ctx, key.Signer(t), d)
					if err != nil {
						t.Fatal(err)
					}
					res, err := c.Attach(ctx, d, [][]byte{b})
					if err != nil {
						t.Fatal(err)
					}
					if res.Tag != "" {
						t.Fatalf("a signature went into the attestation tag %s", res.Tag)
					}
				case "legacy-sig":
					if _, err := c.AttachLegacySignature(ctx, key.Signer(t), d); err != nil {
						t.Fatal(err)
					}
				}
				dir := t.TempDir()
				if err := os.WriteFile(filepath.Join(dir, "k.pub"), key.PEM, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "other.pub"), ocitest.NewKey(t).PEM, 0o644); err != nil {
					t.Fatal(err)
				}
				if out, err := cosign(t, dir, "verify", "--key", "k.pub", "--insecure-ignore-tlog", "--allow-http-registry", d.String()); err != nil {
					t.Fatalf("cosign verify refused our signature: %v\n%s", err, out)
				}
				if out, err := cosign(t, dir, "verify", "--key", "other.pub", "--insecure-ignore-tlog", "--allow-http-registry", d.String()); err == nil {
					t.Fatalf("cosign verify accepted our signature under another key:\n%s", out)
				}
			})
		}
	}
}
