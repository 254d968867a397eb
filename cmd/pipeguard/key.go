package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/pipeguard/pipeguard/internal/home"
	"github.com/pipeguard/pipeguard/internal/sign"
)

func newInitCmd(g *globals) *cobra.Command {
	var noPassword bool
	var keyType, builderID string
	c := &cobra.Command{
		Use:   "init",
		Short: "Create the home directory with an encrypted signing key pair and config",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := g.homeDir()
			if err != nil {
				return errored(err)
			}
			opts := []home.Option{home.WithPassword(g.password), home.WithKeyType(keyType), home.WithLogger(g.log)}
			if noPassword {
				opts = append(opts, home.WithNoPassword())
			}
			if builderID != "" {
				opts = append(opts, home.WithBuilderID(builderID))
			}
			h, err := home.Init(cmd.Context(), dir, opts...)
			if err != nil {
				return errored(err)
			}
			fmt.Fprintf(g.stderr, "created %s (key %s)\n", h.Dir, h.KeyPath())
			return nil
		},
	}
	c.Flags().BoolVar(&noPassword, "no-password", false, "write the private key unencrypted (mode 0600)")
	c.Flags().StringVar(&keyType, "type", sign.AlgECDSAP256, "key type: ecdsa-p256 or ed25519")
	c.Flags().StringVar(&builderID, "builder-id", "", "builder id recorded in provenance (default "+home.DefaultBuilderID+")")
	return c
}

func newKeyCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "key", Short: "Manage signing keys"}
	var out, keyType string
	var noPassword bool
	gen := &cobra.Command{
		Use:   "generate --out PREFIX",
		Short: "Write a new key pair to PREFIX.key and PREFIX.pub (PEM; the private key encrypted unless --no-password)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errored(fmt.Errorf("--out is required"))
			}
			var pw []byte
			if !noPassword {
				var err error
				if pw, err = g.password(true); err != nil {
					return errored(err)
				}
				if len(pw) == 0 {
					return errored(fmt.Errorf("no password: set %s, run on a terminal, or pass --no-password", home.EnvPassword))
				}
			}
			k, err := sign.GenerateKey(keyType)
			if err != nil {
				return errored(err)
			}
			priv, err := sign.EncodePrivateKey(k, pw)
			if err != nil {
				return errored(err)
			}
			pub, err := sign.EncodePublicKey(k.Public())
			if err != nil {
				return errored(err)
			}
			for _, p := range []string{out + ".key", out + ".pub"} {
				if _, err := os.Stat(p); err == nil {
					return errored(fmt.Errorf("%s exists; refusing to overwrite", p))
				}
			}
			if err := home.WriteFileAtomic(out+".key", priv, 0o600); err != nil {
				return errored(err)
			}
			if err := home.WriteFileAtomic(out+".pub", pub, 0o644); err != nil {
				return errored(err)
			}
			fmt.Fprintf(g.stderr, "wrote %s.key and %s.pub\n", out, out)
			return nil
		},
	}
	gen.Flags().StringVar(&out, "out", "", "path prefix of the key files")
	gen.Flags().StringVar(&keyType, "type", sign.AlgECDSAP256, "key type: ecdsa-p256 or ed25519")
	gen.Flags().BoolVar(&noPassword, "no-password", false, "write the private key unencrypted (mode 0600)")

	pub := &cobra.Command{
		Use:   "public",
		Short: "Print the home's public signing key (PEM)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h, err := g.openHome(cmd.Context())
			if err != nil {
				return err
			}
			b, err := h.PublicKeyPEM()
			if err != nil {
				return errored(err)
			}
			_, err = g.stdout.Write(b)
			return err
		},
	}
	c.AddCommand(gen, pub)
	return c
}
