package honeytoken

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// maxReport bounds how much of a scanner report is read.
const maxReport = 64 << 20

// sighting holds the fields of a secret scanner finding that matter here
// (the JSON report of `pipeguard secrets scan --output json`).
type sighting struct {
	Honeytoken  string `json:"honeytoken"`
	Fingerprint string `json:"fingerprint"`
	RuleID      string `json:"rule"`
	Path        string `json:"path"`
	Line        int    `json:"line"`
	Commit      string `json:"commit"`
	Author      string `json:"author"`
	Source      string `json:"source"`
	Location    string `json:"location"`
}

// SightingResult counts what IngestSightings found.
type SightingResult struct {
	Sightings int `json:"sightings"`
	// Planted counts sightings at a place the token was planted (no alert).
	Planted int `json:"planted"`
	// Exposed counts sightings elsewhere: each is a hit.
	Exposed int `json:"exposed"`
	// Unverified counts sightings whose fingerprint does not belong to the
	// token they name (a stale or forged report); they are ignored.
	Unverified int `json:"unverified"`
}

// IngestSightings reads a secret scanner report and records every sighting
// of a honeytoken somewhere it was not planted as a hit (channel
// "scanner"). This is how exposure-only tokens (github, slack, stripe)
// alert. A sighting counts only if its keyed fingerprint is in the index
// under the token it names. The same sighting ingested twice counts once.
func (r *Recorder) IngestSightings(ctx context.Context, rd io.Reader, now time.Time) (SightingResult, error) {
	var res SightingResult
	if err := r.reg.Refresh(ctx); err != nil {
		return res, err
	}
	data, err := io.ReadAll(io.LimitReader(rd, maxReport+1))
	if err != nil {
		return res, fmt.Errorf("reading scanner report: %w", err)
	}
	if len(data) > maxReport {
		return res, fmt.Errorf("scanner report is larger than %d bytes", maxReport)
	}
	var rep struct {
		Sightings *[]sighting `json:"honeytokenSightings"`
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		return res, fmt.Errorf("scanner report: %w", err)
	}
	if rep.Sightings == nil {
		return res, fmt.Errorf("scanner report has no honeytokenSightings array (want the JSON of `pipeguard secrets scan --output json`)")
	}
	var hits []Hit
	var keys []string
	for _, s := range *rep.Sightings {
		res.Sightings++
		id, ok := r.reg.indexed(s.Fingerprint)
		if !ok || id != s.Honeytoken {
			res.Unverified++
			continue
		}
		tok, err := r.reg.Get(ctx, id)
		if err != nil {
			return res, err
		}
		if s.Commit == "" && plantedAt(tok.Planted, s.Path) {
			res.Planted++
			continue
		}
		res.Exposed++
		where := s.Path + ":" + strconv.Itoa(s.Line)
		if s.Commit != "" {
			where += " in commit " + s.Commit
		}
		src := s.Location
		if src == "" {
			src = s.Source
		}
		hits = append(hits, Hit{
			TokenID: id, Time: now.UTC(), Channel: "scanner",
			Source: clean(src, 100), UserAgent: clean(s.Author, 200),
			Summary: clean("exposed: rule "+s.RuleID+" at "+where, 300),
		})
		keys = append(keys, "scan:"+id+":"+s.Fingerprint+":"+s.Path+":"+strconv.Itoa(s.Line)+":"+s.Commit)
	}
	if len(hits) > 0 {
		if err := r.Store(ctx, hits, keys); err != nil {
			return res, err
		}
	}
	return res, nil
}

// plantedAt reports whether path (as the scanner saw it, often relative
// to the scanned root) is one of the places the token was planted.
func plantedAt(planted []string, path string) bool {
	if path == "" {
		return false
	}
	p := filepath.Clean(path)
	for _, pl := range planted {
		pl = filepath.Clean(pl)
		if pl == p || strings.HasSuffix(pl, string(filepath.Separator)+strings.TrimPrefix(p, string(filepath.Separator))) {
			return true
		}
	}
	return false
}

// indexed looks a fingerprint up in the loaded index.
func (r *Registry) indexed(fp string) (string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	id, ok := r.index[fp]
	return id, ok
}
