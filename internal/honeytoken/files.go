package honeytoken

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

func encodeStd(b []byte) string    { return base64.StdEncoding.EncodeToString(b) }
func encodeRawURL(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// File is a planted file: its conventional name and full content.
type File struct {
	Name    string `json:"name"`
	Content string `json:"content"`
}

// FileFor renders the convincing file a token of this type is planted as,
// with ordinary context around the credential. Types that are planted as a
// bare URL or hostname have no file.
func FileFor(t *Token) (File, bool) {
	m := &t.Material
	switch t.Type {
	case TypeAWS:
		var b strings.Builder
		b.WriteString("[default]\n")
		fmt.Fprintf(&b, "aws_access_key_id = %s\n", m.AccessKeyID)
		if m.SecretKey != "" {
			fmt.Fprintf(&b, "aws_secret_access_key = %s\n", m.SecretKey)
		}
		fmt.Fprintf(&b, "region = %s\n", m.Region)
		if m.Endpoint != "" {
			fmt.Fprintf(&b, "endpoint_url = %s\n", m.Endpoint)
		}
		b.WriteString("output = json\n")
		return File{Name: "credentials", Content: b.String()}, true
	case TypeNPM:
		u, _ := url.Parse(m.Endpoint)
		nerf := "//" + u.Host + u.Path
		return File{Name: ".npmrc", Content: fmt.Sprintf("registry=%s\n%s:_authToken=%s\nfund=false\naudit=false\n", m.Endpoint, nerf, m.Value)}, true
	case TypeDocker:
		cfg := map[string]any{
			"auths": map[string]any{
				m.Endpoint: map[string]string{"auth": basicAuth(m.Username, m.Password)},
			},
			"currentContext": "default",
		}
		data, _ := json.MarshalIndent(cfg, "", "\t")
		return File{Name: "config.json", Content: string(data) + "\n"}, true
	case TypeKubeconfig:
		user := "deploy-bot@" + m.Cluster
		ctx := m.Cluster
		// Real kubeconfigs embed the cluster CA; decoys made without one
		// (a registry with no CA) skip verification instead.
		trust := "insecure-skip-tls-verify: true"
		if m.CAData != "" {
			trust = "certificate-authority-data: " + m.CAData
		}
		content := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- cluster:
    %s
    server: %s
  name: %s
contexts:
- context:
    cluster: %s
    namespace: kube-system
    user: %s
  name: %s
current-context: %s
preferences: {}
users:
- name: %s
  user:
    token: %s
`, trust, m.Endpoint, m.Cluster, m.Cluster, user, ctx, ctx, user, m.Value)
		return File{Name: "config", Content: content}, true
	case TypeEnvDB:
		return File{Name: ".env", Content: fmt.Sprintf(`# orders service (production)
APP_ENV=production
LOG_LEVEL=info
PORT=8080
DATABASE_URL=%s
DATABASE_POOL_SIZE=20
# for the migration job
DB_USER=%s
DB_PASSWORD=%s
`, m.Value, m.Username, m.Password)}, true
	case TypeGitHub:
		return File{Name: ".env", Content: fmt.Sprintf("# release automation\nGITHUB_OWNER=platform\nGITHUB_TOKEN=%s\n", m.Value)}, true
	case TypeSlack:
		return File{Name: ".env", Content: fmt.Sprintf("# deploy notifications\nSLACK_CHANNEL=#deploys\nSLACK_BOT_TOKEN=%s\n", m.Value)}, true
	case TypeStripe:
		return File{Name: ".env", Content: fmt.Sprintf("# billing service\nSTRIPE_SECRET_KEY=%s\nSTRIPE_API_VERSION=2024-06-20\n", m.Value)}, true
	}
	return File{}, false
}
