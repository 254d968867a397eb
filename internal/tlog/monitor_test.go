package tlog

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
)

// switchableLog serves, at one URL, the tiles of whichever log directory
// is current: the way a compromised server could show different
// histories to the same monitor.
type switchableLog struct {
	dir  atomic.Value // string
	vkey atomic.Value // string
}

func (s *switchableLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == PathVerifierKey {
		fmt.Fprintln(w, s.vkey.Load().(string))
		return
	}
	p := path.Clean(r.URL.Path)
	if p != PathCheckpoint && !strings.HasPrefix(p, "/tile/") {
		http.NotFound(w, r)
		return
	}
	data, err := os.ReadFile(filepath.Join(s.dir.Load().(string), filepath.FromSlash(p[1:])))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Write(data)
}

func TestMonitorDetectsForkRewriteAndShrink(t *testing.T) {
	id := newTestIdentity(t)
	s := newTestSigner(t)
	ctx := context.Background()
	mkLog := func(prefix string, n int) (string, *Log, []*protorekor.TransparencyLogEntry) {
		dir := t.TempDir()
		l := openTestLog(t, dir, id)
		return dir, l, addConcurrently(t, l, s, prefix, n)
	}
	dirA, logA, entriesA := mkLog("a", 10)
	dirFork, _, _ := mkLog("fork", 10)
	dirShrunk, _, _ := mkLog("a", 5)
	dirRewritten, _, _ := mkLog("rewrite", 15)
	// Same origin, another key: checkpoints the monitor must not accept.
	impostor, err := CreateIdentity(filepath.Join(t.TempDir(), "imp"), id.Origin, nil)
	if err != nil {
		t.Fatal(err)
	}
	dirImpostor := t.TempDir()
	li := openTestLog(t, dirImpostor, impostor)
	addConcurrently(t, li, s, "imp", 12)

	sw := &switchableLog{}
	sw.dir.Store(dirA)
	sw.vkey.Store(id.VerifierKey())
	hs := httptest.NewServer(sw)
	defer hs.Close()
	c, err := NewClient(hs.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	// First run pins the key and remembers size 10.
	base := filepath.Join(t.TempDir(), "state.json")
	res, err := Monitor(ctx, c, MonitorConfig{StatePath: base})
	if err != nil || !res.TrustedNow || res.Size != 10 {
		t.Fatalf("first run: %+v, %v", res, err)
	}
	pinned, _ := os.ReadFile(base)
	bundleA := &protobundle.Bundle{VerificationMaterial: &protobundle.VerificationMaterial{TlogEntries: entriesA[:1]}}

	for _, tc := range []struct {
		name    string
		dir     string
		bundles []*protobundle.Bundle
		fresh   bool // no remembered state: only the bundle's checkpoint is compared
		want    string
	}{
		{"fork", dirFork, nil, false, "forked"},
		{"shrink", dirShrunk, nil, false, "shrank"},
		{"rewrite", dirRewritten, nil, false, "rewritten"},
		{"checkpoint by another key", dirImpostor, nil, false, "not signed"},
		{"bundle from another history", dirFork, []*protobundle.Bundle{bundleA}, true, "forked"},
		{"bundle from a longer history", dirShrunk, []*protobundle.Bundle{bundleA}, true, "shrank"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := filepath.Join(t.TempDir(), "state.json")
			cfg := MonitorConfig{StatePath: st, Bundles: tc.bundles}
			if tc.fresh {
				cfg.VerifierKey = id.VerifierKey()
			} else {
				os.WriteFile(st, pinned, 0o644)
			}
			sw.dir.Store(tc.dir)
			defer sw.dir.Store(dirA)
			_, err := Monitor(ctx, c, cfg)
			var alert *Alert
			if !errors.As(err, &alert) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an alert about %q", err, tc.want)
			}
			if after, _ := os.ReadFile(st); !tc.fresh && string(after) != string(pinned) {
				t.Fatal("state was updated despite the alert")
			}
		})
	}

	// The honest log grows: consistent, and the state moves on.
	addConcurrently(t, logA, s, "a-more", 7)
	res, err = Monitor(ctx, c, MonitorConfig{StatePath: base, Bundles: []*protobundle.Bundle{bundleA}})
	if err != nil {
		t.Fatalf("growth flagged: %v", err)
	}
	if !res.HadPrevious || res.PreviousSize != 10 || res.Size != 17 || res.BundlesSeen != 1 {
		t.Fatalf("unexpected result %+v", res)
	}
	// A key change on the server is an alert too.
	sw.vkey.Store(impostor.VerifierKey())
	if _, err := Monitor(ctx, c, MonitorConfig{StatePath: base, VerifierKey: impostor.VerifierKey()}); err == nil {
		t.Fatal("verifier key change not flagged")
	}
}
