package secrets

import (
	"context"
	"os"
	"sort"
	"sync/atomic"
	"testing"
	"time"
)

// TestProfileRules prints where regex time goes on $PIPEGUARD_PROFILE_DIR.
func TestProfileRules(t *testing.T) {
	dir := os.Getenv("PIPEGUARD_PROFILE_DIR")
	if dir == "" {
		t.Skip("set PIPEGUARD_PROFILE_DIR")
	}
	cfg := gitleaksConfig(t)
	d := NewDetector(cfg)
	d.ruleNanos = make([]atomic.Int64, len(d.rules))
	d.ruleBytes = make([]atomic.Int64, len(d.rules))
	if _, err := d.ScanDir(context.Background(), dir); err != nil {
		t.Log(err)
	}
	idx := make([]int, len(d.rules))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return d.ruleNanos[idx[a]].Load() > d.ruleNanos[idx[b]].Load() })
	for _, i := range idx[:15] {
		t.Logf("%-40s %v bytes=%d maxLen=%d", d.rules[i].ID, time.Duration(d.ruleNanos[i].Load()), d.ruleBytes[i].Load(), d.rules[i].maxLen)
	}
}
