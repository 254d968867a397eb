package honeytoken

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// clientEnv is a clean environment for a real client: its own HOME so
// nothing of the machine's configuration leaks in or is changed.
func clientEnv(t *testing.T, extra ...string) []string {
	h := t.TempDir()
	env := []string{"HOME=" + h, "PATH=" + os.Getenv("PATH"), "LANG=C", "NO_PROXY=*", "no_proxy=*"}
	return append(env, extra...)
}

// runClient runs a real client; its exit status does not matter (the
// decoys refuse every credential), only that it talked to the decoy.
func runClient(t *testing.T, env []string, stdin string, name string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s is not installed (CI: see docs/honeytokens.md for the packages)", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	t.Logf("%s %s: err=%v\n%s", name, strings.Join(args, " "), err, truncate(string(out), 2000))
}

func plant(t *testing.T, r *Registry, tok *Token) string {
	t.Helper()
	p, err := r.Plant(context.Background(), tok.ID, t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRealClients points real clients at the decoys and checks that the
// local webhook receives an alert naming the right token.
func TestRealClients(t *testing.T) {
	r := newTestRegistry(t)
	rc := newReceiver(t)
	sink, _ := NewWebhookSink(rc.srv.URL)
	s := startServer(t, r, ServeConfig{HTTPAddr: "127.0.0.1:0", DNSAddr: "127.0.0.1:0", DBAddr: "127.0.0.1:0", Zone: "canary.example.test", Sinks: []Sink{sink}, RatePerSource: 1000, Burst: 1000})
	base := "http://" + s.HTTPAddr.String()
	opts := func(typ Type, note string) CreateOptions {
		return CreateOptions{Type: typ, Note: note, BaseURL: base, Zone: "canary.example.test", DBAddr: s.DBAddr.String()}
	}
	create := func(typ Type, note string) *Token {
		tok := mustCreate(t, r, opts(typ, note))
		if err := r.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	expect := func(t *testing.T, tok *Token, channel string) {
		a := rc.alertFor(t, tok.ID, KindFirst)
		if a.Channel != channel || a.Note != tok.Note || a.Source != "127.0.0.1" {
			t.Errorf("alert %+v", a)
		}
		for _, sec := range tok.Material.Secrets() {
			if strings.Contains(a.Summary, sec) || strings.Contains(a.UserAgent, sec) {
				t.Errorf("alert leaks a secret: %q", a.Summary)
			}
		}
		t.Logf("alert: %s", a.Text())
	}

	t.Run("curl web bug", func(t *testing.T) {
		tok := create(TypeURL, "wiki: onboarding page")
		runClient(t, clientEnv(t), "", "curl", "-sS", "-o", "/dev/null", tok.Material.Value)
		expect(t, tok, "http")
	})
	t.Run("git remote", func(t *testing.T) {
		tok := create(TypeURL, "README: mirror remote")
		runClient(t, clientEnv(t, "GIT_TERMINAL_PROMPT=0"), "", "git", "ls-remote", tok.Material.Value)
		expect(t, tok, "http")
	})
	t.Run("aws cli endpoint_url", func(t *testing.T) {
		requireAWSEndpointURL(t)
		tok := create(TypeAWS, "jenkins: ~/.aws/credentials")
		p := plant(t, r, tok)
		runClient(t, clientEnv(t, "AWS_SHARED_CREDENTIALS_FILE="+p, "AWS_CONFIG_FILE="+filepath.Join(t.TempDir(), "none"), "AWS_EC2_METADATA_DISABLED=true", "AWS_MAX_ATTEMPTS=1"),
			"", "aws", "sts", "get-caller-identity")
		expect(t, tok, "http")
	})
	t.Run("npm registry", func(t *testing.T) {
		tok := create(TypeNPM, "repo: .npmrc")
		p := plant(t, r, tok)
		runClient(t, clientEnv(t, "npm_config_cache="+t.TempDir(), "npm_config_update_notifier=false", "npm_config_fetch_retries=0"), "", "npm", "whoami", "--userconfig", p)
		expect(t, tok, "http")
	})
	t.Run("docker with planted config", func(t *testing.T) {
		tok := create(TypeDocker, "build host: ~/.docker/config.json")
		p := plant(t, r, tok)
		// The docker CLI reads the planted config.json and sends its
		// credentials to the registry itself (no daemon needed).
		runClient(t, clientEnv(t, "DOCKER_CONFIG="+filepath.Dir(p)), "", "docker", "manifest", "inspect", "--insecure", s.HTTPAddr.String()+"/payments/api:latest")
		expect(t, tok, "http")
	})
	t.Run("docker login with planted credentials", func(t *testing.T) {
		tok := create(TypeDocker, "build host: config.json copied by attacker")
		p := plant(t, r, tok)
		user, pass := dockerCreds(t, p, s.HTTPAddr.String())
		// Without a daemon, docker login logs in client-side.
		runClient(t, clientEnv(t, "DOCKER_CONFIG="+t.TempDir(), "DOCKER_HOST=unix://"+filepath.Join(t.TempDir(), "no.sock")), pass,
			"docker", "login", "-u", user, "--password-stdin", s.HTTPAddr.String())
		expect(t, tok, "http")
	})
	t.Run("kubectl", func(t *testing.T) {
		tok := create(TypeKubeconfig, "laptop: ~/.kube/config")
		p := plant(t, r, tok)
		runClient(t, clientEnv(t, "KUBECONFIG="+p), "", "kubectl", "get", "pods", "--request-timeout=10s")
		expect(t, tok, "http")
	})
	t.Run("psql", func(t *testing.T) {
		tok := create(TypeEnvDB, "service repo: .env")
		runClient(t, clientEnv(t, "PGCONNECT_TIMEOUT=10"), "", "psql", tok.Material.Value, "-c", "select 1")
		expect(t, tok, "postgres")
	})
	t.Run("go resolver", func(t *testing.T) {
		tok := create(TypeDNS, "ticket: internal hostname")
		res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", s.DNSAddr.String())
		}}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		addrs, err := res.LookupHost(ctx, tok.Material.Hostname)
		if err != nil || len(addrs) == 0 {
			t.Errorf("lookup: %v %v", addrs, err)
		}
		expect(t, tok, "dns")
	})
	t.Run("dig", func(t *testing.T) {
		tok := create(TypeDNS, "wiki: db hostname")
		_, port, _ := net.SplitHostPort(s.DNSAddr.String())
		runClient(t, clientEnv(t), "", "dig", "+short", "+tries=1", "+time=5", "-p", port, "@127.0.0.1", tok.Material.Hostname, "A")
		expect(t, tok, "dns")
	})
	t.Run("dig over tcp", func(t *testing.T) {
		tok := create(TypeDNS, "runbook: failover hostname")
		_, port, _ := net.SplitHostPort(s.DNSAddr.String())
		runClient(t, clientEnv(t), "", "dig", "+tcp", "+short", "+tries=1", "+time=5", "-p", port, "@127.0.0.1", tok.Material.Hostname, "A")
		expect(t, tok, "dns")
	})
}

func dockerCreds(t *testing.T, configPath, registry string) (string, string) {
	t.Helper()
	b, err := os.ReadFile(configPath)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	up, err := base64.StdEncoding.DecodeString(cfg.Auths[registry].Auth)
	if err != nil {
		t.Fatal(err)
	}
	u, p, _ := strings.Cut(string(up), ":")
	return u, p
}

// requireAWSEndpointURL skips unless the AWS CLI reads endpoint_url from
// its config (aws-cli 1.29+ / 2.13+); older ones would go to AWS itself.
func requireAWSEndpointURL(t *testing.T) {
	t.Helper()
	out, err := exec.Command("aws", "--version").CombinedOutput()
	if err != nil {
		t.Skipf("aws CLI not usable: %v", err)
	}
	var major, minor int
	if _, err := fmt.Sscanf(string(out), "aws-cli/%d.%d", &major, &minor); err != nil {
		t.Skipf("cannot read the aws CLI version from %q", out)
	}
	if major == 1 && minor < 29 || major == 2 && minor < 13 || major < 1 {
		t.Skipf("aws CLI %d.%d ignores endpoint_url in profiles (need 1.29+ or 2.13+)", major, minor)
	}
}
