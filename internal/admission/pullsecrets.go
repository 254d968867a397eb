package admission

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	corev1 "k8s.io/api/core/v1"
)

// SecretGetter reads a Secret from the cluster. The webhook uses it for a
// pod's imagePullSecrets.
type SecretGetter interface {
	GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}

// APISecretGetter reads Secrets from the Kubernetes API with a bearer token.
type APISecretGetter struct {
	Base   string // https://host:port
	Token  func() (string, error)
	Client *http.Client
}

const saDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// InClusterSecretGetter uses the pod's service account. It returns an error
// when not running in a cluster.
func InClusterSecretGetter() (*APISecretGetter, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, errors.New("not running in a Kubernetes cluster (KUBERNETES_SERVICE_HOST unset)")
	}
	ca, err := os.ReadFile(saDir + "/ca.crt")
	if err != nil {
		return nil, fmt.Errorf("reading the cluster CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, errors.New("no certificates in the cluster CA file")
	}
	return &APISecretGetter{
		Base: "https://" + net.JoinHostPort(host, port),
		// The token file is rotated by the kubelet; read it per call.
		Token: func() (string, error) {
			b, err := os.ReadFile(saDir + "/token")
			return strings.TrimSpace(string(b)), err
		},
		Client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}},
	}, nil
}

// GetSecret implements SecretGetter.
func (g *APISecretGetter) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	u := g.Base + "/api/v1/namespaces/" + url.PathEscape(namespace) + "/secrets/" + url.PathEscape(name)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	tok, err := g.Token()
	if err != nil {
		return nil, fmt.Errorf("reading service account token: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	resp, err := g.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading secret %s/%s: %w", namespace, name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading secret %s/%s: %w", namespace, name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading secret %s/%s: HTTP %d", namespace, name, resp.StatusCode)
	}
	var s corev1.Secret
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("decoding secret %s/%s: %w", namespace, name, err)
	}
	return &s, nil
}

// dockerConfig is the content of a kubernetes.io/dockerconfigjson secret
// (or a legacy .dockercfg, which is the inner map alone).
type dockerConfig struct {
	Auths map[string]dockerAuth `json:"auths"`
}

type dockerAuth struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Auth     string `json:"auth"`
}

// pullSecretKeychain resolves registry credentials from pull secrets.
type pullSecretKeychain struct {
	auths map[string]authn.AuthConfig // registry host -> credentials
}

// keychainFromSecrets builds a keychain from docker config secrets.
// Secrets of other types are ignored, as the kubelet ignores them.
func keychainFromSecrets(secrets []*corev1.Secret) (*pullSecretKeychain, error) {
	k := &pullSecretKeychain{auths: map[string]authn.AuthConfig{}}
	for _, s := range secrets {
		var cfg dockerConfig
		switch {
		case s.Type == corev1.SecretTypeDockerConfigJson || len(s.Data[corev1.DockerConfigJsonKey]) > 0:
			if err := json.Unmarshal(s.Data[corev1.DockerConfigJsonKey], &cfg); err != nil {
				return nil, fmt.Errorf("pull secret %s: decoding %s: %w", s.Name, corev1.DockerConfigJsonKey, err)
			}
		case s.Type == corev1.SecretTypeDockercfg || len(s.Data[corev1.DockerConfigKey]) > 0:
			if err := json.Unmarshal(s.Data[corev1.DockerConfigKey], &cfg.Auths); err != nil {
				return nil, fmt.Errorf("pull secret %s: decoding %s: %w", s.Name, corev1.DockerConfigKey, err)
			}
		default:
			continue
		}
		for host, a := range cfg.Auths {
			ac := authn.AuthConfig{Username: a.Username, Password: a.Password}
			if a.Auth != "" && ac.Username == "" {
				raw, err := base64.StdEncoding.DecodeString(a.Auth)
				if err != nil {
					return nil, fmt.Errorf("pull secret %s: bad auth for %s", s.Name, registryHost(host))
				}
				user, pass, ok := strings.Cut(string(raw), ":")
				if !ok {
					return nil, fmt.Errorf("pull secret %s: bad auth for %s", s.Name, registryHost(host))
				}
				ac.Username, ac.Password = user, pass
			}
			h := registryHost(host)
			if _, dup := k.auths[h]; !dup { // the first secret listed wins, as in the kubelet
				k.auths[h] = ac
			}
		}
	}
	return k, nil
}

// registryHost reduces a docker config key ("https://index.docker.io/v1/",
// "registry.example:5000") to the host go-containerregistry reports.
func registryHost(key string) string {
	h := key
	if i := strings.Index(h, "://"); i >= 0 {
		h = h[i+3:]
	}
	if i := strings.IndexByte(h, '/'); i >= 0 {
		h = h[:i]
	}
	switch h {
	case "docker.io", "registry-1.docker.io":
		h = "index.docker.io"
	}
	return h
}

// Resolve implements authn.Keychain.
func (k *pullSecretKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if a, ok := k.auths[r.RegistryStr()]; ok {
		return authn.FromConfig(a), nil
	}
	return authn.Anonymous, nil
}
