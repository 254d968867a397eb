package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pipeguard/pipeguard/internal/admission"
	"github.com/pipeguard/pipeguard/internal/verify"
)

func newWebhookCmd(g *globals) *cobra.Command {
	var (
		policyPath, certPath, keyPath, listen string
		trustedRoot, ownNamespace, mode       string
		nsPolicies, nsModes, exempt           []string
		allowTags, failOpen                   bool
		timeout, cacheTTL, reloadEvery        time.Duration
		rf                                    registryFlags
	)
	c := &cobra.Command{
		Use:   "webhook --policy P --tls-cert C --tls-key K [--listen :8443]",
		Short: "Serve the Kubernetes admission webhook (POST /validate, /mutate; /healthz, /metrics)",
		Long: "webhook answers admission.k8s.io/v1 AdmissionReviews for Pods (and pods/ephemeralcontainers) and every kind\n" +
			"with a pod template (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob). Every image must be\n" +
			"pinned to a digest (POST /mutate pins tags to the digests it verified) and pass the namespace's policy.\n" +
			"Errors and timeouts refuse (fail closed). Policy files are re-read when they change; the TLS pair too.\n" +
			"See docs/deploy-gate.md.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if policyPath == "" {
				return errored(errors.New("--policy is required"))
			}
			if certPath == "" || keyPath == "" {
				return errored(errors.New("--tls-cert and --tls-key are required: the API server only calls webhooks over TLS"))
			}
			m, err := admission.ParseMode(mode)
			if err != nil {
				return errored(err)
			}
			cfg := admission.Config{
				Policy: policyPath, Mode: m, AllowTags: allowTags, Timeout: timeout,
				CacheTTL: cacheTTL, FailOpen: failOpen,
				NamespacePolicies: map[string]string{}, NamespaceModes: map[string]admission.Mode{},
				Exempt: append([]string{"kube-system", ownNamespace}, exempt...),
			}
			for _, kv := range nsPolicies {
				ns, p, ok := strings.Cut(kv, "=")
				if !ok || ns == "" || p == "" {
					return errored(fmt.Errorf("--namespace-policy %q: want NAMESPACE=FILE", kv))
				}
				cfg.NamespacePolicies[ns] = p
			}
			for _, kv := range nsModes {
				ns, v, ok := strings.Cut(kv, "=")
				if !ok || ns == "" {
					return errored(fmt.Errorf("--namespace-mode %q: want NAMESPACE=MODE", kv))
				}
				nm, err := admission.ParseMode(v)
				if err != nil {
					return errored(fmt.Errorf("--namespace-mode %s: %w", ns, err))
				}
				cfg.NamespaceModes[ns] = nm
			}
			tf := trustFlags{trustedRoot: trustedRoot}
			tr, err := tf.root(g)
			if err != nil {
				return errored(err)
			}
			opts := []admission.Option{admission.WithLogger(g.log)}
			if sg, err := admission.InClusterSecretGetter(); err == nil {
				opts = append(opts, admission.WithSecretGetter(sg))
			} else {
				g.log.Info("imagePullSecrets will not be read", "reason", err)
			}
			srv, err := admission.New(cfg, rf.client(), admission.PolicyLoader(verify.WithTrustedRoot(tr)), opts...)
			if err != nil {
				return errored(err)
			}
			certs, err := admission.NewCertReloader(certPath, keyPath)
			if err != nil {
				return errored(err)
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return errored(fmt.Errorf("listening on %s: %w", listen, err))
			}
			hs := &http.Server{
				Handler:           srv.Handler(),
				TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.GetCertificate},
				ReadHeaderTimeout: 5 * time.Second,
				ReadTimeout:       30 * time.Second,
				WriteTimeout:      35 * time.Second,
				IdleTimeout:       90 * time.Second,
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			go srv.WatchPolicies(ctx, reloadEvery)
			go func() {
				<-ctx.Done()
				sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
				defer c()
				_ = hs.Shutdown(sctx)
			}()
			g.log.Info("pipeguard webhook listening", "addr", ln.Addr().String(), "mode", string(m))
			if err := hs.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return errored(err)
			}
			return nil
		},
	}
	c.Flags().StringVar(&policyPath, "policy", "", "policy file for namespaces without their own")
	c.Flags().StringArrayVar(&nsPolicies, "namespace-policy", nil, "NAMESPACE=FILE: a namespace's own policy (repeatable)")
	c.Flags().StringVar(&certPath, "tls-cert", "", "TLS certificate (PEM); re-read when it changes")
	c.Flags().StringVar(&keyPath, "tls-key", "", "TLS private key (PEM); re-read when it changes")
	c.Flags().StringVar(&listen, "listen", ":8443", "address to serve on")
	c.Flags().StringVar(&mode, "mode", string(admission.Enforce), "enforce (deny), warn (admit with a warning) or audit (admit, record only)")
	c.Flags().StringArrayVar(&nsModes, "namespace-mode", nil, "NAMESPACE=MODE: a namespace's own mode (repeatable)")
	c.Flags().StringArrayVar(&exempt, "exempt-namespace", nil, "namespace admitted without checks, besides kube-system and the webhook's own (repeatable)")
	c.Flags().StringVar(&ownNamespace, "namespace", envOr("POD_NAMESPACE", "pipeguard-system"), "the webhook's own namespace (exempt)")
	c.Flags().BoolVar(&allowTags, "allow-tags", false, "admit images referenced by tag on /validate (default: a digest is required)")
	c.Flags().BoolVar(&failOpen, "fail-open", false, "admit when verification errors or times out (default: refuse)")
	c.Flags().DurationVar(&timeout, "timeout", admission.DefaultTimeout, "internal deadline per review; keep it below the webhook's timeoutSeconds")
	c.Flags().DurationVar(&cacheTTL, "cache-ttl", admission.DefaultCacheTTL, "how long a verdict per image digest is reused (negative: no cache)")
	c.Flags().DurationVar(&reloadEvery, "reload-interval", 5*time.Second, "how often policy files are checked for changes")
	c.Flags().StringVar(&trustedRoot, "trusted-root", "", "Sigstore trusted root for keyless signers when a policy names none")
	rf.register(c)
	c.AddCommand(newWebhookReportCmd(g))
	return c
}

func newWebhookReportCmd(g *globals) *cobra.Command {
	var (
		policyPath, input, output, trustedRoot, ownNamespace string
		nsPolicies, exempt                                   []string
		rf                                                   registryFlags
	)
	c := &cobra.Command{
		Use:   "report --policy P [-f workloads.json]",
		Short: "List running workloads the webhook would refuse (input: kubectl get ... -A -o json); exit 1 if any",
		Long: "report judges every Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job and CronJob in a Kubernetes\n" +
			"List as the webhook would in enforce mode (tags resolved as the mutating webhook pins them), so that a\n" +
			"cluster running in warn mode can see what enforce would refuse. Controller-owned Pods, ReplicaSets and\n" +
			"Jobs are judged through their owner. Example:\n" +
			"  kubectl get deployments,statefulsets,daemonsets,cronjobs,pods -A -o json | pipeguard webhook report --policy policy.yaml",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if policyPath == "" {
				return errored(errors.New("--policy is required"))
			}
			if output != "text" && output != "json" {
				return errored(fmt.Errorf("unknown --output %q (want text or json)", output))
			}
			cfg := admission.Config{Policy: policyPath, Mode: admission.Enforce, NamespacePolicies: map[string]string{},
				Exempt: append([]string{"kube-system", ownNamespace}, exempt...)}
			for _, kv := range nsPolicies {
				ns, p, ok := strings.Cut(kv, "=")
				if !ok || ns == "" || p == "" {
					return errored(fmt.Errorf("--namespace-policy %q: want NAMESPACE=FILE", kv))
				}
				cfg.NamespacePolicies[ns] = p
			}
			tf := trustFlags{trustedRoot: trustedRoot}
			tr, err := tf.root(g)
			if err != nil {
				return errored(err)
			}
			srv, err := admission.New(cfg, rf.client(), admission.PolicyLoader(verify.WithTrustedRoot(tr)), admission.WithLogger(g.log))
			if err != nil {
				return errored(err)
			}
			var data []byte
			if input == "-" {
				data, err = io.ReadAll(io.LimitReader(g.stdin, 256<<20))
			} else {
				data, err = readLimited(input, 256<<20)
			}
			if err != nil {
				return errored(err)
			}
			rows, err := srv.Report(cmd.Context(), data)
			if err != nil {
				return errored(err)
			}
			refused := 0
			for _, r := range rows {
				if r.Refused {
					refused++
				}
			}
			if output == "json" {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rows); err != nil {
					return errored(err)
				}
			} else {
				for _, r := range rows {
					verdict := "ok     "
					if r.Refused {
						verdict = "REFUSE "
					}
					fmt.Fprintf(g.stdout, "%s%s %s/%s", verdict, r.Kind, r.Namespace, r.Name)
					if r.Reason != "" {
						fmt.Fprintf(g.stdout, ": %s", r.Reason)
					}
					fmt.Fprintln(g.stdout)
				}
				fmt.Fprintf(g.stdout, "%d workload(s) judged, %d would be refused\n", len(rows), refused)
			}
			if refused > 0 {
				return failed(fmt.Errorf("%d workload(s) would be refused in enforce mode", refused))
			}
			return nil
		},
	}
	c.Flags().StringVar(&policyPath, "policy", "", "policy file for namespaces without their own")
	c.Flags().StringArrayVar(&nsPolicies, "namespace-policy", nil, "NAMESPACE=FILE: a namespace's own policy (repeatable)")
	c.Flags().StringArrayVar(&exempt, "exempt-namespace", nil, "namespace admitted without checks, besides kube-system and the webhook's own (repeatable)")
	c.Flags().StringVar(&ownNamespace, "namespace", envOr("POD_NAMESPACE", "pipeguard-system"), "the webhook's own namespace (exempt)")
	c.Flags().StringVarP(&input, "file", "f", "-", "the workload list (JSON); - for stdin")
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	c.Flags().StringVar(&trustedRoot, "trusted-root", "", "Sigstore trusted root for keyless signers when a policy names none")
	rf.register(c)
	return c
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
