package admission

import (
	"sync"
	"time"
)

// verdictCache keeps verification outcomes by policy and image digest. A
// digest names immutable content, so a verdict for it stays right until the
// policy changes (the key includes the policy's digest) or new attestations
// arrive (the TTL bounds how long a refusal outlives a fix).
type verdictCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	failTTL time.Duration
	max     int
	now     func() time.Time
	m       map[string]cacheEntry
}

type cacheEntry struct {
	v       *imageVerdict
	expires time.Time
}

func newVerdictCache(ttl time.Duration, max int) *verdictCache {
	failTTL := ttl
	if failTTL > 30*time.Second {
		failTTL = 30 * time.Second
	}
	return &verdictCache{ttl: ttl, failTTL: failTTL, max: max, now: time.Now, m: map[string]cacheEntry{}}
}

func (c *verdictCache) get(key string) (*imageVerdict, bool) {
	if c.ttl <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok {
		return nil, false
	}
	if c.now().After(e.expires) {
		delete(c.m, key)
		return nil, false
	}
	return e.v, true
}

func (c *verdictCache) put(key string, v *imageVerdict) {
	if c.ttl <= 0 {
		return
	}
	ttl := c.ttl
	if !v.Passed {
		ttl = c.failTTL
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.m) >= c.max {
		for k, e := range c.m {
			if now.After(e.expires) {
				delete(c.m, k)
			}
		}
		// Still full: drop arbitrary entries rather than grow without bound.
		for k := range c.m {
			if len(c.m) < c.max {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[key] = cacheEntry{v: v, expires: now.Add(ttl)}
}
