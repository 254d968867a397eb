package pipeline

import (
	"os"
	"strings"
	"testing"
)

const validConfig = `apiVersion: pipeguard.dev/pipeline/v1
build:
  command: ["sh", "-c", "make"]
  artifacts: ["out/*"]
verify:
  policy: policy.yaml
`

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string
	}{
		{"valid", validConfig, ""},
		{"unknown key", validConfig + "extra: 1\n", "field extra not found"},
		{"unknown nested key", strings.Replace(validConfig, "  artifacts:", "  artefacts:", 1), "artefacts"},
		{"wrong apiVersion", strings.Replace(validConfig, "pipeline/v1", "pipeline/v2", 1), "apiVersion"},
		{"no command", strings.Replace(validConfig, `  command: ["sh", "-c", "make"]`+"\n", "", 1), "build.command"},
		{"no artifacts", strings.Replace(validConfig, `  artifacts: ["out/*"]`+"\n", "", 1), "build.artifacts"},
		{"escaping artifact", strings.Replace(validConfig, `"out/*"`, `"../x"`, 1), "without '..'"},
		{"absolute artifact", strings.Replace(validConfig, `"out/*"`, `"/etc/passwd"`, 1), "relative"},
		{"bad glob", strings.Replace(validConfig, `"out/*"`, `"out/["`, 1), "syntax"},
		{"no policy", strings.Replace(validConfig, "  policy: policy.yaml\n", "  homeKeyAs: k.pub\n", 1), "verify.policy"},
		{"escaping policy", strings.Replace(validConfig, "policy.yaml", "../policy.yaml", 1), "verify.policy"},
		{"home key with a path", validConfig + "  homeKeyAs: ../k.pub\n", "plain file name"},
		{"home key is the policy", validConfig + "  homeKeyAs: policy.yaml\n", "policy file itself"},
		{"bad env", strings.Replace(validConfig, "verify:", "  env: [\"NOEQUALS\"]\nverify:", 1), "NAME=VALUE"},
		{"two documents", validConfig + "---\n" + validConfig, "more than one"},
		{"not yaml", "{[", "decoding"},
		{"empty", "", "decoding"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.yaml))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !c.HermeticBuild() {
					t.Fatal("hermetic must default to true")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestExampleConfigParses(t *testing.T) {
	data, err := os.ReadFile("../../examples/hello/" + ConfigFile)
	if err != nil {
		t.Skip("examples/hello not found beside this package")
	}
	if _, err := ParseConfig(data); err != nil {
		t.Fatal(err)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(validConfig))
	f.Add([]byte(validConfig + "  homeKeyAs: k.pub\n"))
	f.Add([]byte("apiVersion: pipeguard.dev/pipeline/v1\nbuild: {command: [a], artifacts: ['*'], hermetic: false, fetch: 'go mod download', env: [A=b]}\nverify: {policy: p.yaml}\n"))
	f.Add([]byte("build: !!binary aGVsbG8=\n"))
	f.Add([]byte("&a [*a, *a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		// Whatever parses must satisfy every invariant the pipeline
		// relies on.
		if c.APIVersion != ConfigAPIVersion || len(c.Build.Command) == 0 || len(c.Build.Artifacts) == 0 || c.Verify.Policy == "" {
			t.Fatalf("accepted an incomplete config: %+v", c)
		}
		for _, a := range append([]string{c.Verify.Policy}, c.Build.Artifacts...) {
			if strings.HasPrefix(a, "/") || strings.Contains("/"+a+"/", "/../") {
				t.Fatalf("accepted an escaping path %q", a)
			}
		}
	})
}
