package gitscan

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pipeguard/pipeguard/internal/secrets"
)

// Options configure a history scan.
type Options struct {
	// Revs are the revisions to walk, as git log takes them ("main",
	// "A..B"); empty means every ref (--all).
	Revs []string
	// Staged scans the index against HEAD instead of history: the
	// pre-commit case.
	Staged bool
	// Workers scanning in parallel (default GOMAXPROCS).
	Workers int
	// Progress, if set, is called about twice a second.
	Progress func(Progress)
}

// Progress reports how far a scan is.
type Progress struct {
	Commits int
	Hunks   int64
	Bytes   int64
	Elapsed time.Duration
}

// Result is the outcome of a history scan.
type Result struct {
	Findings []secrets.Finding
	Commits  int
	Hunks    int64
	Bytes    int64
}

// batchBytes is how much hunk text one worker job carries.
const batchBytes = 256 << 10

// Scan walks the history of the repository at repo and returns every
// finding attributed to the commit that added it.
func Scan(ctx context.Context, repo string, d *secrets.Detector, opts Options) (*Result, error) {
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var shards [][]string
	var order map[string]int
	if !opts.Staged {
		list, err := revList(ctx, repo, opts.Revs)
		if err != nil {
			return nil, err
		}
		order = make(map[string]int, len(list))
		for i, c := range list {
			order[c] = i
		}
		// git computes diffs on one core per process: split the commits
		// over as many processes as there are cores, interleaved so the
		// shards get similar mixes of old and new history.
		n := min(opts.Workers, max(1, len(list)/64))
		shards = make([][]string, n)
		for i, c := range list {
			shards[i%n] = append(shards[i%n], c)
		}
	} else {
		shards = [][]string{nil}
	}

	var (
		binaries []BinaryChange
		bmu      sync.Mutex
		res      = &Result{}
		hunks    atomic.Int64
		nbytes   atomic.Int64
		ncommits atomic.Int64
		mu       sync.Mutex
		found    []located
	)
	commits := make([][]Commit, len(shards))
	type batch struct {
		shard int
		hs    []Hunk
	}
	work := make(chan batch, 2*opts.Workers)
	var wg sync.WaitGroup
	for w := 0; w < opts.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				var local []located
				for _, h := range b.hs {
					fs := d.Scan(secrets.Fragment{Data: h.Text, Path: h.Path})
					for _, f := range fs {
						f.StartLine += h.Start - 1
						f.EndLine += h.Start - 1
						local = append(local, located{f, b.shard, h.Commit})
					}
					hunks.Add(1)
					nbytes.Add(int64(len(h.Text)))
				}
				if len(local) > 0 {
					mu.Lock()
					found = append(found, local...)
					mu.Unlock()
				}
			}
		}()
	}
	start := time.Now()
	stopProgress := make(chan struct{})
	if opts.Progress != nil {
		go func() {
			t := time.NewTicker(500 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stopProgress:
					return
				case <-t.C:
					opts.Progress(Progress{Commits: int(ncommits.Load()), Hunks: hunks.Load(), Bytes: nbytes.Load(), Elapsed: time.Since(start)})
				}
			}
		}()
	}

	errs := make([]error, len(shards))
	var pwg sync.WaitGroup
	for si := range shards {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			skipCache := map[string]bool{}
			skip := func(p string) bool {
				s, ok := skipCache[p]
				if !ok {
					s, _ = d.PathClass(p)
					skipCache[p] = s
				}
				return s
			}
			var cur []Hunk
			curBytes := 0
			send := func() {
				if len(cur) > 0 {
					work <- batch{si, cur}
					cur, curBytes = nil, 0
				}
			}
			errs[si] = runPatch(ctx, repo, opts.Staged, shards[si], PatchHandler{
				Commit: func(c Commit) {
					commits[si] = append(commits[si], c)
					ncommits.Add(1)
				},
				SkipPath: skip,
				Hunk: func(h Hunk) {
					cur = append(cur, h)
					curBytes += len(h.Text)
					if curBytes >= batchBytes {
						send()
					}
				},
				Binary: func(b BinaryChange) {
					if isArchivePath(b.Path) && !skip(b.Path) {
						b.shard = si
						bmu.Lock()
						binaries = append(binaries, b)
						bmu.Unlock()
					}
				},
			})
			send()
			if errs[si] != nil {
				cancel()
			}
		}()
	}
	pwg.Wait()
	close(work)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		close(stopProgress)
		return nil, err
	}

	// Archives a commit added or changed: open them.
	if len(binaries) > 0 {
		shas := make([]string, len(binaries))
		for i, b := range binaries {
			shas[i] = b.NewBlob
		}
		i := 0
		err := catFile(ctx, repo, shas, func(sha string, data []byte) error {
			b := binaries[i]
			i++
			if data == nil {
				return nil
			}
			for _, f := range d.ScanFile(b.Path, data, "") {
				found = append(found, located{f, b.shard, b.Commit})
			}
			nbytes.Add(int64(len(data)))
			return nil
		})
		if err != nil {
			close(stopProgress)
			return nil, err
		}
	}
	close(stopProgress)

	res.Commits = int(ncommits.Load())
	res.Hunks = hunks.Load()
	res.Bytes = nbytes.Load()
	for _, lf := range found {
		f := lf.f
		c := commits[lf.shard][lf.commit]
		if d.CommitAllowed(c.SHA, f.RuleID) {
			continue
		}
		f.Commit, f.Author, f.Email, f.Date, f.Message = c.SHA, c.AuthorName, c.AuthorEmail, c.Date, c.Subject
		if opts.Staged {
			f.Commit = ""
			f.Source = "staged"
		} else {
			f.Source = "git"
		}
		f.Tags = append([]string(nil), f.Tags...)
		res.Findings = append(res.Findings, f)
	}
	sort.SliceStable(res.Findings, func(i, j int) bool {
		a, b := res.Findings[i], res.Findings[j]
		if a.Commit != b.Commit {
			return order[a.Commit] < order[b.Commit]
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.StartLine != b.StartLine {
			return a.StartLine < b.StartLine
		}
		return a.RuleID < b.RuleID
	})
	return res, nil
}

// located is a finding and the index of the commit it came from.
type located struct {
	f      secrets.Finding
	shard  int
	commit int
}

func isArchivePath(p string) bool {
	switch strings.ToLower(path.Ext(p)) {
	case ".zip", ".jar", ".war", ".ear", ".tar", ".gz", ".tgz":
		return true
	}
	return false
}

// revList lists the non-merge commits to scan (merges show no diff in
// `git log -p`, so they add nothing), newest first.
func revList(ctx context.Context, repo string, revs []string) ([]string, error) {
	args := []string{"-C", repo, "rev-list", "--no-merges", "--full-history"}
	if len(revs) == 0 {
		args = append(args, "--all")
	}
	for _, r := range revs {
		if strings.HasPrefix(r, "-") {
			return nil, fmt.Errorf("revision %q must not start with '-'", r)
		}
	}
	args = append(append(args, revs...), "--")
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(revs) == 0 && (strings.Contains(msg, "does not have any commits") || msg == "") {
			return nil, nil
		}
		return nil, fmt.Errorf("git rev-list in %s: %w: %s", repo, err, msg)
	}
	return strings.Fields(string(out)), nil
}

// runPatch streams the patches of the given commits (or of the index)
// through ParsePatch.
func runPatch(ctx context.Context, repo string, staged bool, commits []string, h PatchHandler) error {
	if !staged && len(commits) == 0 {
		return nil
	}
	// Pin the output format against user configuration.
	args := []string{"-C", repo, "-c", "core.quotePath=true", "-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false", "-c", "diff.relative=false"}
	common := []string{"-p", "-U0", "--full-index", "--no-color", "--no-ext-diff", "--no-textconv", "-M", "--diff-filter=tuxdb"}
	if staged {
		args = append(append(append(args, "diff", "--cached"), common...), "--")
	} else {
		args = append(append(append(args, "log"), common...), LogFormat, "--no-walk=unsorted", "--stdin")
	}
	cmd := exec.CommandContext(ctx, "git", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if !staged {
		cmd.Stdin = strings.NewReader(strings.Join(commits, "\n") + "\n")
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("running git: %w", err)
	}
	var r io.Reader = out
	if staged {
		r = io.MultiReader(strings.NewReader("\x01"+strings.Repeat("0", 40)+"\x1f\x1f\x1f\x1f\x1fstaged changes\n"), out)
	}
	perr := ParsePatch(r, h)
	io.Copy(io.Discard, out)
	werr := cmd.Wait()
	if perr != nil {
		return perr
	}
	if werr != nil {
		msg := strings.TrimSpace(stderr.String())
		if staged && strings.Contains(msg, "bad revision 'HEAD'") {
			return nil
		}
		return fmt.Errorf("git %s in %s: %w: %s", args[10], repo, werr, msg)
	}
	return nil
}

// catFile streams the content of shas through one `git cat-file --batch`;
// fn gets nil data for a missing object.
func catFile(ctx context.Context, repo string, shas []string, fn func(sha string, data []byte) error) error {
	cmd := exec.CommandContext(ctx, "git", "-C", repo, "cat-file", "--batch")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("running git cat-file: %w", err)
	}
	go func() {
		w := bufio.NewWriterSize(stdin, 64<<10)
		for _, s := range shas {
			w.WriteString(s)
			w.WriteByte('\n')
		}
		w.Flush()
		stdin.Close()
	}()
	br := bufio.NewReaderSize(stdout, 1<<20)
	var ferr error
	for range shas {
		line, err := br.ReadSlice('\n')
		if err != nil {
			ferr = errors.Join(ferr, fmt.Errorf("reading git cat-file: %w", err))
			break
		}
		sha, typ, size, err := readBatchHeader(line)
		if err != nil {
			ferr = errors.Join(ferr, err)
			break
		}
		if typ != "blob" {
			if typ != "missing" {
				if _, err := br.Discard(size + 1); err != nil {
					break
				}
			}
			ferr = errors.Join(ferr, fmt.Errorf("object %s: %s, not a blob", sha, typ))
			if err := fn(sha, nil); err != nil {
				ferr = errors.Join(ferr, err)
				break
			}
			continue
		}
		data := make([]byte, size+1)
		if _, err := io.ReadFull(br, data); err != nil {
			ferr = errors.Join(ferr, fmt.Errorf("reading git cat-file: %w", err))
			break
		}
		if err := fn(sha, data[:size]); err != nil {
			ferr = errors.Join(ferr, err)
			break
		}
	}
	if ferr != nil {
		cmd.Process.Kill()
		io.Copy(io.Discard, br)
	}
	werr := cmd.Wait()
	if ferr != nil {
		return ferr
	}
	if werr != nil {
		return fmt.Errorf("git cat-file: %w: %s", werr, strings.TrimSpace(stderr.String()))
	}
	return nil
}
