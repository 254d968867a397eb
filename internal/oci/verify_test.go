package oci_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/pipeguard/pipeguard/internal/attest"
	"github.com/pipeguard/pipeguard/internal/oci"
	"github.com/pipeguard/pipeguard/internal/oci/ocitest"
	"github.com/pipeguard/pipeguard/internal/policy"
	"github.com/pipeguard/pipeguard/internal/verify"
)

func judge(t testing.TB, yaml string) oci.Judge {
	t.Helper()
	p, err := policy.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("policy: %v\n%s", err, yaml)
	}
	v, err := verify.New(p)
	if err != nil {
		t.Fatal(err)
	}
	return oci.PolicyJudge(v)
}

func digestRef(t *testing.T, reg *ocitest.Registry, repo string, d v1.Hash) name.Digest {
	t.Helper()
	r, err := name.NewDigest(reg.Ref(repo+"@"+d.String()), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestVerifyImage is the end-to-end check of the deploy gate's image
// verification against both registries: it passes what the trusted builder
// attested (attached by pipeguard or by cosign) and refuses an image without
// attestations, with attestations from an untrusted key, and a tag moved to
// a different digest (also when the old attestation is copied over).
func TestVerifyImage(t *testing.T) {
	for _, kind := range registryKinds {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			reg := ocitest.Start(t, kind)
			c := oci.New(oci.WithInsecure())
			builder, stranger := ocitest.NewKey(t), ocitest.NewKey(t)
			j := judge(t, ocitest.Policy(builder, "", nil))
			check := func(ref string) *oci.ImageResult {
				t.Helper()
				r, err := c.ParseReference(ref)
				if err != nil {
					t.Fatal(err)
				}
				res, err := c.VerifyImage(ctx, r, j)
				if err != nil {
					t.Fatalf("verify %s: %v", ref, err)
				}
				return res
			}

			good := ocitest.PushImage(t, reg.Ref("app:v1"))
			gd := digestRef(t, reg, "app", good)
			if _, err := c.Attach(ctx, gd, [][]byte{builder.Provenance(t, gd.Context().Name(), good)}); err != nil {
				t.Fatal(err)
			}
			if res := check(reg.Ref("app:v1")); !res.Passed || res.Resolved.Digest != good {
				t.Fatalf("attested image refused: %v", res.Failures())
			}

			// Each layout on its own is enough.
			for repo, opt := range map[string]oci.AttachOption{"tagonly": oci.WithoutReferrers(), "refonly": oci.WithoutTagLayout()} {
				dg := ocitest.PushImage(t, reg.Ref(repo+":v1"))
				dr := digestRef(t, reg, repo, dg)
				if _, err := c.Attach(ctx, dr, [][]byte{builder.Provenance(t, dr.Context().Name(), dg)}, opt); err != nil {
					t.Fatal(err)
				}
				if res := check(reg.Ref(repo + ":v1")); !res.Passed || res.Results[0].Attachments != 1 {
					t.Fatalf("%s: passed=%v attachments=%d %v", repo, res.Passed, res.Results[0].Attachments, res.Failures())
				}
			}

			bare := ocitest.PushImage(t, reg.Ref("bare:v1"))
			res := check(reg.Ref("bare:v1"))
			if res.Passed || !strings.Contains(strings.Join(res.Failures(), "\n"), "no attestations found") {
				t.Fatalf("image without attestations: passed=%v %v", res.Passed, res.Failures())
			}
			_ = bare

			untrusted := ocitest.PushImage(t, reg.Ref("untrusted:v1"))
			ud := digestRef(t, reg, "untrusted", untrusted)
			if _, err := c.Attach(ctx, ud, [][]byte{stranger.Provenance(t, ud.Context().Name(), untrusted)}); err != nil {
				t.Fatal(err)
			}
			res = check(reg.Ref("untrusted:v1"))
			if res.Passed || !strings.Contains(strings.Join(res.Failures(), "\n"), "not signed by any signer the policy trusts") {
				t.Fatalf("untrusted key: passed=%v %v", res.Passed, res.Failures())
			}

			// Re-tag app:v1 to other content: the tag now names a digest
			// nobody attested.
			moved := ocitest.PushImage(t, reg.Ref("app:v1"))
			res = check(reg.Ref("app:v1"))
			if res.Passed || res.Resolved.Digest != moved {
				t.Fatalf("re-tagged image: passed=%v digest=%s", res.Passed, res.Resolved.Digest)
			}
			// Copy the old attestation next to the new digest (cosign's tag
			// layout, written by hand as an attacker would): the statement
			// names the old digest, so it still fails.
			info, err := oci.ParseBundle(builder.Provenance(t, gd.Context().Name(), good))
			if err != nil {
				t.Fatal(err)
			}
			att, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{Layer: static.NewLayer(info.Envelope, oci.DSSEMediaType)})
			if err != nil {
				t.Fatal(err)
			}
			tag, _ := name.NewTag(reg.Ref("app:"+strings.Replace(moved.String(), ":", "-", 1)+".att"), name.Insecure)
			if err := remote.Write(tag, att); err != nil {
				t.Fatal(err)
			}
			res = check(reg.Ref("app:v1"))
			if res.Passed || !strings.Contains(strings.Join(res.Failures(), "\n"), "subject") {
				t.Fatalf("copied attestation: passed=%v %v", res.Passed, res.Failures())
			}
			if res.Results[0].Attachments != 1 {
				t.Fatalf("copied attestation not found: %+v", res.Results[0])
			}
		})
	}
}

// TestVerifyImageCosignAttest: pipeguard verifies what `cosign attest --key`
// attached, under a policy trusting cosign's key.
func TestVerifyImageCosignAttest(t *testing.T) {
	for _, kind := range registryKinds {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			reg := ocitest.Start(t, kind)
			dig := ocitest.PushImage(t, reg.Ref("app:v1"))
			d := digestRef(t, reg, "app", dig)
			dir := t.TempDir()
			CosignAttest(t, dir, d.String())
			pub, err := os.ReadFile(filepath.Join(dir, "cosign.pub"))
			if err != nil {
				t.Fatal(err)
			}
			c := oci.New(oci.WithInsecure())
			res, err := c.VerifyImage(ctx, d, judge(t, ocitest.Policy(&ocitest.Key{PEM: pub}, "https://example.test/builder", nil)))
			if err != nil {
				t.Fatal(err)
			}
			if !res.Passed {
				t.Fatalf("cosign-attested image refused: %v", res.Failures())
			}
			// The same attestation under a policy trusting another key.
			res, err = c.VerifyImage(ctx, d, judge(t, ocitest.Policy(ocitest.NewKey(t), "https://example.test/builder", nil)))
			if err != nil {
				t.Fatal(err)
			}
			if res.Passed {
				t.Fatal("cosign attestation passed under a policy trusting another key")
			}
		})
	}
}

// TestVerifyImageIndex: a multi-platform index passes on its own digest's
// attestations, or when every platform passes on its own; one platform
// without attestations is enough to refuse.
func TestVerifyImageIndex(t *testing.T) {
	ctx := context.Background()
	reg := ocitest.Start(t, ocitest.Referrers)
	c := oci.New(oci.WithInsecure())
	builder := ocitest.NewKey(t)
	j := judge(t, ocitest.Policy(builder, "", nil))
	verifyRef := func(ref string) *oci.ImageResult {
		r, _ := c.ParseReference(ref)
		res, err := c.VerifyImage(ctx, r, j)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	idx, _ := ocitest.PushIndex(t, reg.Ref("byindex:v1"))
	id := digestRef(t, reg, "byindex", idx)
	if _, err := c.Attach(ctx, id, [][]byte{builder.Provenance(t, id.Context().Name(), idx)}); err != nil {
		t.Fatal(err)
	}
	if res := verifyRef(reg.Ref("byindex:v1")); !res.Passed || !res.Resolved.Index || len(res.Results) != 1 {
		t.Fatalf("index attested on its digest: %+v %v", res, res.Failures())
	}

	_, plats := ocitest.PushIndex(t, reg.Ref("byplatform:v1"))
	for i, p := range plats {
		pd := digestRef(t, reg, "byplatform", p)
		if _, err := c.Attach(ctx, pd, [][]byte{builder.Provenance(t, pd.Context().Name(), p)}); err != nil {
			t.Fatal(err)
		}
		res := verifyRef(reg.Ref("byplatform:v1"))
		last := i == len(plats)-1
		if res.Passed != last {
			t.Fatalf("after attesting %d of %d platforms: passed=%v %v", i+1, len(plats), res.Passed, res.Failures())
		}
		if len(res.Results) != 3 {
			t.Fatalf("want the index and both platforms judged, got %d results", len(res.Results))
		}
	}
	// The webhook's path for a digest reference reaches the same verdicts.
	r, _ := c.ParseReference(reg.Ref("byplatform:v1"))
	resolved, err := c.Resolve(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]bool{
		resolved.DigestRef().String(): true, // every platform attested
		id.String():                   true, // the index itself attested
		reg.Ref("byplatform@" + ocitest.PushImage(t, reg.Ref("byplatform:bare")).String()): false, // nothing attested
	} {
		d, _ := name.NewDigest(ref, name.Insecure)
		res, err := c.VerifyDigest(ctx, d, j)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		if res.Passed != want {
			t.Fatalf("VerifyDigest %s: passed=%v %v", ref, res.Passed, res.Failures())
		}
	}
	// A digest the registry does not have is an error, not a refusal.
	if _, err := c.VerifyDigest(ctx, digestRef(t, reg, "byplatform", v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}), j); err == nil {
		t.Fatal("verifying a missing manifest did not fail")
	}
}

// TestVerifyImageIgnoresUnreadableAttachments: junk attached by anyone who
// can push does not stop a good attestation from counting, and alone it is
// a refusal that names it.
func TestVerifyImageIgnoresUnreadableAttachments(t *testing.T) {
	ctx := context.Background()
	reg := ocitest.Start(t, ocitest.Referrers)
	c := oci.New(oci.WithInsecure())
	builder := ocitest.NewKey(t)
	j := judge(t, ocitest.Policy(builder, "", nil))
	junk := func(d v1.Hash, repo string) {
		att, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{Layer: static.NewLayer([]byte("not an envelope"), oci.DSSEMediaType)})
		if err != nil {
			t.Fatal(err)
		}
		tag, _ := name.NewTag(reg.Ref(repo+":"+strings.Replace(d.String(), ":", "-", 1)+".att"), name.Insecure)
		if err := remote.Write(tag, att); err != nil {
			t.Fatal(err)
		}
	}
	good := ocitest.PushImage(t, reg.Ref("mixed:v1"))
	gd := digestRef(t, reg, "mixed", good)
	if _, err := c.Attach(ctx, gd, [][]byte{builder.Provenance(t, gd.Context().Name(), good)}, oci.WithoutTagLayout()); err != nil {
		t.Fatal(err)
	}
	junk(good, "mixed")
	res, err := c.VerifyImage(ctx, gd, j)
	if err != nil || !res.Passed {
		t.Fatalf("good attestation beside junk: err=%v passed=%v %v", err, res != nil && res.Passed, res.Failures())
	}
	only := ocitest.PushImage(t, reg.Ref("junk:v1"))
	junk(only, "junk")
	res, err = c.VerifyImage(ctx, digestRef(t, reg, "junk", only), j)
	if err != nil {
		t.Fatal(err)
	}
	if res.Passed || !strings.Contains(strings.Join(res.Failures(), "\n"), "readable") {
		t.Fatalf("junk alone: passed=%v %v", res.Passed, res.Failures())
	}
}

// TestVerifyImageSource: the policy's expected source applies to images as
// to files: provenance from another repository or ref is refused.
func TestVerifyImageSource(t *testing.T) {
	ctx := context.Background()
	reg := ocitest.Start(t, ocitest.Referrers)
	c := oci.New(oci.WithInsecure())
	builder := ocitest.NewKey(t)
	dg := ocitest.PushImage(t, reg.Ref("src:v1"))
	d := digestRef(t, reg, "src", dg)
	if _, err := c.Attach(ctx, d, [][]byte{builder.Provenance(t, d.Context().Name(), dg)}); err != nil {
		t.Fatal(err)
	}
	// ocitest's provenance says git+https://example.test/app@refs/heads/main.
	for _, tc := range []struct {
		source string
		pass   bool
		rule   string
	}{
		{"  source:\n    repository: \"https://example.test/app\"\n    refs: [\"refs/heads/main\"]\n", true, ""},
		{"  source:\n    repository: \"https://example.test/other\"\n", false, "require.source.repository"},
		{"  source:\n    repository: \"https://example.test/app\"\n    refs: [\"refs/tags/v*\"]\n", false, "require.source.refs"},
	} {
		res, err := c.VerifyImage(ctx, d, judge(t, ocitest.Policy(builder, "", nil)+tc.source))
		if err != nil {
			t.Fatal(err)
		}
		if res.Passed != tc.pass || (tc.rule != "" && !strings.Contains(strings.Join(res.Failures(), "\n"), tc.rule)) {
			t.Fatalf("source %q: passed=%v %v", tc.source, res.Passed, res.Failures())
		}
	}
}

// TestVerifyImageVSA: a VSA from the policy's verifier stands in for the
// full evaluation (even beside provenance nobody trusts); a VSA from anyone
// else does not, and trusted provenance still passes on its own.
func TestVerifyImageVSA(t *testing.T) {
	ctx := context.Background()
	reg := ocitest.Start(t, ocitest.Referrers)
	c := oci.New(oci.WithInsecure())
	builder, verifier, stranger := ocitest.NewKey(t), ocitest.NewKey(t), ocitest.NewKey(t)
	j := judge(t, ocitest.Policy(builder, "", verifier))
	vsa := func(k *ocitest.Key, d name.Digest, dg v1.Hash) []byte {
		rep := &verify.Report{Subject: verify.Subject{Name: d.Context().Name(), Digests: map[string]string{"sha256": dg.Hex}}, Passed: true, PolicyDigest: strings.Repeat("0", 64)}
		b, err := verify.SignVSA(ctx, k.Signer(t), rep, verify.DefaultVerifierID, d.String())
		if err != nil {
			t.Fatal(err)
		}
		data, err := attest.MarshalBundle(b)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	for _, tc := range []struct {
		repo       string
		prov, vsas *ocitest.Key
		pass       bool
		byVSA      bool
	}{
		{"trusted-vsa", stranger, verifier, true, true},
		{"untrusted-vsa", builder, stranger, true, false},
		{"nothing-trusted", stranger, stranger, false, false},
	} {
		dg := ocitest.PushImage(t, reg.Ref(tc.repo+":v1"))
		d := digestRef(t, reg, tc.repo, dg)
		if _, err := c.Attach(ctx, d, [][]byte{tc.prov.Provenance(t, d.Context().Name(), dg), vsa(tc.vsas, d, dg)}); err != nil {
			t.Fatal(err)
		}
		res, err := c.VerifyImage(ctx, d, j)
		if err != nil {
			t.Fatal(err)
		}
		if res.Passed != tc.pass {
			t.Fatalf("%s: passed=%v %v", tc.repo, res.Passed, res.Failures())
		}
		if rep, _ := res.Results[0].Verdict.Evidence.(*verify.Report); tc.pass && rep.ByVSA != tc.byVSA {
			t.Fatalf("%s: byVSA=%v, want %v", tc.repo, rep.ByVSA, tc.byVSA)
		}
	}
}
