package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/spf13/cobra"

	"github.com/pipeguard/pipeguard/internal/attest"
	"github.com/pipeguard/pipeguard/internal/sign"
	"github.com/pipeguard/pipeguard/internal/trustroot"
	"github.com/pipeguard/pipeguard/internal/verify"
)

// trustFlags select who may have signed: a key or a keyless identity, and
// the trusted root.
type trustFlags struct {
	key                      string
	identity, identityRegexp string
	issuer, issuerRegexp     string
	trustedRoot              string
	requireTlog              bool
}

func (f *trustFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.key, "key", "", "trusted public key (PEM)")
	c.Flags().StringVar(&f.identity, "certificate-identity", "", "keyless: expected certificate subject alternative name")
	c.Flags().StringVar(&f.identityRegexp, "certificate-identity-regexp", "", "keyless: regular expression for the certificate subject alternative name")
	c.Flags().StringVar(&f.issuer, "certificate-oidc-issuer", "", "keyless: expected OIDC issuer")
	c.Flags().StringVar(&f.issuerRegexp, "certificate-oidc-issuer-regexp", "", "keyless: regular expression for the OIDC issuer")
	c.Flags().StringVar(&f.trustedRoot, "trusted-root", "", "Sigstore trusted root JSON (default: the home's refreshed copy, else the embedded public-good root)")
	c.Flags().BoolVar(&f.requireTlog, "require-tlog", false, "refuse bundles without a verified transparency log entry")
}

func (f *trustFlags) trust(g *globals) (verify.BundleTrust, error) {
	var t verify.BundleTrust
	keyless := f.identity != "" || f.identityRegexp != "" || f.issuer != "" || f.issuerRegexp != ""
	switch {
	case f.key != "" && keyless:
		return t, errors.New("give either --key or a certificate identity, not both")
	case f.key != "":
		data, err := os.ReadFile(f.key)
		if err != nil {
			return t, fmt.Errorf("reading key: %w", err)
		}
		pub, err := sign.DecodePublicKey(data)
		if err != nil {
			return t, err
		}
		t.Keys = []attest.VerificationKey{{Public: pub}}
	case keyless:
		if (f.identity == "") == (f.identityRegexp == "") || (f.issuer == "") == (f.issuerRegexp == "") {
			return t, errors.New("keyless verification needs one of --certificate-identity(-regexp) and one of --certificate-oidc-issuer(-regexp)")
		}
		t.Identity = &verify.Identity{SAN: f.identity, SANRegexp: f.identityRegexp, Issuer: f.issuer, IssuerRegexp: f.issuerRegexp}
	default:
		return t, errors.New("give --key or --certificate-identity and --certificate-oidc-issuer")
	}
	tr, err := f.root(g)
	if err != nil {
		return t, err
	}
	t.TrustedRoot = tr
	t.RequireTlog = f.requireTlog
	return t, nil
}

func (f *trustFlags) root(g *globals) (root.TrustedMaterial, error) {
	if f.trustedRoot != "" {
		return trustroot.Load(f.trustedRoot)
	}
	dir, err := g.homeDir()
	if err != nil {
		return nil, err
	}
	return trustroot.Default(dir)
}

func newVerifyBundleCmd(g *globals) *cobra.Command {
	var tf trustFlags
	var bundlePath string
	c := &cobra.Command{
		Use:   "verify-bundle --bundle F [--key K | --certificate-identity I --certificate-oidc-issuer U] [--trusted-root R] FILE_OR_sha256:DIGEST",
		Short: "Verify a Sigstore bundle for an artifact (exit 0 valid, 1 invalid, 2 unreadable input)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if bundlePath == "" {
				return errored(errors.New("--bundle is required"))
			}
			t, err := tf.trust(g)
			if err != nil {
				return errored(err)
			}
			data, err := os.ReadFile(bundlePath)
			if err != nil {
				return errored(fmt.Errorf("reading bundle: %w", err))
			}
			items, err := attest.Load(bundlePath, data)
			if err != nil {
				return errored(err)
			}
			if len(items) != 1 || items[0].Bundle == nil {
				return errored(fmt.Errorf("%s: expected one Sigstore bundle", bundlePath))
			}
			artifact, closeFn, err := artifactOption(args[0])
			if err != nil {
				return errored(err)
			}
			defer closeFn()
			res, err := verify.CheckBundle(items[0].Bundle, artifact, t)
			if err != nil {
				return failed(fmt.Errorf("%s: verification failed: %w", bundlePath, err))
			}
			who := "key"
			if res.SAN != "" {
				who = res.SAN
			}
			fmt.Fprintf(g.stderr, "Verified OK: %s (signer %s, %d log entries, %d observer timestamps)\n", bundlePath, who, res.TlogEntries, len(res.Times))
			return nil
		},
	}
	tf.register(c)
	c.Flags().StringVar(&bundlePath, "bundle", "", "Sigstore bundle (JSON)")
	return c
}

// artifactOption reads FILE or ALG:HEXDIGEST into sigstore-go's artifact
// policy.
func artifactOption(arg string) (sgverify.ArtifactPolicyOption, func(), error) {
	if alg, hexd, ok := strings.Cut(arg, ":"); ok && (alg == "sha256" || alg == "sha384" || alg == "sha512") {
		if _, err := os.Stat(arg); err != nil {
			d, err := hex.DecodeString(hexd)
			if err != nil {
				return nil, nil, fmt.Errorf("digest %q is not hex: %w", arg, err)
			}
			return sgverify.WithArtifactDigest(alg, d), func() {}, nil
		}
	}
	f, err := os.Open(arg)
	if err != nil {
		return nil, nil, fmt.Errorf("reading artifact: %w", err)
	}
	return sgverify.WithArtifact(f), func() { f.Close() }, nil
}

func newVerifyEnvelopeCmd(g *globals) *cobra.Command {
	var keyPath, keyID string
	c := &cobra.Command{
		Use:   "verify-envelope --key K ENVELOPE.json",
		Short: "Verify a bare DSSE envelope of any payload type (exit 0 valid, 1 invalid, 2 unreadable input)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyPath == "" {
				return errored(errors.New("--key is required"))
			}
			kb, err := os.ReadFile(keyPath)
			if err != nil {
				return errored(fmt.Errorf("reading key: %w", err))
			}
			pub, err := sign.DecodePublicKey(kb)
			if err != nil {
				return errored(err)
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return errored(fmt.Errorf("reading envelope: %w", err))
			}
			env, err := attest.ParseEnvelope(data)
			if err != nil {
				return errored(err)
			}
			k := attest.VerificationKey{Public: pub, KeyID: keyID, CheckKeyID: cmd.Flags().Changed("key-id")}
			if _, err := env.Verify([]attest.VerificationKey{k}); err != nil {
				return failed(fmt.Errorf("%s: %w", args[0], err))
			}
			fmt.Fprintf(g.stderr, "Verified OK: %s (payloadType %s, %d bytes)\n", args[0], env.PayloadType, len(env.Payload))
			return nil
		},
	}
	c.Flags().StringVar(&keyPath, "key", "", "trusted public key (PEM)")
	c.Flags().StringVar(&keyID, "key-id", "", "only accept signatures carrying this key id")
	return c
}

func newTrustedRootCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "trusted-root", Short: "Manage the Sigstore trusted root used for keyless verification"}
	var from string
	update := &cobra.Command{
		Use:   "update --from FILE",
		Short: "Install a newer trusted root (offline) into the home",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" {
				return errored(errors.New("--from is required"))
			}
			dir, err := g.homeDir()
			if err != nil {
				return errored(err)
			}
			if err := trustroot.Update(dir, from); err != nil {
				return errored(err)
			}
			fmt.Fprintf(g.stderr, "installed trusted root from %s\n", from)
			return nil
		},
	}
	update.Flags().StringVar(&from, "from", "", "trusted root JSON file")
	c.AddCommand(update)
	return c
}
