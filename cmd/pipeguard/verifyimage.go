package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pipeguard/pipeguard/internal/attest"
	"github.com/pipeguard/pipeguard/internal/oci"
	"github.com/pipeguard/pipeguard/internal/verify"
)

func newVerifyImageCmd(g *globals) *cobra.Command {
	var (
		policyPath, trustedRoot, output string
		vsaOut, verifierID, resourceURI string
		attachVSA                       bool
		rf                              registryFlags
		sf                              signerFlags
	)
	c := &cobra.Command{
		Use:   "image IMAGE_REF --policy POLICY.yaml",
		Short: "Judge a container image in a registry against a policy (exit 0 pass, 1 refused, 2 error)",
		Long: "verify image normalises IMAGE_REF (nginx is docker.io/library/nginx:latest), resolves it to a digest\n" +
			"(for a multi-platform index: the index digest and each platform's), finds the attestations attached as\n" +
			"OCI 1.1 referrers or in cosign's tag layout, and evaluates the policy. The index passes on its own\n" +
			"attestations, or when every platform passes on its own. On pass it can write a signed VSA (--vsa-out)\n" +
			"and attach it to the image (--attach-vsa), so that the admission webhook checks one small attestation.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if policyPath == "" {
				return errored(errors.New("--policy is required"))
			}
			if output != "text" && output != "json" {
				return errored(fmt.Errorf("unknown --output %q (want text or json)", output))
			}
			v, err := policyVerifier(g, policyPath, trustedRoot)
			if err != nil {
				return err
			}
			cl := rf.client()
			ref, err := cl.ParseReference(args[0])
			if err != nil {
				return errored(err)
			}
			res, err := cl.VerifyImage(cmd.Context(), ref, oci.PolicyJudge(v))
			if err != nil {
				return errored(err)
			}
			if err := printImageResult(g.stdout, output, res); err != nil {
				return errored(err)
			}
			if !res.Passed {
				return failed(fmt.Errorf("%s refused by policy %s", res.DigestString(), policyPath))
			}
			if vsaOut == "" && !attachVSA {
				return nil
			}
			report, err := oci.VSAReport(res)
			if err != nil {
				return errored(err)
			}
			s, err := sf.signer(cmd.Context(), g)
			if err != nil {
				return err
			}
			if resourceURI == "" {
				resourceURI = res.DigestString()
			}
			b, err := verify.SignVSA(cmd.Context(), s, report, verifierID, resourceURI)
			if err != nil {
				return errored(err)
			}
			if vsaOut != "" {
				if err := attest.WriteBundle(vsaOut, b); err != nil {
					return errored(err)
				}
				fmt.Fprintf(g.stderr, "wrote VSA %s\n", vsaOut)
			}
			if attachVSA {
				data, err := attest.MarshalBundle(b)
				if err != nil {
					return errored(err)
				}
				if _, err := cl.Attach(cmd.Context(), res.Resolved.DigestRef(), [][]byte{data}); err != nil {
					return errored(err)
				}
				fmt.Fprintf(g.stderr, "attached VSA to %s\n", res.DigestString())
			}
			return nil
		},
	}
	c.Flags().StringVar(&policyPath, "policy", "", "policy file (YAML)")
	c.Flags().StringVar(&trustedRoot, "trusted-root", "", "Sigstore trusted root for keyless signers when the policy names none")
	c.Flags().StringVarP(&output, "output", "o", "text", "report format: text or json")
	c.Flags().StringVar(&vsaOut, "vsa-out", "", "on pass, write a signed VSA bundle here")
	c.Flags().BoolVar(&attachVSA, "attach-vsa", false, "on pass, attach the signed VSA to the image")
	c.Flags().StringVar(&verifierID, "verifier-id", verify.DefaultVerifierID, "verifier id written into the VSA")
	c.Flags().StringVar(&resourceURI, "resource-uri", "", "resourceUri written into the VSA (default: the image's digest reference)")
	rf.register(c)
	sf.register(c)
	c.Flags().Lookup("key").Usage = "private key that signs the VSA (default: the home's signing key)"
	return c
}

type imageReportJSON struct {
	Image     string             `json:"image"`
	Digest    string             `json:"digest"`
	Index     bool               `json:"index"`
	Passed    bool               `json:"passed"`
	Platforms []oci.Platform     `json:"platforms,omitempty"`
	Results   []digestReportJSON `json:"results"`
}

type digestReportJSON struct {
	Digest      string         `json:"digest"`
	Platform    string         `json:"platform,omitempty"`
	Attachments int            `json:"attachments"`
	Passed      bool           `json:"passed"`
	Report      *verify.Report `json:"report,omitempty"`
	Failures    []string       `json:"failures,omitempty"`
}

func printImageResult(w io.Writer, format string, res *oci.ImageResult) error {
	if format == "json" {
		out := imageReportJSON{Image: res.Resolved.Ref.Name(), Digest: res.Resolved.Digest.String(), Index: res.Resolved.Index, Passed: res.Passed, Platforms: res.Resolved.Platforms}
		for _, d := range res.Results {
			dj := digestReportJSON{Digest: d.Digest.String(), Platform: d.Platform, Attachments: d.Attachments, Passed: d.Verdict.Passed}
			dj.Report, _ = d.Verdict.Evidence.(*verify.Report)
			for _, f := range d.Verdict.Failures {
				dj.Failures = append(dj.Failures, f.String())
			}
			out.Results = append(out.Results, dj)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	verdict := "PASS"
	if !res.Passed {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "%s %s\n", verdict, res.DigestString())
	if res.Resolved.Index {
		for _, p := range res.Resolved.Platforms {
			fmt.Fprintf(w, "  index platform %s %s\n", p.Platform, p.Digest)
		}
	}
	for _, d := range res.Results {
		where := "digest"
		if d.Platform != "" {
			where = d.Platform
		}
		status := "passed"
		if !d.Verdict.Passed {
			status = "refused"
		}
		levels := ""
		if len(d.Verdict.VerifiedLevels) > 0 {
			levels = " [" + strings.Join(d.Verdict.VerifiedLevels, ", ") + "]"
		}
		fmt.Fprintf(w, "  %s %s: %s, %d attachment(s)%s\n", where, d.Digest, status, d.Attachments, levels)
		for _, f := range d.Verdict.Failures {
			fmt.Fprintf(w, "    - %s\n", f)
		}
	}
	return nil
}
