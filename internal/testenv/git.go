package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Git runs git in dir for a test, as author (default "pipeguard-test"),
// with the machine's and the user's git configuration ignored so results do
// not depend on who runs the tests. It fails the test on error and returns
// the trimmed output.
func Git(t testing.TB, dir, author string, args ...string) string {
	t.Helper()
	if author == "" {
		author = "pipeguard-test"
	}
	email := strings.ToLower(author) + "@example.com"
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME="+author, "GIT_AUTHOR_EMAIL="+email,
		"GIT_COMMITTER_NAME="+author, "GIT_COMMITTER_EMAIL="+email,
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v in %s: %v\n%s", args, dir, err, out)
	}
	return strings.TrimSpace(string(out))
}
