package main

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pipeguard/pipeguard/internal/attest"
	"github.com/pipeguard/pipeguard/internal/policy"
	"github.com/pipeguard/pipeguard/internal/verify"
)

func newVerifyCmd(g *globals) *cobra.Command {
	var (
		policyPath, subjectDigest, trustedRoot, output string
		vsaOut, verifierID, resourceURI                string
		bundles                                        []string
		sf                                             signerFlags
	)
	c := &cobra.Command{
		Use:   "verify (FILE | --subject-digest ALG:VALUE) --policy POLICY.yaml --bundle B [--bundle B2 ...]",
		Short: "Judge an artifact against a policy over its attestations (exit 0 pass, 1 refused, 2 error)",
		Long: "verify gathers the attestations about the subject from the given files, checks each signature against the\n" +
			"signers the policy trusts, and evaluates the policy. On failure it prints every reason, naming the attestation\n" +
			"and the rule. On pass it can write a signed SLSA Verification Summary Attestation (--vsa-out).",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if policyPath == "" {
				return errored(errors.New("--policy is required"))
			}
			if len(bundles) == 0 {
				return errored(errors.New("give at least one --bundle"))
			}
			if (len(args) == 1) == (subjectDigest != "") {
				return errored(errors.New("give either FILE or --subject-digest"))
			}
			subject, err := verifySubject(args, subjectDigest)
			if err != nil {
				return errored(err)
			}
			v, err := policyVerifier(g, policyPath, trustedRoot)
			if err != nil {
				return err
			}
			var inputs []verify.Input
			for _, b := range bundles {
				data, err := readLimited(b, attest.MaxItemSize*4)
				if err != nil {
					return errored(err)
				}
				inputs = append(inputs, verify.Input{Name: b, Data: data})
			}
			report, err := v.VerifyInputs(cmd.Context(), subject, inputs)
			if err != nil {
				return errored(err)
			}
			if err := printReport(g.stdout, output, report); err != nil {
				return errored(err)
			}
			if !report.Passed {
				return failed(fmt.Errorf("%s refused by policy %s (%d reasons)", subject, policyPath, len(report.Failures)))
			}
			if vsaOut == "" {
				return nil
			}
			s, err := sf.signer(cmd.Context(), g)
			if err != nil {
				return err
			}
			b, err := verify.SignVSA(cmd.Context(), s, report, verifierID, resourceURI)
			if err != nil {
				return errored(err)
			}
			if err := attest.WriteBundle(vsaOut, b); err != nil {
				return errored(err)
			}
			fmt.Fprintf(g.stderr, "wrote VSA %s\n", vsaOut)
			return nil
		},
	}
	c.Flags().StringVar(&policyPath, "policy", "", "policy file (YAML)")
	c.Flags().StringArrayVar(&bundles, "bundle", nil, "attestation file: Sigstore bundle, DSSE envelope or .intoto.jsonl (repeatable)")
	c.Flags().StringVar(&subjectDigest, "subject-digest", "", "judge a subject given by digest (ALG:VALUE, e.g. sha256:… or gce_image_id:…)")
	c.Flags().StringVar(&trustedRoot, "trusted-root", "", "Sigstore trusted root for keyless signers when the policy names none")
	c.Flags().StringVarP(&output, "output", "o", "text", "report format: text or json")
	c.Flags().StringVar(&vsaOut, "vsa-out", "", "on pass, write a signed VSA bundle here")
	c.Flags().StringVar(&verifierID, "verifier-id", verify.DefaultVerifierID, "verifier id written into the VSA")
	c.Flags().StringVar(&resourceURI, "resource-uri", "", "resourceUri written into the VSA (default: the subject's name)")
	sf.register(c)
	c.Flags().Lookup("key").Usage = "private key that signs the VSA (default: the home's signing key)"
	// subcommands
	c.AddCommand(newVerifyImageCmd(g))
	return c
}

// policyVerifier loads a policy and builds its verifier, with the Sigstore
// trusted root from --trusted-root, else the home's, else the embedded one
// (a trustedRoot named in the policy file wins over all three).
func policyVerifier(g *globals, policyPath, trustedRoot string) (*verify.Verifier, error) {
	pol, err := policy.Load(policyPath)
	if err != nil {
		return nil, errored(err)
	}
	tf := trustFlags{trustedRoot: trustedRoot}
	tr, err := tf.root(g)
	if err != nil {
		return nil, errored(err)
	}
	v, err := verify.New(pol, verify.WithTrustedRoot(tr))
	if err != nil {
		return nil, errored(err)
	}
	return v, nil
}

// verifySubject hashes FILE (sha256 and sha512, since attestations use
// either) or parses --subject-digest.
func verifySubject(args []string, digest string) (verify.Subject, error) {
	if digest != "" {
		s, err := attest.ParseSubjectDigest(digest)
		if err != nil {
			return verify.Subject{}, err
		}
		return verify.Subject{Name: s.Name, Digests: s.Digest}, nil
	}
	f, err := os.Open(args[0])
	if err != nil {
		return verify.Subject{}, fmt.Errorf("reading artifact: %w", err)
	}
	defer f.Close()
	h256, h512 := sha256.New(), sha512.New()
	if _, err := io.Copy(io.MultiWriter(h256, h512), f); err != nil {
		return verify.Subject{}, fmt.Errorf("hashing %s: %w", args[0], err)
	}
	return verify.Subject{Name: args[0], Digests: map[string]string{
		"sha256": hex.EncodeToString(h256.Sum(nil)),
		"sha512": hex.EncodeToString(h512.Sum(nil)),
	}}, nil
}

func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return data, nil
}

func printReport(w io.Writer, format string, r *verify.Report) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "text", "":
	default:
		return fmt.Errorf("unknown output format %q (text or json)", format)
	}
	if r.Passed {
		how := fmt.Sprintf("%d attestation(s)", len(r.Evidence))
		if r.ByVSA {
			how = "a trusted VSA"
		}
		fmt.Fprintf(w, "PASS %s: verified by %s", r.Subject, how)
		if len(r.VerifiedLevels) > 0 {
			fmt.Fprintf(w, ", levels %s", strings.Join(r.VerifiedLevels, ", "))
		}
		fmt.Fprintln(w)
		for _, e := range r.Evidence {
			t := ""
			if !e.Time.IsZero() {
				t = fmt.Sprintf(", made %s (%s time)", e.Time.UTC().Format("2006-01-02T15:04:05Z"), e.TimeSource)
			}
			fmt.Fprintf(w, "  ok  %s: %s signed by %s %s%s\n", e.Name, e.PredicateType, e.Role, e.Signer, t)
		}
		return nil
	}
	fmt.Fprintf(w, "FAIL %s: %d reason(s)\n", r.Subject, len(r.Failures))
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  - %s\n", f)
	}
	return nil
}

func newPolicyCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "policy", Short: "Write and check policy files"}
	var trustKey, builderID, source string
	var types []string
	initCmd := &cobra.Command{
		Use:   "init --trust-key PUB.pem [--builder-id ID] [--source URI] [--require-type PREDICATE_TYPE]...",
		Short: "Print a starter policy that verify accepts as is",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if trustKey == "" {
				return errored(errors.New("--trust-key is required"))
			}
			pem, err := os.ReadFile(trustKey)
			if err != nil {
				return errored(fmt.Errorf("reading key: %w", err))
			}
			text, err := policy.Starter(policy.StarterOptions{KeyPEM: string(pem), BuilderID: builderID, Source: source, Types: types})
			if err != nil {
				return errored(err)
			}
			_, err = io.WriteString(g.stdout, text)
			return err
		},
	}
	initCmd.Flags().StringVar(&trustKey, "trust-key", "", "public key (PEM) to trust")
	initCmd.Flags().StringVar(&builderID, "builder-id", "", "builder id the key signs provenance as (requires SLSA provenance, build level 3)")
	initCmd.Flags().StringVar(&source, "source", "", "expected source repository (e.g. github.com/acme/app)")
	initCmd.Flags().StringArrayVar(&types, "require-type", nil, "require an attestation of this predicate type (repeatable)")

	check := &cobra.Command{
		Use:   "check POLICY.yaml",
		Short: "Validate a policy file (exit 0 valid, 2 invalid)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := policy.Load(args[0])
			if err != nil {
				return errored(err)
			}
			fmt.Fprintf(g.stdout, "%s: valid (sha256 %s)\n", args[0], p.Digest())
			return nil
		},
	}
	c.AddCommand(initCmd, check)
	return c
}
