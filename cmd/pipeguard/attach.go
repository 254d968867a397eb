package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pipeguard/pipeguard/internal/attest"
	"github.com/pipeguard/pipeguard/internal/oci"
)

// registryFlags are the flags of commands that talk to registries.
type registryFlags struct {
	insecure bool
}

func (f *registryFlags) register(c *cobra.Command) {
	c.Flags().BoolVar(&f.insecure, "insecure-registry", false, "allow plain HTTP and unverified TLS to registries (loopback tests only)")
}

// client returns a registry client; credentials come from the docker config
// file ($DOCKER_CONFIG/config.json, as `docker login` writes it).
func (f *registryFlags) client() *oci.Client {
	var opts []oci.Option
	if f.insecure {
		opts = append(opts, oci.WithInsecure())
	}
	return oci.New(opts...)
}

func newAttachCmd(g *globals) *cobra.Command {
	var (
		bundles                  []string
		rf                       registryFlags
		sf                       signerFlags
		noRefs, noTagLyt, signIt bool
	)
	c := &cobra.Command{
		Use:   "attach IMAGE_REF (--bundle B [--bundle B2 ...] | --sign)",
		Short: "Store attestation bundles with an image: OCI 1.1 referrers and cosign's sha256-<hex>.att tag",
		Long: "attach stores Sigstore bundles with the image digest IMAGE_REF names (a tag is resolved first), both as\n" +
			"OCI 1.1 referrers and in cosign's tag layout, so that cosign and registries without the referrers API\n" +
			"find them too. A bundle whose statement is about another digest is refused. --sign also signs the image\n" +
			"digest (cosign v3's signature statement as a referrer, and the legacy sha256-<hex>.sig), so that\n" +
			"`cosign verify --key` accepts it.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(bundles) == 0 && !signIt {
				return errored(errors.New("give at least one --bundle, or --sign"))
			}
			if noRefs && noTagLyt {
				return errored(errors.New("--no-referrers and --no-tag-layout together would attach nothing"))
			}
			var data [][]byte
			for _, b := range bundles {
				d, err := readLimited(b, attest.MaxItemSize*4)
				if err != nil {
					return errored(err)
				}
				data = append(data, d)
			}
			cl := rf.client()
			ref, err := cl.ParseReference(args[0])
			if err != nil {
				return errored(err)
			}
			res, err := cl.Resolve(cmd.Context(), ref)
			if err != nil {
				return errored(err)
			}
			if signIt {
				s, err := sf.signer(cmd.Context(), g)
				if err != nil {
					return err
				}
				b, err := oci.SignatureBundle(cmd.Context(), s, res.DigestRef())
				if err != nil {
					return errored(err)
				}
				data = append(data, b)
				if !noTagLyt {
					tag, err := cl.AttachLegacySignature(cmd.Context(), s, res.DigestRef())
					if err != nil {
						return errored(err)
					}
					fmt.Fprintf(g.stdout, "signature tag %s\n", tag)
				}
			}
			var opts []oci.AttachOption
			if noRefs {
				opts = append(opts, oci.WithoutReferrers())
			}
			if noTagLyt {
				opts = append(opts, oci.WithoutTagLayout())
			}
			ar, err := cl.Attach(cmd.Context(), res.DigestRef(), data, opts...)
			if err != nil {
				return errored(err)
			}
			for _, h := range ar.Referrers {
				fmt.Fprintf(g.stdout, "referrer %s@%s\n", res.Ref.Context().Name(), h)
			}
			if ar.Tag != "" {
				fmt.Fprintf(g.stdout, "tag %s (%d new)\n", ar.Tag, ar.TagLayers)
			}
			fmt.Fprintf(g.stderr, "attached %d bundle(s) to %s\n", len(data), res.DigestRef())
			return nil
		},
	}
	c.Flags().StringArrayVar(&bundles, "bundle", nil, "Sigstore bundle to attach (repeatable)")
	c.Flags().BoolVar(&noRefs, "no-referrers", false, "do not write OCI 1.1 referrers")
	c.Flags().BoolVar(&noTagLyt, "no-tag-layout", false, "do not write cosign's sha256-<hex>.att / .sig tags")
	c.Flags().BoolVar(&signIt, "sign", false, "also sign the image digest (cosign-compatible image signature)")
	rf.register(c)
	sf.register(c)
	c.Flags().Lookup("key").Usage = "private key for --sign (default: the home's signing key)"
	return c
}
