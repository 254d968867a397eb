package scan

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeguard/pipeguard/internal/secrets"
	"github.com/pipeguard/pipeguard/internal/testenv"
)

func randFrom(r *rand.Rand, alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

const (
	alnum  = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	upper7 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	digits = "0123456789"
)

type repo struct {
	t   *testing.T
	dir string
}

func (r *repo) git(author string, args ...string) string {
	r.t.Helper()
	return testenv.Git(r.t, r.dir, author, args...)
}

func (r *repo) write(name, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *repo) commit(author, msg string) string {
	r.git(author, "add", "-A")
	r.git(author, "commit", "-q", "-m", msg)
	return r.git(author, "rev-parse", "HEAD")
}

func zipOf(t *testing.T, name, content string) string {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(content))
	zw.Close()
	return buf.String()
}

type want struct {
	rule, path string
	line       int
	commit     string
	author     string
}

// TestPlantedSecretsRepository plants secrets in a real git repository in
// the ways they hide (deleted later, renamed, base64, inside a zip) and in
// Jira and Slack exports, and checks each is found with commit, path, line
// and author.
func TestPlantedSecretsRepository(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	cfgPath := filepath.Join(testenv.Dir(t, "secrets", "gitleaks", "config"), "gitleaks.toml")
	rnd := rand.New(rand.NewPCG(1, 2))
	aws := "AKIA" + randFrom(rnd, upper7, 16)
	ghp := "ghp_" + randFrom(rnd, alnum, 36)
	ghp2 := "ghp_" + randFrom(rnd, alnum, 36)
	slack := "xoxb-" + randFrom(rnd, digits, 12) + "-" + randFrom(rnd, digits, 12) + "-" + randFrom(rnd, alnum, 24)
	stripe := "sk_live_" + randFrom(rnd, alnum, 32)
	ghpZip := "ghp_" + randFrom(rnd, alnum, 36)

	r := &repo{t: t, dir: t.TempDir()}
	r.git("Alice", "init", "-q", "-b", "main")
	r.write("README.md", "# demo\n")
	r.commit("Alice", "initial")
	r.write("config/settings.py", "DEBUG = True\n\nAWS_ACCESS_KEY_ID = \""+aws+"\"\n")
	c1 := r.commit("Alice", "add settings")
	os.Remove(filepath.Join(r.dir, "config/settings.py"))
	r.commit("Bob", "remove settings")
	r.write("old.env", "A=1\nGITHUB_TOKEN="+ghp+"\n")
	c3 := r.commit("Carol", "env")
	r.git("Dave", "mv", "old.env", "new.env")
	r.commit("Dave", "rename env")
	r.write("new.env", "A=1\nGITHUB_TOKEN="+ghp+"\nB=2\nDEPLOY_TOKEN="+ghp2+"\n")
	c5 := r.commit("Erin", "second token in renamed file")
	r.write("data/blob.txt", "header\npayload: "+base64.StdEncoding.EncodeToString([]byte("stripe_key = "+stripe+"\n"))+"\n")
	c6 := r.commit("Frank", "encoded payload")
	r.write("dist/bundle.zip", zipOf(t, "inner/app.conf", "x=1\ny=2\ntoken = "+ghpZip+"\n"))
	c7 := r.commit("Grace", "ship bundle")
	// A moved line is an added line in the diff (gitleaks reports it too);
	// the fingerprint shows it is the same secret, so it stays one tracked
	// secret and a fingerprint baseline does not churn.
	r.write("new.env", "B=2\nA=1\nDEPLOY_TOKEN="+ghp2+"\nGITHUB_TOKEN="+ghp+"\n")
	c8 := r.commit("Heidi", "reorder")

	rep, err := Run(context.Background(), Request{Source: SourceGit, Path: r.dir, ConfigPath: cfgPath, FingerprintKey: []byte("k"), MaxDecodeDepth: 5, MaxArchive: 3})
	if err != nil {
		t.Fatal(err)
	}
	wants := []want{
		{"aws-access-token", "config/settings.py", 3, c1, "Alice"},
		{"github-pat", "old.env", 2, c3, "Carol"},
		{"github-pat", "new.env", 4, c5, "Erin"},
		{"stripe-access-token", "data/blob.txt", 2, c6, "Frank"},
		{"github-pat", "dist/bundle.zip!inner/app.conf", 3, c7, "Grace"},
		{"github-pat", "new.env", 4, c8, "Heidi"},
	}
	checkFindings(t, rep.Findings, wants)
	if len(rep.Findings) != len(wants) {
		for _, f := range rep.Findings {
			t.Logf("got %s %s:%d %s %s", f.RuleID, f.Path, f.StartLine, f.Commit, f.Author)
		}
		t.Errorf("got %d findings, want %d (a pure rename must not repeat old secrets)", len(rep.Findings), len(wants))
	}
	fpOf := func(commit string) string {
		for _, f := range rep.Findings {
			if f.Commit == commit {
				return f.Fingerprint
			}
		}
		return ""
	}
	if fpOf(c3) == "" || fpOf(c3) != fpOf(c8) {
		t.Errorf("the moved secret has a different fingerprint")
	}
	// No finding carries the secret in any output.
	for _, f := range rep.Findings {
		var buf bytes.Buffer
		(&secrets.Report{Findings: []secrets.Finding{f}}).WriteJSON(&buf)
		(&secrets.Report{Findings: []secrets.Finding{f}}).WriteGitleaks(&buf)
		(&secrets.Report{Findings: []secrets.Finding{f}}).WriteSARIF(&buf, nil, "test")
		for _, s := range []string{aws, ghp, ghp2, stripe, ghpZip} {
			if strings.Contains(buf.String(), s) {
				t.Fatalf("report leaks a secret in clear")
			}
		}
		if f.Fingerprint == "" || f.Redacted == "" {
			t.Errorf("finding without fingerprint or preview: %+v", f)
		}
	}

	// Jira and Slack exports.
	jiraToken := "ghp_" + randFrom(rnd, alnum, 36)
	jira := map[string]any{"issues": []any{map[string]any{
		"key": "OPS-7",
		"fields": map[string]any{
			"summary": "deploy broken", "created": "2026-01-02T03:04:05.000+0000",
			"reporter":    map[string]any{"displayName": "Ivan"},
			"description": "It fails.",
			"comment": map[string]any{"comments": []any{map[string]any{
				"id": "10001", "author": map[string]any{"displayName": "Judy"},
				"body": "try this:\nexport GH_TOKEN=" + jiraToken + "\n", "created": "2026-01-02T04:00:00.000+0000",
			}}},
		},
	}}}
	jb, _ := json.Marshal(jira)
	jiraPath := filepath.Join(t.TempDir(), "jira.json")
	os.WriteFile(jiraPath, jb, 0o644)
	rep, err = Run(context.Background(), Request{Source: SourceJira, Path: jiraPath, ConfigPath: cfgPath, FingerprintKey: []byte("k"), MaxDecodeDepth: 5})
	if err != nil {
		t.Fatal(err)
	}
	checkFindings(t, rep.Findings, []want{{"github-pat", "jira/OPS-7/comment/10001", 2, "", "Judy"}})

	slackDir := t.TempDir()
	os.WriteFile(filepath.Join(slackDir, "users.json"), []byte(`[{"id":"U1","name":"mallory","real_name":"Mallory"}]`), 0o644)
	os.MkdirAll(filepath.Join(slackDir, "deploys"), 0o755)
	msgs := []map[string]any{{"type": "message", "user": "U1", "ts": "1700000000.000100", "text": "the bot token is " + slack}}
	mb, _ := json.Marshal(msgs)
	os.WriteFile(filepath.Join(slackDir, "deploys", "2026-01-02.json"), mb, 0o644)
	rep, err = Run(context.Background(), Request{Source: SourceSlack, Path: slackDir, ConfigPath: cfgPath, FingerprintKey: []byte("k"), MaxDecodeDepth: 5})
	if err != nil {
		t.Fatal(err)
	}
	checkFindings(t, rep.Findings, []want{{"slack-bot-token", "slack/deploys/2026-01-02.json#1700000000.000100", 1, "", "Mallory"}})
}

func checkFindings(t *testing.T, got []secrets.Finding, wants []want) {
	t.Helper()
	for _, w := range wants {
		ok := false
		for _, f := range got {
			if f.RuleID == w.rule && f.Path == w.path && f.StartLine == w.line && f.Commit == w.commit && f.Author == w.author {
				ok = true
			}
		}
		if !ok {
			t.Errorf("missing %+v", w)
			for _, f := range got {
				t.Logf("  have %s %s:%d commit=%s author=%s", f.RuleID, f.Path, f.StartLine, f.Commit, f.Author)
			}
		}
	}
}
