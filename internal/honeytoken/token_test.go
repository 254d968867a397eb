package honeytoken

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func allOptions(typ Type) CreateOptions {
	return CreateOptions{Type: typ, BaseURL: "http://127.0.0.1:8080", Zone: "canary.example.test", DBAddr: "127.0.0.1:5432"}
}

func TestTokenFormats(t *testing.T) {
	tests := []struct {
		typ  Type
		re   string
		file string
	}{
		{TypeURL, `^http://127\.0\.0\.1:8080/static/[a-z2-7]{26}\.gif$`, ""},
		{TypeDNS, `^[a-z2-7]{26}\.canary\.example\.test$`, ""},
		{TypeAWS, `^AKIA[A-Z2-7]{16}$`, "credentials"},
		{TypeGitHub, `^ghp_[0-9A-Za-z]{36}$`, ".env"},
		{TypeNPM, `^npm_[0-9A-Za-z]{36}$`, ".npmrc"},
		{TypeDocker, `^dckr_pat_[0-9A-Za-z_-]{27}$`, "config.json"},
		{TypeKubeconfig, `^eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{300,}$`, "config"},
		{TypeEnvDB, `^postgres://app_[a-z]{5}:[0-9A-Za-z]{24}@127\.0\.0\.1:5432/orders_prod$`, ".env"},
		{TypeSlack, `^xoxb-[1-9][0-9]{11}-[1-9][0-9]{12}-[0-9A-Za-z]{24}$`, ".env"},
		{TypeStripe, `^sk_live_51[0-9A-Za-z]{97}$`, ".env"},
	}
	r := newTestRegistry(t)
	seen := map[string]bool{}
	for _, tc := range tests {
		t.Run(string(tc.typ), func(t *testing.T) {
			for i := 0; i < 20; i++ {
				tok := mustCreate(t, r, allOptions(tc.typ))
				v := tok.Material.Value
				if !regexp.MustCompile(tc.re).MatchString(v) {
					t.Fatalf("token %q does not match %s", v, tc.re)
				}
				if seen[v] || seen[tok.ID] {
					t.Fatalf("repeated token or id")
				}
				seen[v], seen[tok.ID] = true, true
				if !regexp.MustCompile(`^ht_[a-z2-7]{26}$`).MatchString(tok.ID) {
					t.Fatalf("id %q is not 128 random bits", tok.ID)
				}
				if strings.Contains(v, tok.ID) || strings.Contains(v, "pipeguard") || strings.Contains(v, "honey") {
					t.Fatalf("token %q carries a marker", v)
				}
				if tc.typ == TypeGitHub || tc.typ == TypeNPM {
					if !ValidChecksum(v) {
						t.Fatalf("%s has no valid checksum", v)
					}
				}
				f, ok := FileFor(tok)
				if ok != (tc.file != "") || f.Name != tc.file {
					t.Fatalf("file %q (%v), want %q", f.Name, ok, tc.file)
				}
				if ok && !strings.Contains(f.Content, v) && tc.typ != TypeDocker {
					t.Fatalf("file does not contain the token")
				}
			}
		})
	}
}

// Files must parse as what they claim to be, so real clients take them.
func TestFilesParse(t *testing.T) {
	r := newTestRegistry(t)
	dock, _ := FileFor(mustCreate(t, r, allOptions(TypeDocker)))
	var cfg struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	if err := json.Unmarshal([]byte(dock.Content), &cfg); err != nil {
		t.Fatal(err)
	}
	a, ok := cfg.Auths["127.0.0.1:8080"]
	if !ok {
		t.Fatalf("docker config has no entry for the registry: %s", dock.Content)
	}
	up, err := base64.StdEncoding.DecodeString(a.Auth)
	if err != nil || !bytes.Contains(up, []byte(":dckr_pat_")) {
		t.Fatalf("docker auth %q", up)
	}
	kube, _ := FileFor(mustCreate(t, r, allOptions(TypeKubeconfig)))
	var kc struct {
		Clusters []struct {
			Cluster struct{ Server string } `yaml:"cluster"`
		} `yaml:"clusters"`
		CurrentContext string `yaml:"current-context"`
	}
	if err := yaml.Unmarshal([]byte(kube.Content), &kc); err != nil || len(kc.Clusters) != 1 || kc.Clusters[0].Cluster.Server != "https://127.0.0.1:8080" || kc.CurrentContext == "" {
		t.Fatalf("kubeconfig %+v err %v", kc, err)
	}
}

func TestChecksumRejectsTampering(t *testing.T) {
	tok := checksummedToken("ghp_")
	if !ValidChecksum(tok) {
		t.Fatal("fresh token invalid")
	}
	b := []byte(tok)
	if b[10] == 'a' {
		b[10] = 'b'
	} else {
		b[10] = 'a'
	}
	for _, bad := range []string{string(b), tok[:len(tok)-1], "ghp_", "nounderscore"} {
		if ValidChecksum(bad) {
			t.Errorf("ValidChecksum(%q) = true", bad)
		}
	}
	// Computed independently (Python zlib.crc32 and base62 0-9A-Za-z).
	if got := base62Checksum(strings.Repeat("a", 30)); got != "1yLcDB" {
		t.Errorf("checksum of a*30 = %q, want 1yLcDB", got)
	}
}

func TestCreateRejectsBadInput(t *testing.T) {
	r := newTestRegistry(t)
	for _, o := range []CreateOptions{
		{Type: TypeURL, Note: "x"},                          // no base URL
		{Type: TypeURL, Note: "x", BaseURL: "ftp://h"},      // wrong scheme
		{Type: TypeURL, Note: "x", BaseURL: "http://u:p@h"}, // userinfo
		{Type: TypeDNS, Note: "x"},                          // no zone
		{Type: TypeDNS, Note: "x", Zone: "bad_zone.test"},   // bad label
		{Type: TypeEnvDB, Note: "x", DBAddr: "nohostport"},  // bad address
		{Type: TypeAWS}, // no note
		{Type: Type("ftp"), Note: "x", BaseURL: "http://127.0.0.1"}, // unknown type
	} {
		if _, err := r.Create(context.Background(), o); err == nil {
			t.Errorf("Create(%+v) succeeded", o)
		}
	}
	ts, err := r.List(context.Background())
	if err != nil || len(ts) != 0 {
		t.Errorf("rejected creates left %d tokens (err %v)", len(ts), err)
	}
}

// Every secret of a token is in the shared fingerprint index, where the
// secret scanner looks; revoking removes it.
func TestFingerprintIndexAndRevoke(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t)
	for _, typ := range Types {
		tok := mustCreate(t, r, allOptions(typ))
		secrets := tok.Material.Secrets()
		var fps []string
		for _, s := range secrets {
			fps = append(fps, r.Fingerprint(s))
		}
		ids, err := r.db.HoneytokenIDs(ctx, fps)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != len(fps) {
			t.Errorf("%s: %d of %d secrets in the index", typ, len(ids), len(fps))
		}
		for _, id := range ids {
			if id != tok.ID {
				t.Errorf("%s: index names %s", typ, id)
			}
		}
		if err := r.Revoke(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		ids, _ = r.db.HoneytokenIDs(ctx, fps)
		if len(ids) != 0 {
			t.Errorf("%s: revoked token still in the index", typ)
		}
		got, _ := r.Get(ctx, tok.ID)
		if got.Revoked == nil {
			t.Errorf("%s: not marked revoked", typ)
		}
	}
	if err := r.Revoke(ctx, "ht_doesnotexist"); err == nil {
		t.Error("revoking an unknown id succeeded")
	}
}

// Token secrets are sealed at rest: the database file never holds them in
// clear.
func TestSecretsNotStoredInClear(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t)
	var secrets []string
	for _, typ := range Types {
		tok := mustCreate(t, r, allOptions(typ))
		secrets = append(secrets, tok.Material.Value)
		got, err := r.Get(ctx, tok.ID)
		if err != nil || got.Material.Value != tok.Material.Value {
			t.Fatalf("round trip of sealed material failed: %v", err)
		}
	}
	var path string
	if err := r.db.QueryRowContext(ctx, `PRAGMA database_list`).Scan(new(int), new(string), &path); err != nil {
		t.Fatal(err)
	}
	r.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if bytes.Contains(data, []byte(s)) {
			t.Errorf("database holds %q in clear", s[:8])
		}
	}
	// Tampered sealed material is refused, not misread.
	r.db.ExecContext(ctx, `UPDATE honeytokens SET sealed = 'AAAA' || sealed`)
	ts, _ := r.List(ctx)
	if _, err := r.Get(ctx, ts[0].ID); err == nil {
		t.Error("tampered material unsealed")
	}
}
