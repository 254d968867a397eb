package policy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/pipeguard/pipeguard/internal/sign"
)

func TestCanonicalURI(t *testing.T) {
	tests := []struct{ in, uri, ref string }{
		{"github.com/acme/app", "github.com/acme/app", ""},
		{"https://github.com/acme/app", "github.com/acme/app", ""},
		{"git+https://github.com/acme/app.git", "github.com/acme/app", ""},
		{"git+https://github.com/acme/app@refs/heads/main", "github.com/acme/app", "refs/heads/main"},
		{"https://GitHub.com/acme/App/", "github.com/acme/App", ""},
		{"git@github.com:acme/app.git", "github.com/acme/app", ""},
		{"git+ssh://git@github.com/acme/app.git@v1.2.3", "github.com/acme/app", "v1.2.3"},
		{"https://user:pw@github.com/acme/app", "github.com/acme/app", ""},
		{"https://github.com/bazel-contrib/publish-to-bcr/.github/workflows/publish.yaml@refs/tags/v0.0.1",
			"github.com/bazel-contrib/publish-to-bcr/.github/workflows/publish.yaml", "refs/tags/v0.0.1"},
		{"git+file:///srv/repos/app", "/srv/repos/app", ""},
		{"https://evil.com/github.com/acme/app", "evil.com/github.com/acme/app", ""},
	}
	for _, tc := range tests {
		uri, ref := CanonicalURI(tc.in)
		if uri != tc.uri || ref != tc.ref {
			t.Errorf("CanonicalURI(%q) = %q, %q; want %q, %q", tc.in, uri, ref, tc.uri, tc.ref)
		}
	}
}

func TestMatchID(t *testing.T) {
	const id = "https://github.com/acme/builder/.github/workflows/b.yml"
	tests := []struct {
		signer  Signer
		claimed string
		want    bool
	}{
		{Signer{ID: id}, id, true},
		{Signer{ID: id}, "git+" + id, true},
		{Signer{ID: id}, id + "X", false},
		{Signer{ID: id}, "https://evil.com/" + strings.TrimPrefix(id, "https://"), false},
		{Signer{ID: id}, id + "@refs/tags/v1", false},
		{Signer{ID: id, Refs: []string{"refs/tags/v*"}}, id + "@refs/tags/v1", true},
		{Signer{ID: id, Refs: []string{"refs/tags/v*"}}, id + "@refs/heads/main", false},
		{Signer{ID: id + "@v1"}, id + "@refs/tags/v1", true},
		{Signer{ID: id + "@v1"}, id + "@refs/tags/v10", false},
		{Signer{ID: id + "@v1"}, id, false},
		{Signer{ID: id}, "", false},
	}
	for _, tc := range tests {
		if got := tc.signer.MatchID(tc.claimed); got != tc.want {
			t.Errorf("%+v MatchID(%q) = %v, want %v", tc.signer, tc.claimed, got, tc.want)
		}
	}
}

func TestRefMatches(t *testing.T) {
	tests := []struct {
		pattern, ref string
		want         bool
	}{
		{"refs/heads/main", "refs/heads/main", true},
		{"main", "refs/heads/main", true},
		{"v2.1.0", "refs/tags/v2.1.0", true},
		{"refs/tags/v*", "refs/tags/v1.0", true},
		{"refs/heads/main", "refs/heads/main-evil", false},
		{"refs/heads/main", "", false},
		{"main", "refs/remotes/main", false},
	}
	for _, tc := range tests {
		if got := RefMatches(tc.pattern, tc.ref); got != tc.want {
			t.Errorf("RefMatches(%q, %q) = %v, want %v", tc.pattern, tc.ref, got, tc.want)
		}
	}
}

func TestStarterParses(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pem, _ := sign.EncodePublicKey(&k.PublicKey)
	tests := []struct {
		name string
		o    StarterOptions
		ok   bool
	}{
		{"builder and source", StarterOptions{KeyPEM: string(pem), BuilderID: "https://ci.example/builder", Source: "github.com/acme/app"}, true},
		{"types only", StarterOptions{KeyPEM: string(pem), Types: []string{"https://example.com/scan/v1"}}, true},
		{"requires nothing", StarterOptions{KeyPEM: string(pem)}, false},
		{"bad key", StarterOptions{KeyPEM: "junk", BuilderID: "x"}, false},
		{"source with ref", StarterOptions{KeyPEM: string(pem), Source: "github.com/acme/app@main"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Starter(tc.o)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v\n%s", err, tc.ok, out)
			}
		})
	}
}

// FuzzParse: arbitrary policy bytes give an error or a valid policy, never
// a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte("apiVersion: pipeguard.dev/policy/v1\nsigners:\n  attestors:\n    - id: x\n      keys:\n        - pem: junk\nrequire:\n  attestations:\n    - type: t\n"))
	f.Add([]byte("apiVersion: pipeguard.dev/policy/v1\nrules:\n  - name: r\n    expr: 'subject.name == \"a\"'\n"))
	f.Add([]byte("{}"))
	f.Add([]byte("- [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			return
		}
		if p.APIVersion != APIVersion || p.Digest() == "" {
			t.Fatal("Parse accepted a policy without its version or digest")
		}
	})
}
