package oci_test

import (
	"bytes"
	"context"
	"crypto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pipeguard/pipeguard/internal/attest"
	"github.com/pipeguard/pipeguard/internal/oci"
	"github.com/pipeguard/pipeguard/internal/oci/ocitest"
	"github.com/pipeguard/pipeguard/internal/sign"
)

// provenanceBundle signs a minimal SLSA provenance for digest with a new key
// and returns the bundle JSON and the key's public PEM.
func provenanceBundle(t *testing.T, repo string, digest v1.Hash) ([]byte, []byte) {
	t.Helper()
	key, err := sign.GenerateKey("")
	if err != nil {
		t.Fatal(err)
	}
	return provenanceBundleWith(t, key, repo, digest)
}

func provenanceBundleWith(t *testing.T, k crypto.Signer, repo string, digest v1.Hash) ([]byte, []byte) {
	t.Helper()
	s, err := sign.NewSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	pred := map[string]any{
		"buildDefinition": map[string]any{"buildType": "https://pipeguard.dev/build/v1", "externalParameters": map[string]any{"source": "git+https://example.test/app"}},
		"runDetails":      map[string]any{"builder": map[string]any{"id": "https://pipeguard.dev/builder"}},
	}
	st, err := attest.NewStatement([]attest.Subject{{Name: repo, Digest: map[string]string{digest.Algorithm: digest.Hex}}}, attest.PredicateSLSAProvenanceV1, pred)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.DSSE(context.Background(), attest.PayloadType, st)
	if err != nil {
		t.Fatal(err)
	}
	data, err := attest.MarshalBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sign.EncodePublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return data, pub
}

var registryKinds = []string{ocitest.Distribution, ocitest.Referrers}

// TestAttachDiscoverBothLayouts attaches a provenance bundle to an image in
// each kind of registry and finds it again through both layouts.
func TestAttachDiscoverBothLayouts(t *testing.T) {
	for _, kind := range registryKinds {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			reg := ocitest.Start(t, kind)
			dig := ocitest.PushImage(t, reg.Ref("app:v1"))
			c := oci.New(oci.WithInsecure())
			ref, err := c.ParseReference(reg.Ref("app:v1"))
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Resolve(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			if res.Digest != dig {
				t.Fatalf("resolved %s, pushed %s", res.Digest, dig)
			}
			bundle, _ := provenanceBundle(t, ref.Context().Name(), dig)
			ar, err := c.Attach(ctx, res.DigestRef(), [][]byte{bundle})
			if err != nil {
				t.Fatal(err)
			}
			if len(ar.Referrers) != 1 || ar.TagLayers != 1 || !strings.HasSuffix(ar.Tag, ".att") {
				t.Fatalf("attach result %+v", ar)
			}
			// Attaching again adds nothing new to the tag layout.
			ar2, err := c.Attach(ctx, res.DigestRef(), [][]byte{bundle})
			if err != nil {
				t.Fatal(err)
			}
			if ar2.TagLayers != 0 || ar2.Referrers[0] != ar.Referrers[0] {
				t.Fatalf("second attach was not idempotent: %+v", ar2)
			}
			// Both layouts were written...
			tag, err := name.NewTag(ar.Tag, name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			att, err := remote.Image(tag, remote.WithContext(ctx))
			if err != nil {
				t.Fatalf("cosign tag layout: %v", err)
			}
			if ls, _ := att.Layers(); len(ls) != 1 {
				t.Fatalf("cosign tag layout has %d layers", len(ls))
			}
			// ...and discovery reads the envelope once: the tag layout's copy
			// is the referrer bundle's own envelope.
			got, err := c.Discover(ctx, res.DigestRef())
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Source != oci.SourceReferrers || !bytes.Equal(got[0].Data, bundle) {
				t.Fatalf("discovered %d attachments, want the referrer bundle once", len(got))
			}
			if got[0].PredicateType != "https://slsa.dev/provenance/v1" {
				t.Fatalf("predicate type %q", got[0].PredicateType)
			}
			// Each layout is found on its own.
			for i, opt := range []oci.AttachOption{oci.WithoutReferrers(), oci.WithoutTagLayout()} {
				d := ocitest.PushImage(t, reg.Ref("app:layout"+strconv.Itoa(i)))
				dr, _ := name.NewDigest(reg.Ref("app@"+d.String()), name.Insecure)
				if _, err := c.Attach(ctx, dr, [][]byte{builderBundle(t, dr)}, opt); err != nil {
					t.Fatal(err)
				}
				found, err := c.Discover(ctx, dr)
				if err != nil || len(found) != 1 {
					t.Fatalf("one layout: %d attachments, %v", len(found), err)
				}
			}
		})
	}
}

func builderBundle(t *testing.T, d name.Digest) []byte {
	h, _ := v1.NewHash(d.DigestStr())
	b, _ := provenanceBundle(t, d.Context().Name(), h)
	return b
}

func TestAttachRefusesBundleForOtherDigest(t *testing.T) {
	ctx := context.Background()
	reg := ocitest.Start(t, ocitest.Referrers)
	dig := ocitest.PushImage(t, reg.Ref("app:v1"))
	other := ocitest.PushImage(t, reg.Ref("app:v2"))
	c := oci.New(oci.WithInsecure())
	bundle, _ := provenanceBundle(t, reg.Ref("app"), other)
	d, err := name.NewDigest(reg.Ref("app@"+dig.String()), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Attach(ctx, d, [][]byte{bundle}); err == nil || !strings.Contains(err.Error(), "not "+dig.String()) {
		t.Fatalf("attach of a bundle about another digest: err = %v", err)
	}
	got, err := c.Discover(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("refused attach left %d attachments", len(got))
	}
}

func TestResolveIndex(t *testing.T) {
	ctx := context.Background()
	reg := ocitest.Start(t, ocitest.Referrers)
	idx, plats := ocitest.PushIndex(t, reg.Ref("multi:v1"))
	c := oci.New(oci.WithInsecure())
	ref, _ := c.ParseReference(reg.Ref("multi:v1"))
	res, err := c.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Index || res.Digest != idx || len(res.Platforms) != 2 {
		t.Fatalf("resolved %+v", res)
	}
	for i, p := range res.Platforms {
		if p.Digest != plats[i] {
			t.Errorf("platform %s digest %s, want %s", p.Platform, p.Digest, plats[i])
		}
	}
}

func TestParseReferenceNormalises(t *testing.T) {
	c := oci.New()
	for in, want := range map[string]string{
		"nginx":                     "index.docker.io/library/nginx:latest",
		"docker.io/library/nginx:1": "index.docker.io/library/nginx:1",
		"ghcr.io/o/r:t":             "ghcr.io/o/r:t",
	} {
		r, err := c.ParseReference(in)
		if err != nil {
			t.Fatal(err)
		}
		if r.Name() != want {
			t.Errorf("%s -> %s, want %s", in, r.Name(), want)
		}
	}
	for _, bad := range []string{"", "UPPER/case", "http://x/y", "a@sha256:zz"} {
		if _, err := c.ParseReference(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// cosignEnv runs the real cosign with its state kept in a temporary home.
func cosign(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("cosign")
	if err != nil {
		t.Skip("cosign v3.1.3 not on PATH (CI puts /tmp/peers/bin on PATH)")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "COSIGN_PASSWORD=test", "COSIGN_YES=true")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestCosignVerifiesWhatWeAttach: cosign verify-attestation accepts the
// provenance pipeguard attached, in both registries, and refuses it under
// another key.
func TestCosignVerifiesWhatWeAttach(t *testing.T) {
	layouts := map[string][]oci.AttachOption{
		"both":           nil,
		"referrers-only": {oci.WithoutTagLayout()},
		"tag-only":       {oci.WithoutReferrers()},
	}
	for _, kind := range registryKinds {
		for layout, opts := range layouts {
			t.Run(kind+"/"+layout, func(t *testing.T) {
				testCosignVerifies(t, kind, opts)
			})
		}
	}
}

func testCosignVerifies(t *testing.T, kind string, opts []oci.AttachOption) {
	ctx := context.Background()
	reg := ocitest.Start(t, kind)
	dig := ocitest.PushImage(t, reg.Ref("app:v1"))
	c := oci.New(oci.WithInsecure())
	d, _ := name.NewDigest(reg.Ref("app@"+dig.String()), name.Insecure)
	bundle, pub := provenanceBundle(t, d.Context().Name(), dig)
	if _, err := c.Attach(ctx, d, [][]byte{bundle}, opts...); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pg.pub"), pub, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := cosign(t, dir, "verify-attestation", "--key", "pg.pub", "--type", "https://slsa.dev/provenance/v1",
		"--insecure-ignore-tlog", "--allow-http-registry", d.String())
	if err != nil {
		t.Fatalf("cosign verify-attestation refused what we attached: %v\n%s", err, out)
	}
	_, otherPub := provenanceBundle(t, "x", dig)
	if err := os.WriteFile(filepath.Join(dir, "other.pub"), otherPub, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := cosign(t, dir, "verify-attestation", "--key", "other.pub", "--type", "https://slsa.dev/provenance/v1",
		"--insecure-ignore-tlog", "--allow-http-registry", d.String()); err == nil {
		t.Fatalf("cosign accepted our attestation under another key:\n%s", out)
	}
}

// TestDiscoverFindsCosignAttest: what `cosign attest --key` attaches is
// found by pipeguard in both registries.
func TestDiscoverFindsCosignAttest(t *testing.T) {
	for _, kind := range registryKinds {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			reg := ocitest.Start(t, kind)
			dig := ocitest.PushImage(t, reg.Ref("app:v1"))
			d, _ := name.NewDigest(reg.Ref("app@"+dig.String()), name.Insecure)
			dir := t.TempDir()
			CosignAttest(t, dir, d.String())
			got, err := oci.New(oci.WithInsecure()).Discover(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 {
				t.Fatal("found nothing that cosign attached")
			}
			for _, a := range got {
				t.Logf("found %s %s (%d bytes)", a.Source, a.MediaType, len(a.Data))
			}
		})
	}
}

// CosignAttest makes a key pair in dir and attaches an SLSA provenance v1
// to ref with the real cosign, offline.
func CosignAttest(t *testing.T, dir, ref string) {
	t.Helper()
	if out, err := cosign(t, dir, "generate-key-pair"); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	pred := `{"buildDefinition":{"buildType":"https://example.test/build","externalParameters":{}},"runDetails":{"builder":{"id":"https://example.test/builder"}}}`
	if err := os.WriteFile(filepath.Join(dir, "pred.json"), []byte(pred), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := cosign(t, dir, "attest", "--key", "cosign.key", "--type", "slsaprovenance1", "--predicate", "pred.json",
		"--tlog-upload=false", "--use-signing-config=false", "--allow-http-registry", ref)
	if err != nil {
		t.Fatalf("cosign attest: %v\n%s", err, out)
	}
}
