package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/pipeguard/pipeguard/internal/attest"
	"github.com/pipeguard/pipeguard/internal/home"
	"github.com/pipeguard/pipeguard/internal/sign"
	"github.com/pipeguard/pipeguard/internal/tlog"
)

// signerFlags selects the signing key: --key, else the home's key.
type signerFlags struct {
	key string
}

func (f *signerFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.key, "key", "", "private key file (pipeguard, cosign or PEM; default: the home's signing key)")
}

// logFlags submit signatures to a pipeguard transparency log.
type logFlags struct {
	url string
}

func (f *logFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.url, "log", "", "transparency log URL: submit, wait for inclusion and put the proof into the bundle (write token from "+tlog.EnvToken+")")
}

// client returns the log client, or nil without --log.
func (f *logFlags) client() (*tlog.Client, error) {
	if f.url == "" {
		return nil, nil
	}
	c, err := tlog.NewClient(f.url, os.Getenv(tlog.EnvToken))
	if err != nil {
		return nil, errored(err)
	}
	return c, nil
}

// bundleOptions adds the log to a signing when --log is given.
func (f *logFlags) bundleOptions() ([]sign.BundleOption, *tlog.Client, error) {
	c, err := f.client()
	if err != nil || c == nil {
		return nil, nil, err
	}
	return []sign.BundleOption{sign.WithTransparencyLog(c)}, c, nil
}

// signerOptions: logs of the Rekor v2 kind take Ed25519 signatures only
// pre-hashed (Ed25519ph); without a log, plain Ed25519 is what other tools
// expect.
func (f *logFlags) signerOptions(c *tlog.Client) []sign.SignerOption {
	if c == nil {
		return nil
	}
	return []sign.SignerOption{sign.WithEd25519ph()}
}

func (f *signerFlags) signer(ctx context.Context, g *globals, opts ...sign.SignerOption) (*sign.Signer, error) {
	if f.key != "" {
		s, err := home.LoadSigner(f.key, g.password, opts...)
		if err != nil {
			return nil, errored(err)
		}
		return s, nil
	}
	h, err := g.openHome(ctx)
	if err != nil {
		return nil, err
	}
	s, err := h.Signer(ctx, opts...)
	if err != nil {
		return nil, errored(err)
	}
	return s, nil
}

func newSignBlobCmd(g *globals) *cobra.Command {
	var sf signerFlags
	var lf logFlags
	var out string
	c := &cobra.Command{
		Use:   "sign-blob --bundle OUT FILE",
		Short: "Sign a file and write a Sigstore bundle v0.3 (message signature)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errored(fmt.Errorf("--bundle is required"))
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return errored(fmt.Errorf("reading artifact: %w", err))
			}
			bopts, logClient, err := lf.bundleOptions()
			if err != nil {
				return err
			}
			s, err := sf.signer(cmd.Context(), g, lf.signerOptions(logClient)...)
			if err != nil {
				return err
			}
			b, err := s.Blob(cmd.Context(), data, bopts...)
			if err != nil {
				return errored(err)
			}
			if err := attest.WriteBundle(out, b); err != nil {
				return errored(err)
			}
			fmt.Fprintf(g.stderr, "wrote %s\n", out)
			return nil
		},
	}
	sf.register(c)
	lf.register(c)
	c.Flags().StringVar(&out, "bundle", "", "where to write the bundle")
	return c
}

func newAttestCmd(g *globals) *cobra.Command {
	var sf signerFlags
	var lf logFlags
	var out, predType, predPath string
	var digests []string
	c := &cobra.Command{
		Use:   "attest --type PREDICATE_TYPE --predicate P.json --bundle OUT (FILE... | --subject-digest ALG:VALUE...)",
		Short: "Sign an in-toto Statement v1 about files (or digests) into a DSSE Sigstore bundle v0.3",
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" || predType == "" || predPath == "" {
				return errored(fmt.Errorf("--bundle, --type and --predicate are required"))
			}
			if len(args) == 0 && len(digests) == 0 {
				return errored(fmt.Errorf("name at least one FILE or --subject-digest"))
			}
			pred, err := os.ReadFile(predPath)
			if err != nil {
				return errored(fmt.Errorf("reading predicate: %w", err))
			}
			if !json.Valid(pred) {
				return errored(fmt.Errorf("predicate %s is not valid JSON", predPath))
			}
			subjects, err := subjectsOf(args, digests)
			if err != nil {
				return errored(err)
			}
			st, err := attest.NewStatement(subjects, predType, json.RawMessage(pred))
			if err != nil {
				return errored(err)
			}
			bopts, logClient, err := lf.bundleOptions()
			if err != nil {
				return err
			}
			s, err := sf.signer(cmd.Context(), g, lf.signerOptions(logClient)...)
			if err != nil {
				return err
			}
			b, err := s.DSSE(cmd.Context(), attest.PayloadType, st, bopts...)
			if err != nil {
				return errored(err)
			}
			if err := attest.WriteBundle(out, b); err != nil {
				return errored(err)
			}
			if logClient != nil {
				// The server's store indexes it by subject for verifiers.
				data, err := attest.MarshalBundle(b)
				if err != nil {
					return errored(err)
				}
				if err := logClient.PutAttestation(cmd.Context(), data); err != nil {
					return errored(fmt.Errorf("the entry is logged and %s written, but storing the attestation failed: %w", out, err))
				}
			}
			fmt.Fprintf(g.stderr, "wrote %s\n", out)
			return nil
		},
	}
	sf.register(c)
	lf.register(c)
	c.Flags().StringVar(&out, "bundle", "", "where to write the bundle")
	c.Flags().StringVar(&predType, "type", "", "predicate type URI (e.g. https://slsa.dev/provenance/v1)")
	c.Flags().StringVar(&predPath, "predicate", "", "predicate JSON file")
	c.Flags().StringArrayVar(&digests, "subject-digest", nil, "a subject given by digest, NAME@ALG:VALUE or ALG:VALUE (repeatable)")
	return c
}

// subjectsOf hashes files and parses digest arguments into subjects.
func subjectsOf(files, digests []string) ([]attest.Subject, error) {
	var out []attest.Subject
	for _, f := range files {
		d, err := fileSHA256(f)
		if err != nil {
			return nil, err
		}
		out = append(out, attest.Subject{Name: filepath.Base(f), Digest: map[string]string{"sha256": d}})
	}
	for _, d := range digests {
		s, err := attest.ParseSubjectDigest(d)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading artifact: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
