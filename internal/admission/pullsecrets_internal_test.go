package admission

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestKeychainFromSecrets(t *testing.T) {
	secrets := []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "hub"}, Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{
			corev1.DockerConfigJsonKey: []byte(`{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"}}}`)}},
		{ObjectMeta: metav1.ObjectMeta{Name: "legacy"}, Type: corev1.SecretTypeDockercfg, Data: map[string][]byte{
			corev1.DockerConfigKey: []byte(`{"registry.example:5000":{"username":"a","password":"b"}}`)}},
		{ObjectMeta: metav1.ObjectMeta{Name: "second"}, Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{
			corev1.DockerConfigJsonKey: []byte(`{"auths":{"registry.example:5000":{"username":"late","password":"x"}}}`)}},
		{ObjectMeta: metav1.ObjectMeta{Name: "opaque"}, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"x": []byte("y")}},
	}
	kc, err := keychainFromSecrets(secrets)
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{
		"nginx":                       "user:pass",
		"registry.example:5000/app:1": "a:b", // first secret listed wins
		"ghcr.io/o/r:1":               "",
	} {
		r, _ := name.ParseReference(ref)
		a, err := kc.Resolve(r.Context())
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := a.Authorization()
		got := ""
		if a != authn.Anonymous {
			got = cfg.Username + ":" + cfg.Password
		}
		if got != want {
			t.Errorf("%s: credentials %q, want %q", ref, got, want)
		}
	}
	bad := []*corev1.Secret{{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"r":{"auth":"!!"}}}`)}}}
	if _, err := keychainFromSecrets(bad); err == nil {
		t.Error("undecodable auth accepted")
	}
}

func FuzzKeychainFromSecrets(f *testing.F) {
	f.Add([]byte(`{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"}}}`), false)
	f.Add([]byte(`{"registry.example:5000":{"username":"a","password":"b"}}`), true)
	f.Add([]byte(`{"auths":{"r":{"auth":"bm9jb2xvbg=="}}}`), false)
	f.Fuzz(func(t *testing.T, data []byte, legacy bool) {
		s := &corev1.Secret{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: data}}
		if legacy {
			s = &corev1.Secret{Type: corev1.SecretTypeDockercfg, Data: map[string][]byte{corev1.DockerConfigKey: data}}
		}
		kc, err := keychainFromSecrets([]*corev1.Secret{s})
		if err != nil {
			return
		}
		for h := range kc.auths {
			if h != registryHost(h) {
				t.Fatalf("stored host %q is not normalised", h)
			}
		}
	})
}
