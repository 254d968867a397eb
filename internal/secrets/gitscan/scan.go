package gitscan

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
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
	// Workers scanning blobs in parallel (default GOMAXPROCS).
	Workers int
	// Progress, if set, is called about twice a second.
	Progress func(Progress)
}

// Progress reports how far a scan is.
type Progress struct {
	Commits   int
	Blobs     int
	BlobsDone int64
	Bytes     int64
	Elapsed   time.Duration
}

// Result is the outcome of a history scan.
type Result struct {
	Findings []secrets.Finding
	Commits  int
	Blobs    int
	Bytes    int64
}

// Scan walks the history of the repository at repo and returns every
// finding attributed to the commit that introduced it.
func Scan(ctx context.Context, repo string, d *secrets.Detector, opts Options) (*Result, error) {
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	lg, err := readLog(ctx, repo, opts)
	if err != nil {
		return nil, err
	}

	// Group the changes by blob, and the blob's paths by how the rules
	// treat them, so each blob is read and scanned once per class.
	type classKey struct {
		blob, sig string
	}
	type job struct {
		blob, path, sig string
	}
	classOf := map[string]string{} // path -> signature ("" = skipped)
	sigOf := func(p string) string {
		s, ok := classOf[p]
		if !ok {
			skip, sig := d.PathClass(p)
			if skip {
				sig = ""
			}
			classOf[p] = sig
			s = sig
		}
		return s
	}
	changesOf := map[classKey][]int{}
	jobPath := map[classKey]string{}
	var jobs []job
	for i, ch := range lg.Changes {
		sig := sigOf(ch.Path)
		if sig == "" {
			continue
		}
		k := classKey{ch.NewBlob, sig}
		if _, ok := changesOf[k]; !ok {
			jobs = append(jobs, job{ch.NewBlob, ch.Path, sig})
			jobPath[k] = ch.Path
		}
		changesOf[k] = append(changesOf[k], i)
	}
	res := &Result{Commits: len(lg.Commits), Blobs: len(jobs)}
	if len(jobs) == 0 {
		return res, nil
	}
	if order, err := packOrder(ctx, repo); err == nil {
		sort.SliceStable(jobs, func(i, j int) bool {
			oi, ok1 := order[jobs[i].blob]
			oj, ok2 := order[jobs[j].blob]
			if ok1 != ok2 {
				return ok1
			}
			return oi < oj
		})
	}

	found := map[classKey][]secrets.Finding{}
	var mu sync.Mutex
	var done, nbytes atomic.Int64
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
					opts.Progress(Progress{Commits: len(lg.Commits), Blobs: len(jobs), BlobsDone: done.Load(), Bytes: nbytes.Load(), Elapsed: time.Since(start)})
				}
			}
		}()
	}
	scanJobs := func(js []job) error {
		shas := make([]string, len(js))
		for i, j := range js {
			shas[i] = j.blob
		}
		type item struct {
			j    job
			data []byte
		}
		work := make(chan item, 4*opts.Workers)
		var wg sync.WaitGroup
		for w := 0; w < opts.Workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for it := range work {
					fs := d.ScanFile(it.j.path, it.data, "")
					done.Add(1)
					nbytes.Add(int64(len(it.data)))
					if len(fs) > 0 {
						mu.Lock()
						found[classKey{it.j.blob, it.j.sig}] = fs
						mu.Unlock()
					}
				}
			}()
		}
		i := 0
		err := catFile(ctx, repo, shas, func(sha string, data []byte) error {
			// cat-file answers in request order.
			if sha != js[i].blob {
				return fmt.Errorf("git cat-file answered %s, expected %s", sha, js[i].blob)
			}
			if data != nil {
				work <- item{js[i], data}
			}
			i++
			return nil
		})
		close(work)
		wg.Wait()
		return err
	}
	err = scanJobs(jobs)
	close(stopProgress)
	if err != nil {
		return nil, err
	}
	res.Bytes = nbytes.Load()

	// Previous versions of files with findings that were not scanned
	// (outside the walked range, or only reachable through a merge) are
	// scanned now, so attribution can tell old secrets from new ones.
	var prev []job
	seenPrev := map[classKey]bool{}
	scanned := map[classKey]bool{}
	for _, j := range jobs {
		scanned[classKey{j.blob, j.sig}] = true
	}
	for k, fs := range found {
		if len(fs) == 0 {
			continue
		}
		for _, ci := range changesOf[k] {
			ch := lg.Changes[ci]
			if ch.OldBlob == "" {
				continue
			}
			pk := classKey{ch.OldBlob, k.sig}
			if scanned[pk] || seenPrev[pk] {
				continue
			}
			seenPrev[pk] = true
			prev = append(prev, job{ch.OldBlob, ch.OldPath, k.sig})
			jobPath[pk] = ch.OldPath
		}
	}
	if len(prev) > 0 {
		if err := scanJobs(prev); err != nil {
			return nil, err
		}
	}

	// Attribute.
	for k, fs := range found {
		if !scanned[k] {
			continue
		}
		for _, ci := range changesOf[k] {
			ch := lg.Changes[ci]
			c := lg.Commits[ch.Commit]
			var old map[string]int
			if ch.OldBlob != "" {
				old = lineKeys(found[classKey{ch.OldBlob, k.sig}])
			}
			for _, f := range fs {
				lk := lineKey(f)
				if old[lk] > 0 {
					old[lk]--
					continue
				}
				if d.CommitAllowed(c.SHA, f.RuleID) {
					continue
				}
				f.Commit = c.SHA
				f.Author = c.AuthorName
				f.Email = c.AuthorEmail
				f.Date = c.Date
				f.Message = c.Subject
				f.Source = "git"
				if inner, ok := strings.CutPrefix(f.Path, jobPath[k]); ok {
					f.Path = ch.Path + inner
				} else {
					f.Path = ch.Path
				}
				f.Tags = append([]string(nil), f.Tags...)
				res.Findings = append(res.Findings, f)
			}
		}
	}
	commitIdx := map[string]int{}
	for i, c := range lg.Commits {
		commitIdx[c.SHA] = i
	}
	sort.SliceStable(res.Findings, func(i, j int) bool {
		a, b := res.Findings[i], res.Findings[j]
		if a.Commit != b.Commit {
			return commitIdx[a.Commit] < commitIdx[b.Commit]
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

// lineKey identifies a finding by what it found and the text around it,
// not by position, so a line that only moved is not a new leak.
func lineKey(f secrets.Finding) string {
	inner := ""
	if i := strings.IndexByte(f.Path, '!'); i >= 0 {
		inner = f.Path[i:]
	}
	return f.RuleID + "\x00" + f.Fingerprint + "\x00" + inner + "\x00" + f.RedactedLine()
}

func lineKeys(fs []secrets.Finding) map[string]int {
	if len(fs) == 0 {
		return nil
	}
	m := make(map[string]int, len(fs))
	for _, f := range fs {
		m[lineKey(f)]++
	}
	return m
}

func readLog(ctx context.Context, repo string, opts Options) (*Log, error) {
	var args []string
	if opts.Staged {
		args = []string{"-C", repo, "diff", "--cached", "--raw", "--no-abbrev", "-z", "-M", "--diff-filter=tuxdb"}
	} else {
		args = []string{"-C", repo, "log", "--raw", "--no-abbrev", "-z", "-M", "--full-history", "--diff-filter=tuxdb", LogFormat}
		if len(opts.Revs) == 0 {
			args = append(args, "--all")
		} else {
			for _, r := range opts.Revs {
				if strings.HasPrefix(r, "-") {
					return nil, fmt.Errorf("revision %q must not start with '-'", r)
				}
			}
			args = append(args, opts.Revs...)
			args = append(args, "--")
		}
	}
	cmd := exec.CommandContext(ctx, "git", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("running git: %w", err)
	}
	var r io.Reader = out
	if opts.Staged {
		// The index has no commit: give its changes one unnamed entry.
		r = io.MultiReader(strings.NewReader("\x01"+strings.Repeat("0", 40)+"\x1f\x1f\x1f\x1f\x1fstaged changes\x00"), out)
	}
	lg, perr := ParseLog(r)
	io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		if strings.Contains(stderr.String(), "does not have any commits") {
			return &Log{}, nil
		}
		return nil, fmt.Errorf("git %s in %s: %w: %s", args[2], repo, err, strings.TrimSpace(stderr.String()))
	}
	if perr != nil {
		return nil, perr
	}
	if opts.Staged {
		for i := range lg.Commits {
			lg.Commits[i].SHA = ""
		}
	}
	return lg, nil
}

// packOrder returns the position of every object in the packs, so blobs
// can be requested in the order git stores them: delta chains are then
// resolved from the base cache instead of from scratch.
func packOrder(ctx context.Context, repo string) (map[string]int, error) {
	cmd := exec.CommandContext(ctx, "git", "-C", repo, "cat-file", "--batch-all-objects", "--unordered", "--batch-check=%(objectname) %(objecttype)")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	order := map[string]int{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Bytes()
		if sp := bytes.IndexByte(line, ' '); sp > 0 && string(line[sp+1:]) == "blob" {
			order[string(line[:sp])] = len(order)
		}
	}
	if err := cmd.Wait(); err != nil {
		return nil, err
	}
	return order, nil
}

// catFile streams the content of shas through one `git cat-file --batch`.
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
			ferr = fmt.Errorf("reading git cat-file: %w", err)
			break
		}
		sha, typ, size, err := readBatchHeader(line)
		if err != nil {
			ferr = err
			break
		}
		if typ == "missing" || typ != "blob" && typ != "" {
			if typ != "missing" {
				ferr = errors.Join(ferr, fmt.Errorf("object %s is a %s, not a blob", sha, typ))
				if _, err := br.Discard(size + 1); err != nil {
					break
				}
			}
			// A shallow or partial clone lacks some blobs: say so, scan the rest.
			ferr = errors.Join(ferr, fmt.Errorf("blob %s is missing from the repository", sha))
			if err := fn(sha, nil); err != nil {
				ferr = errors.Join(ferr, err)
				break
			}
			continue
		}
		data := make([]byte, size+1)
		if _, err := io.ReadFull(br, data); err != nil {
			ferr = fmt.Errorf("reading git cat-file: %w", err)
			break
		}
		if err := fn(sha, data[:size]); err != nil {
			ferr = err
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
