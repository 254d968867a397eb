// Package decoy holds the attack-facing listeners of the honeytoken
// service: HTTP decoys (web bug, container registry, npm registry,
// Kubernetes API server, AWS STS), an authoritative DNS server and a
// PostgreSQL front door. They parse strictly, never reflect their input,
// answer known and unknown credentials alike, and limit per-source
// responses while still recording every use of a decoy credential.
package decoy

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Hit is one observed use of a decoy credential.
type Hit struct {
	TokenID   string
	Time      time.Time
	Channel   string // http, dns, postgres
	Source    string // the peer address, without port
	UserAgent string // client software, as it announced itself
	Summary   string // what was asked, with the credential redacted
}

// Index maps a secret string to the token it belongs to. It must be cheap:
// it runs for every candidate credential of every request.
type Index interface {
	Lookup(secret string) (tokenID string, ok bool)
}

// Recorder stores a hit. It may block to apply backpressure but must not
// drop hits.
type Recorder interface {
	Record(ctx context.Context, h Hit) error
}

// Limiter is a per-source token bucket. It bounds the responses and
// costly work a single address (an IPv6 /64) can cause; recording hits is
// never subject to it. Its memory is bounded by maxSources.
type Limiter struct {
	mu         sync.Mutex
	rate       float64 // tokens per second
	burst      float64
	maxSources int
	buckets    map[netip.Addr]*bucket
	now        func() time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewLimiter allows each source rate responses per second with bursts of
// burst, tracking at most maxSources sources.
func NewLimiter(rate float64, burst, maxSources int) *Limiter {
	if maxSources <= 0 {
		maxSources = 1 << 16
	}
	return &Limiter{rate: rate, burst: float64(burst), maxSources: maxSources, buckets: make(map[netip.Addr]*bucket), now: time.Now}
}

func sourceKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// Allow takes one token from a's bucket.
func (l *Limiter) Allow(a netip.Addr) bool {
	if l == nil {
		return true
	}
	k := sourceKey(a)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[k]
	if !ok {
		if len(l.buckets) >= l.maxSources {
			l.evict(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[k] = b
	}
	b.tokens += now.Sub(b.last).Seconds() * l.rate
	if b.tokens > l.burst {
		b.tokens = l.burst
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// evict forgets sources whose bucket has refilled (they lose nothing), and
// if that is not enough, an arbitrary quarter of the rest.
func (l *Limiter) evict(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
	n := len(l.buckets) / 4
	for k := range l.buckets {
		if len(l.buckets) < l.maxSources || n <= 0 {
			break
		}
		delete(l.buckets, k)
		n--
	}
}

// sanitize makes outside text safe to put in an alert: printable ASCII
// only, bounded length.
func sanitize(s string, max int) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < max; i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			b.WriteByte('?')
			continue
		}
		b.WriteByte(c)
	}
	if len(s) > max {
		b.WriteString("…")
	}
	return b.String()
}

// redact replaces each secret in s before it leaves in an alert.
func redact(s string, secrets []string) string {
	for _, x := range secrets {
		if x != "" {
			s = strings.ReplaceAll(s, x, "[honeytoken]")
		}
	}
	return s
}

// lookupAll looks each candidate up once and returns the distinct tokens
// found and the secrets that matched.
func lookupAll(idx Index, cands []string) (ids, matched []string) {
	for _, c := range cands {
		id, ok := idx.Lookup(c)
		if !ok {
			continue
		}
		matched = append(matched, c)
		dup := false
		for _, x := range ids {
			if x == id {
				dup = true
				break
			}
		}
		if !dup {
			ids = append(ids, id)
		}
	}
	return ids, matched
}
