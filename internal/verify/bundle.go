// Package verify checks signed attestations and judges a subject against a
// policy: it verifies Sigstore bundles (key-based and keyless, offline,
// with transparency log and timestamp evidence) and bare DSSE envelopes,
// then evaluates the policy's rules over the statements that verified.
package verify

import (
	"errors"
	"fmt"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/pipeguard/pipeguard/internal/attest"
)

// Identity is a keyless signer: the certificate's subject alternative name
// and OIDC issuer, each exact or a regular expression.
type Identity struct {
	SAN, SANRegexp       string
	Issuer, IssuerRegexp string
}

func (id Identity) String() string {
	san, iss := id.SAN, id.Issuer
	if san == "" {
		san = "~" + id.SANRegexp
	}
	if iss == "" {
		iss = "~" + id.IssuerRegexp
	}
	return san + " (issuer " + iss + ")"
}

// BundleTrust says who may have signed a bundle: a set of keys, or a
// keyless identity under a trusted root. The trusted root also anchors any
// transparency log entries and timestamps the bundle carries.
type BundleTrust struct {
	Keys        []attest.VerificationKey
	Identity    *Identity
	TrustedRoot root.TrustedMaterial
	// RequireTlog refuses bundles without a verified transparency log entry.
	RequireTlog bool
}

// BundleResult is what a verified bundle proved.
type BundleResult struct {
	// Key is the index into BundleTrust.Keys that verified, or -1 when
	// the bundle was verified keyless.
	Key int
	// SAN and Issuer are the verified certificate identity for keyless.
	SAN, Issuer string
	// Times are the verified observer timestamps (log integration or
	// timestamp authority), the only times a policy may trust.
	Times []ObservedTime
	// TlogEntries counts the verified transparency log entries.
	TlogEntries int
}

// ObservedTime is a time vouched for by a third party.
type ObservedTime struct {
	Source string // "tlog" or "tsa"
	Time   time.Time
}

// ErrUntrusted marks a signature that did not verify against any trusted
// signer (as opposed to an input that could not be read).
var ErrUntrusted = errors.New("not signed by a trusted signer")

// CheckBundle verifies b for the artifact (or, with WithoutArtifact, only
// its signature and evidence) against t.
func CheckBundle(b *bundle.Bundle, artifact sgverify.ArtifactPolicyOption, t BundleTrust) (*BundleResult, error) {
	if len(t.Keys) == 0 && t.Identity == nil {
		return nil, errors.New("no trusted key or identity to verify against")
	}
	if len(t.Keys) > 0 {
		var errs []error
		for i, k := range t.Keys {
			res, err := checkWithKey(b, artifact, k, t)
			if err == nil {
				res.Key = i
				return res, nil
			}
			errs = append(errs, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrUntrusted, errors.Join(errs...))
	}
	return checkKeyless(b, artifact, t)
}

func checkWithKey(b *bundle.Bundle, artifact sgverify.ArtifactPolicyOption, k attest.VerificationKey, t BundleTrust) (*BundleResult, error) {
	if b.VerificationMaterial == nil || b.VerificationMaterial.GetPublicKey() == nil {
		return nil, errors.New("bundle is signed with a certificate, not a key")
	}
	if k.CheckKeyID && !bundleNamesKey(b, k.KeyID) {
		return nil, fmt.Errorf("bundle names no key id %q (hint %q)", k.KeyID, b.VerificationMaterial.GetPublicKey().GetHint())
	}
	v, err := signature.LoadDefaultVerifier(k.Public)
	if err != nil {
		return nil, fmt.Errorf("loading trusted key: %w", err)
	}
	keyMaterial := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
		return root.NewExpiringKey(v, time.Time{}, time.Time{}), nil
	})
	material := root.TrustedMaterialCollection{keyMaterial}
	if t.TrustedRoot != nil {
		material = append(material, t.TrustedRoot)
	}
	opts, tlog, err := evidenceOptions(b, t, false)
	if err != nil {
		return nil, err
	}
	return run(b, material, opts, tlog, sgverify.NewPolicy(artifact, sgverify.WithKey()))
}

func checkKeyless(b *bundle.Bundle, artifact sgverify.ArtifactPolicyOption, t BundleTrust) (*BundleResult, error) {
	if t.TrustedRoot == nil {
		return nil, errors.New("keyless verification needs a trusted root")
	}
	id := t.Identity
	cid, err := sgverify.NewShortCertificateIdentity(id.Issuer, id.IssuerRegexp, id.SAN, id.SANRegexp)
	if err != nil {
		return nil, fmt.Errorf("invalid certificate identity: %w", err)
	}
	opts, tlog, err := evidenceOptions(b, t, true)
	if err != nil {
		return nil, err
	}
	res, err := run(b, t.TrustedRoot, opts, tlog, sgverify.NewPolicy(artifact, sgverify.WithCertificateIdentity(cid)))
	if err != nil {
		return nil, err
	}
	res.Key = -1
	return res, nil
}

// evidenceOptions decides what third-party evidence a bundle must carry.
// Keyless bundles need an observer timestamp (log or TSA) to anchor the
// short-lived certificate, plus SCTs and log entries when the root lists
// such authorities. Key-signed bundles must prove whatever evidence they
// carry, and may carry none (like cosign's --insecure-ignore-tlog) unless
// the caller requires a log entry.
func evidenceOptions(b *bundle.Bundle, t BundleTrust, keyless bool) (opts []sgverify.VerifierOption, tlog bool, err error) {
	tss, err := b.Timestamps()
	if err != nil {
		return nil, false, fmt.Errorf("reading bundle timestamps: %w", err)
	}
	hasTlog := len(b.GetVerificationMaterial().GetTlogEntries()) > 0
	var rekorLogs, ctLogs int
	if t.TrustedRoot != nil {
		rekorLogs = len(t.TrustedRoot.RekorLogs())
		ctLogs = len(t.TrustedRoot.CTLogs())
	}
	switch {
	case keyless:
		if ctLogs > 0 {
			opts = append(opts, sgverify.WithSignedCertificateTimestamps(1))
		}
		if rekorLogs > 0 {
			opts, tlog = append(opts, sgverify.WithTransparencyLog(1)), true
		}
		opts = append(opts, sgverify.WithObserverTimestamps(1))
	default:
		if hasTlog || t.RequireTlog {
			opts, tlog = append(opts, sgverify.WithTransparencyLog(1)), true
		}
		// A key has no validity window that a time must anchor, so a time
		// is verified when the bundle carries one (a timestamp, or a log's
		// integrated time) but not demanded: Rekor v2 style entries carry
		// none.
		if len(tss) > 0 || hasIntegratedTime(b) {
			opts = append(opts, sgverify.WithObserverTimestamps(1))
		} else {
			opts = append(opts, sgverify.WithNoObserverTimestamps())
		}
	}
	if t.RequireTlog && !keyless && rekorLogs == 0 {
		return nil, false, errors.New("a transparency log entry is required but the trusted root lists no log")
	}
	return opts, tlog, nil
}

func run(b *bundle.Bundle, material root.TrustedMaterial, opts []sgverify.VerifierOption, tlog bool, policy sgverify.PolicyBuilder) (*BundleResult, error) {
	v, err := sgverify.NewVerifier(material, opts...)
	if err != nil {
		return nil, fmt.Errorf("configuring verifier: %w", err)
	}
	r, err := v.Verify(b, policy)
	if err != nil {
		return nil, err
	}
	res := &BundleResult{}
	for _, ts := range r.VerifiedTimestamps {
		switch ts.Type {
		case "Tlog":
			res.TlogEntries++
			res.Times = append(res.Times, ObservedTime{Source: "tlog", Time: ts.Timestamp})
		case "TimestampAuthority":
			res.Times = append(res.Times, ObservedTime{Source: "tsa", Time: ts.Timestamp})
		}
	}
	// Rekor v2 style entries prove inclusion without a time; sigstore-go
	// checked every entry when the log was required.
	if n := len(b.GetVerificationMaterial().GetTlogEntries()); tlog && n > res.TlogEntries {
		res.TlogEntries = n
	}
	if r.VerifiedIdentity != nil {
		res.SAN = r.VerifiedIdentity.SubjectAlternativeName.SubjectAlternativeName
		res.Issuer = r.VerifiedIdentity.Issuer.Issuer
	}
	if r.Signature != nil && r.Signature.Certificate != nil {
		res.SAN = r.Signature.Certificate.SubjectAlternativeName
		res.Issuer = r.Signature.Certificate.Issuer
	}
	return res, nil
}

// bundleNamesKey reports whether the bundle's key hint or one of its DSSE
// signatures carries keyID.
func bundleNamesKey(b *bundle.Bundle, keyID string) bool {
	if b.VerificationMaterial.GetPublicKey().GetHint() == keyID {
		return true
	}
	for _, s := range b.GetDsseEnvelope().GetSignatures() {
		if s.GetKeyid() == keyID {
			return true
		}
	}
	return false
}

func hasIntegratedTime(b *bundle.Bundle) bool {
	for _, e := range b.GetVerificationMaterial().GetTlogEntries() {
		if e.GetIntegratedTime() > 0 {
			return true
		}
	}
	return false
}
