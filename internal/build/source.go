package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Source is the resolved input of a build: one exact commit.
type Source struct {
	// URI names the repository, e.g. git+file:///src/app.
	URI string
	// Repo is what git clones from (a local path or a URL).
	Repo string
	// Commit is the full hex commit id.
	Commit string
	// Ref is the full ref name the revision was given as, when it names
	// one (refs/heads/main); empty for a bare commit id.
	Ref string
	// Path is the folder inside the repository the build runs in ("" for
	// the root).
	Path string
	// Time is the commit time in Unix seconds, the SOURCE_DATE_EPOCH.
	Time int64
	// Dirty records that the caller's working tree had changes, which the
	// build did NOT include (only committed content is ever built).
	Dirty bool
}

// ErrDirty reports a working tree with uncommitted changes.
var ErrDirty = errors.New("the working tree has uncommitted changes")

// ParseSourceArg splits "REPO[@REV]". An '@' belongs to the revision only
// when what follows it has no path separator, so user@host:repo URLs keep
// working.
func ParseSourceArg(s string) (repo, rev string) {
	if i := strings.LastIndexByte(s, '@'); i > 0 {
		r := s[i+1:]
		if r != "" && !strings.ContainsAny(r, "/:") {
			return s[:i], r
		}
	}
	return s, ""
}

// git runs git with a scrubbed environment so that no caller setting (or
// hook-like variable) changes what is checked out.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	out, err := gitRaw(ctx, dir, args...)
	return strings.TrimSpace(string(out)), err
}

func gitRaw(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C"}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// ResolveSource finds the commit to build. For a local directory inside a
// git repository, the repository is its top level and Path the directory
// relative to it; a working tree with changes is refused unless allowDirty
// (the build still uses the commit only, and the dirtiness is recorded).
func ResolveSource(ctx context.Context, repo, rev string, allowDirty bool) (*Source, error) {
	if strings.HasPrefix(rev, "-") {
		return nil, fmt.Errorf("revision %q must not start with '-'", rev)
	}
	src := &Source{Repo: repo}
	fi, err := os.Stat(repo)
	local := err == nil && fi.IsDir()
	if !local {
		if err == nil || !strings.Contains(repo, "://") {
			return nil, fmt.Errorf("source %q is neither a directory nor a URL", repo)
		}
		src.URI = "git+" + repo
		return src, nil // resolved after cloning
	}
	abs, err := filepath.Abs(repo)
	if err != nil {
		return nil, err
	}
	top, err := git(ctx, abs, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, fmt.Errorf("source %s is not in a git repository: %w", repo, err)
	}
	top, _ = filepath.EvalSymlinks(top)
	real, _ := filepath.EvalSymlinks(abs)
	rel, err := filepath.Rel(top, real)
	if err != nil || strings.HasPrefix(rel, "..") {
		return nil, fmt.Errorf("source %s is outside its repository %s", repo, top)
	}
	if rel != "." {
		src.Path = filepath.ToSlash(rel)
	}
	src.Repo = top
	src.URI = "git+file://" + top
	if rev == "" {
		rev = "HEAD"
	}
	if src.Commit, err = git(ctx, top, "rev-parse", "--verify", "--end-of-options", rev+"^{commit}"); err != nil {
		return nil, fmt.Errorf("resolving revision %q: %w", rev, err)
	}
	if rev == "HEAD" {
		if ref, err := git(ctx, top, "symbolic-ref", "-q", "HEAD"); err == nil {
			src.Ref = ref
		}
	} else if ref, err := git(ctx, top, "rev-parse", "--symbolic-full-name", rev); err == nil && strings.HasPrefix(ref, "refs/") && !strings.Contains(ref, "\n") {
		src.Ref = ref
	}
	if err := src.readTime(ctx, top); err != nil {
		return nil, err
	}
	status, err := git(ctx, top, "status", "--porcelain", "--untracked-files=normal")
	if err != nil {
		return nil, fmt.Errorf("checking the working tree: %w", err)
	}
	if status != "" {
		if !allowDirty {
			return nil, fmt.Errorf("%w in %s (commit them, or pass --allow-dirty to build the commit %s anyway; the flag is recorded)", ErrDirty, top, short(src.Commit))
		}
		src.Dirty = true
	}
	return src, nil
}

func (s *Source) readTime(ctx context.Context, dir string) error {
	t, err := git(ctx, dir, "show", "-s", "--format=%ct", s.Commit)
	if err != nil {
		return fmt.Errorf("reading the commit time: %w", err)
	}
	if s.Time, err = strconv.ParseInt(t, 10, 64); err != nil {
		return fmt.Errorf("reading the commit time: %w", err)
	}
	return nil
}

// Checkout makes a fresh clone of the commit in dir (which must not
// exist). Objects are copied, never hard-linked, so the build cannot
// reach the source repository's files through the workspace.
func (s *Source) Checkout(ctx context.Context, dir, rev string) error {
	if _, err := git(ctx, "/", "clone", "--quiet", "--no-hardlinks", "--no-checkout", "--", s.Repo, dir); err != nil {
		return fmt.Errorf("cloning the source: %w", err)
	}
	if s.Commit == "" { // remote: resolve in the clone
		if rev == "" {
			rev = "HEAD"
		}
		c, err := git(ctx, dir, "rev-parse", "--verify", "--end-of-options", rev+"^{commit}")
		if err != nil {
			if c, err = git(ctx, dir, "rev-parse", "--verify", "--end-of-options", "origin/"+rev+"^{commit}"); err != nil {
				return fmt.Errorf("resolving revision %q: %w", rev, err)
			}
			s.Ref = "refs/heads/" + rev
		}
		s.Commit = c
		if err := s.readTime(ctx, dir); err != nil {
			return err
		}
	}
	if _, err := git(ctx, dir, "-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", s.Commit); err != nil {
		return fmt.Errorf("checking out %s: %w", s.Commit, err)
	}
	return nil
}

// ReadFile returns a file of the commit (not of any working tree, which
// the build may have changed).
func (s *Source) ReadFile(ctx context.Context, repoDir, path string) ([]byte, error) {
	return gitRaw(ctx, repoDir, "cat-file", "blob", s.Commit+":"+path)
}

// ListFiles lists the commit's files whose base name is name.
func (s *Source) ListFiles(ctx context.Context, repoDir, name string) ([]string, error) {
	out, err := git(ctx, repoDir, "ls-tree", "-r", "--name-only", s.Commit)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, f := range strings.Split(out, "\n") {
		if f == name || strings.HasSuffix(f, "/"+name) {
			files = append(files, f)
		}
	}
	return files, nil
}

func short(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}
