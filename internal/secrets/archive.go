package secrets

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io"
	"path"
	"strings"
)

// Archive members are scanned like files, to a bounded nesting depth and
// a bounded expanded size, so a zip bomb costs little.
const (
	// DefaultMaxArchiveDepth is how many archives deep a scan looks.
	DefaultMaxArchiveDepth = 3
	maxArchiveBytes        = 256 << 20
	maxMemberBytes         = 64 << 20
)

// isBinary uses git's own heuristic: a NUL byte in the first 8000 bytes.
func isBinary(data []byte) bool {
	n := min(len(data), 8000)
	return bytes.IndexByte(data[:n], 0) >= 0
}

func archiveKind(name string, data []byte) string {
	switch {
	case len(data) >= 4 && string(data[:4]) == "PK\x03\x04":
		return "zip"
	case len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b:
		return "gzip"
	case len(data) >= 262 && string(data[257:262]) == "ustar":
		return "tar"
	}
	_ = name
	return ""
}

// ScanFile scans one file's content: text is scanned directly, archives
// (zip, tar, gzip, tar.gz) are opened and their members scanned, other
// binary content is skipped. Findings in archive members carry the path
// "outer.zip!inner/file".
func (d *Detector) ScanFile(name string, data []byte, commit string) []Finding {
	return d.scanFile(name, data, commit, 0, new(int64))
}

func (d *Detector) scanFile(name string, data []byte, commit string, depth int, budget *int64) []Finding {
	if d.maxTargetBytes > 0 && len(data) > d.maxTargetBytes {
		return nil
	}
	if kind := archiveKind(name, data); kind != "" {
		if depth >= d.maxArchiveDepth() {
			return nil
		}
		return d.scanArchive(kind, name, data, commit, depth, budget)
	}
	if isBinary(data) {
		return nil
	}
	return d.Scan(Fragment{Data: data, Path: name, Commit: commit})
}

func (d *Detector) maxArchiveDepth() int {
	if d.archiveDepth < 0 {
		return 0
	}
	return d.archiveDepth
}

func (d *Detector) scanArchive(kind, name string, data []byte, commit string, depth int, budget *int64) []Finding {
	var out []Finding
	member := func(inner string, r io.Reader) {
		if *budget > maxArchiveBytes {
			return
		}
		b, err := io.ReadAll(io.LimitReader(r, maxMemberBytes))
		if err != nil {
			return
		}
		*budget += int64(len(b))
		out = append(out, d.scanFile(name+"!"+inner, b, commit, depth+1, budget)...)
	}
	switch kind {
	case "zip":
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return nil
		}
		for _, f := range zr.File {
			if f.FileInfo().IsDir() {
				continue
			}
			rc, err := f.Open()
			if err != nil {
				continue
			}
			member(f.Name, rc)
			rc.Close()
		}
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil
		}
		inner := strings.TrimSuffix(path.Base(name), ".gz")
		if strings.HasSuffix(name, ".tgz") {
			inner = strings.TrimSuffix(path.Base(name), ".tgz") + ".tar"
		}
		// A gzip layer does not count as an archive level of its own.
		b, err := io.ReadAll(io.LimitReader(zr, maxMemberBytes))
		if err != nil && len(b) == 0 {
			return nil
		}
		*budget += int64(len(b))
		if k := archiveKind(inner, b); k == "tar" {
			return d.scanArchive("tar", name, b, commit, depth, budget)
		}
		out = append(out, d.scanFile(name+"!"+inner, b, commit, depth+1, budget)...)
	case "tar":
		tr := tar.NewReader(bytes.NewReader(data))
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			if h.Typeflag != tar.TypeReg {
				continue
			}
			member(h.Name, tr)
		}
	}
	return out
}
