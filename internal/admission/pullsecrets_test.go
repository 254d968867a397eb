package admission_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pipeguard/pipeguard/internal/admission"
	"github.com/pipeguard/pipeguard/internal/oci"
	"github.com/pipeguard/pipeguard/internal/oci/ocitest"
)

type staticKeychain struct{ cfg authn.AuthConfig }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.FromConfig(k.cfg), nil
}

// apiServer serves Secrets the way the Kubernetes API does, to a bearer token.
func apiServer(t *testing.T, token string, secrets map[string]*corev1.Secret) *httptest.Server {
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, `{"kind":"Status","code":401}`, http.StatusUnauthorized)
			return
		}
		s, ok := secrets[r.URL.Path]
		if !ok {
			http.Error(w, `{"kind":"Status","code":404}`, http.StatusNotFound)
			return
		}
		_ = json.NewEncoder(w).Encode(s)
	}))
	t.Cleanup(ts.Close)
	return ts
}

// TestImagePullSecrets: an image in a private registry is verified with the
// credentials of the pod's imagePullSecrets, read from the API server;
// without them the registry refuses and so does the webhook.
func TestImagePullSecrets(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no ambient credentials
	ctx := context.Background()
	reg := ocitest.StartPrivate(t, "ci", "s3cret-pass")
	creds := authn.AuthConfig{Username: "ci", Password: "s3cret-pass"}
	d := ocitest.PushImage(t, reg.Ref("private/app:v1"), remote.WithAuth(authn.FromConfig(creds)))
	ref := reg.Ref("private/app@" + d.String())
	builder := ocitest.NewKey(t)
	pusher := oci.New(oci.WithInsecure(), oci.WithKeychain(staticKeychain{creds}))
	dr, _ := name.NewDigest(ref, name.Insecure)
	if _, err := pusher.Attach(ctx, dr, [][]byte{builder.Provenance(t, dr.Context().Name(), d)}); err != nil {
		t.Fatal(err)
	}

	dockercfg, _ := json.Marshal(map[string]any{"auths": map[string]any{reg.Host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte("ci:s3cret-pass"))}}})
	wrongcfg, _ := json.Marshal(map[string]any{"auths": map[string]any{reg.Host: map[string]string{"username": "ci", "password": "wrong"}}})
	api := apiServer(t, "sa-token", map[string]*corev1.Secret{
		"/api/v1/namespaces/apps/secrets/regcred": {ObjectMeta: metav1.ObjectMeta{Name: "regcred"}, Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: dockercfg}},
		"/api/v1/namespaces/apps/secrets/wrong":   {ObjectMeta: metav1.ObjectMeta{Name: "wrong"}, Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: wrongcfg}},
	})
	getter := &admission.APISecretGetter{Base: api.URL, Token: func() (string, error) { return "sa-token", nil }, Client: api.Client()}

	dir := t.TempDir()
	f := &fixture{dir: dir}
	pol := f.writePolicy(t, "policy.yaml", ocitest.Policy(builder, "", nil))
	s, err := admission.New(admission.Config{Policy: pol}, oci.New(oci.WithInsecure()), admission.PolicyLoader(), admission.WithSecretGetter(getter))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()

	// Refusals first: errors are never cached, a pass is.
	for _, tc := range []struct {
		secrets []string
		allowed bool
	}{
		{nil, false},
		{[]string{"missing"}, false},
		{[]string{"wrong"}, false},
		{[]string{"missing", "regcred"}, true},
	} {
		spec := podSpec(ref)
		for _, n := range tc.secrets {
			spec.ImagePullSecrets = append(spec.ImagePullSecrets, corev1.LocalObjectReference{Name: n})
		}
		obj, gvk, res := objectFor("Pod", spec)
		body, _ := review(t, gvk, res, "", "apps", admissionv1.Create, obj, nil)
		r := post(t, hs, "/validate", body)
		if r.Allowed != tc.allowed {
			t.Fatalf("pull secrets %v: allowed=%v want %v (%+v)", tc.secrets, r.Allowed, tc.allowed, r.Result)
		}
		if !tc.allowed && !strings.Contains(r.Result.Message, "could not be verified") {
			t.Fatalf("pull secrets %v: %s", tc.secrets, r.Result.Message)
		}
	}
}
