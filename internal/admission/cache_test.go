package admission

import (
	"strconv"
	"testing"
	"time"
)

func TestVerdictCache(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newVerdictCache(10*time.Minute, 3)
	c.now = func() time.Time { return now }
	c.put("pass", &imageVerdict{Passed: true})
	c.put("fail", &imageVerdict{})
	if _, ok := c.get("pass"); !ok {
		t.Fatal("fresh pass missing")
	}
	now = now.Add(31 * time.Second)
	if _, ok := c.get("fail"); ok {
		t.Fatal("a refusal outlived 30 s")
	}
	if _, ok := c.get("pass"); !ok {
		t.Fatal("a pass expired before its TTL")
	}
	now = now.Add(10 * time.Minute)
	if _, ok := c.get("pass"); ok {
		t.Fatal("a pass outlived its TTL")
	}
	for i := 0; i < 10; i++ {
		c.put("k"+strconv.Itoa(i), &imageVerdict{Passed: true})
	}
	if len(c.m) > 3 {
		t.Fatalf("cache grew to %d entries, bound 3", len(c.m))
	}
	off := newVerdictCache(-1, 10)
	off.put("x", &imageVerdict{Passed: true})
	if _, ok := off.get("x"); ok {
		t.Fatal("disabled cache returned an entry")
	}
}
