package secrets

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
)

// ScanDir scans every regular file under root (skipping .git), opening
// archives, in parallel. Paths in findings are relative to root with
// forward slashes.
func (d *Detector) ScanDir(ctx context.Context, root string) ([]Finding, error) {
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("scanning %s: %w", root, err)
	}
	if !fi.IsDir() {
		data, err := os.ReadFile(root)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", root, err)
		}
		fs := d.ScanFile(filepath.ToSlash(filepath.Base(root)), data, "")
		for i := range fs {
			fs[i].Source = "file"
		}
		return fs, nil
	}
	type job struct{ abs, rel string }
	jobs := make(chan job, 64)
	var (
		mu   sync.Mutex
		out  []Finding
		errs []error
		wg   sync.WaitGroup
	)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if ctx.Err() != nil {
					continue
				}
				if skip, _ := d.PathClass(j.rel); skip {
					continue
				}
				data, err := os.ReadFile(j.abs)
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("reading %s: %w", j.rel, err))
					mu.Unlock()
					continue
				}
				fs := d.ScanFile(j.rel, data, "")
				if len(fs) > 0 {
					for i := range fs {
						fs[i].Source = "file"
					}
					mu.Lock()
					out = append(out, fs...)
					mu.Unlock()
				}
			}
		}()
	}
	werr := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
			return nil
		}
		if e.IsDir() {
			if e.Name() == ".git" && p != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		select {
		case jobs <- job{p, filepath.ToSlash(rel)}:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	})
	close(jobs)
	wg.Wait()
	if werr != nil {
		return nil, werr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	SortFindings(out)
	return out, errors.Join(errs...)
}

// SortFindings orders findings by commit, path, line and rule.
func SortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.StartLine != b.StartLine {
			return a.StartLine < b.StartLine
		}
		return a.RuleID < b.RuleID
	})
}
