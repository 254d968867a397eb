package honeytoken

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// maxCloudTrailFile bounds how much of one (decompressed) log file is read.
const maxCloudTrailFile = 256 << 20

// cloudTrailRecord holds the fields of a CloudTrail record that matter
// here; the rest is ignored.
type cloudTrailRecord struct {
	EventID      string `json:"eventID"`
	EventTime    string `json:"eventTime"`
	EventName    string `json:"eventName"`
	EventSource  string `json:"eventSource"`
	AWSRegion    string `json:"awsRegion"`
	SourceIP     string `json:"sourceIPAddress"`
	UserAgent    string `json:"userAgent"`
	ErrorCode    string `json:"errorCode"`
	UserIdentity *struct {
		AccessKeyID string `json:"accessKeyId"`
		UserName    string `json:"userName"`
	} `json:"userIdentity"`
}

// IngestResult counts what an ingest found.
type IngestResult struct {
	Files   int `json:"files"`
	Records int `json:"records"`
	Hits    int `json:"hits"`
	// Skipped counts files in a directory that are not CloudTrail logs.
	Skipped int `json:"skipped"`
}

// IngestCloudTrail reads CloudTrail log files (JSON, optionally gzipped;
// path is a file or a directory searched recursively) and records every
// event made with a registered AWS token: matched by access key id, or by
// the IAM user name of a key registered with one. Events already ingested
// are not counted twice.
func (r *Recorder) IngestCloudTrail(ctx context.Context, path string) (IngestResult, error) {
	var res IngestResult
	if err := r.reg.Refresh(ctx); err != nil {
		return res, err
	}
	var files []string
	fi, err := os.Stat(path)
	if err != nil {
		return res, fmt.Errorf("reading CloudTrail logs: %w", err)
	}
	if fi.IsDir() {
		err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(p, ".json") || strings.HasSuffix(p, ".json.gz")) {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("reading CloudTrail logs: %w", err)
		}
	} else {
		files = []string{path}
	}
	for _, f := range files {
		hits, keys, n, err := r.parseCloudTrail(f)
		if errors.Is(err, errNotCloudTrail) && fi.IsDir() {
			res.Skipped++
			continue
		}
		if err != nil {
			return res, err
		}
		res.Files++
		res.Records += n
		if len(hits) > 0 {
			if err := r.Store(ctx, hits, keys); err != nil {
				return res, err
			}
		}
		res.Hits += len(hits)
	}
	return res, nil
}

func (r *Recorder) parseCloudTrail(path string) ([]Hit, []string, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("reading CloudTrail log: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var rd io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("reading CloudTrail log %s: %w", path, err)
		}
		defer gz.Close()
		rd = gz
	}
	data, err := io.ReadAll(io.LimitReader(rd, maxCloudTrailFile+1))
	if err != nil {
		return nil, nil, 0, fmt.Errorf("reading CloudTrail log %s: %w", path, err)
	}
	if len(data) > maxCloudTrailFile {
		return nil, nil, 0, fmt.Errorf("CloudTrail log %s is larger than %d bytes", path, maxCloudTrailFile)
	}
	var doc struct {
		Records []cloudTrailRecord `json:"Records"`
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil || top["Records"] == nil {
		return nil, nil, 0, fmt.Errorf("%s: %w", path, errNotCloudTrail)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, nil, 0, fmt.Errorf("CloudTrail log %s: %w", path, err)
	}
	var hits []Hit
	var keys []string
	for _, rec := range doc.Records {
		if rec.UserIdentity == nil {
			continue
		}
		id, ok := "", false
		if k := rec.UserIdentity.AccessKeyID; k != "" {
			id, ok = r.reg.Lookup(k)
		}
		if !ok && rec.UserIdentity.UserName != "" {
			id, ok = r.reg.lookupCloudUser(rec.UserIdentity.UserName)
		}
		if !ok {
			continue
		}
		t, err := time.Parse(time.RFC3339, rec.EventTime)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("CloudTrail log %s: event %s: bad eventTime: %w", path, rec.EventID, err)
		}
		summary := rec.EventSource + " " + rec.EventName + " in " + rec.AWSRegion
		if rec.ErrorCode != "" {
			summary += " (" + rec.ErrorCode + ")"
		}
		hits = append(hits, Hit{
			TokenID: id, Time: t.UTC(), Channel: "cloudtrail",
			Source: clean(rec.SourceIP, 100), UserAgent: clean(rec.UserAgent, 200), Summary: clean(summary, 300),
		})
		key := ""
		if rec.EventID != "" {
			key = "cloudtrail:" + rec.EventID + ":" + id
		}
		keys = append(keys, key)
	}
	return hits, keys, len(doc.Records), nil
}

// clean keeps printable ASCII of outside text, bounded.
func clean(s string, max int) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < max; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}

// errNotCloudTrail marks a JSON file that is not a CloudTrail log (no
// top-level Records).
var errNotCloudTrail = errors.New("not a CloudTrail log (no top-level Records array)")
