package admission

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// metrics is a small Prometheus text-format registry: a handful of counters
// and one latency histogram are all the webhook exports, which does not
// justify a client library dependency.
type metrics struct {
	mu       sync.Mutex
	counters map[string]map[string]float64 // name -> labels -> value
	help     map[string]string
	hist     map[string]*histogram // labels -> histogram
}

var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

type histogram struct {
	counts []uint64
	sum    float64
	n      uint64
}

func newMetrics() *metrics {
	m := &metrics{counters: map[string]map[string]float64{}, hist: map[string]*histogram{}, help: map[string]string{
		"pipeguard_admission_requests_total":       "Admission reviews answered, by endpoint and decision.",
		"pipeguard_admission_verifications_total":  "Image verifications run (cache misses), by result.",
		"pipeguard_admission_cache_total":          "Verdict cache lookups, by result.",
		"pipeguard_admission_policy_reloads_total": "Policy reload attempts, by result.",
		"pipeguard_admission_bad_requests_total":   "Requests refused before review (HTTP 4xx).",
	}}
	return m
}

func labels(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", kv[i], kv[i+1])
	}
	return b.String()
}

func (m *metrics) inc(name string, kv ...string) {
	l := labels(kv...)
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.counters[name]
	if !ok {
		c = map[string]float64{}
		m.counters[name] = c
	}
	c[l]++
}

func (m *metrics) observe(endpoint string, d time.Duration) {
	l := labels("endpoint", endpoint)
	s := d.Seconds()
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.hist[l]
	if !ok {
		h = &histogram{counts: make([]uint64, len(latencyBuckets))}
		m.hist[l] = h
	}
	for i, b := range latencyBuckets {
		if s <= b {
			h.counts[i]++
		}
	}
	h.sum += s
	h.n++
}

func (m *metrics) write(w io.Writer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.counters))
	for n := range m.counters {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", n, m.help[n], n)
		ls := make([]string, 0, len(m.counters[n]))
		for l := range m.counters[n] {
			ls = append(ls, l)
		}
		sort.Strings(ls)
		for _, l := range ls {
			fmt.Fprintf(w, "%s{%s} %g\n", n, l, m.counters[n][l])
		}
	}
	const hn = "pipeguard_admission_duration_seconds"
	fmt.Fprintf(w, "# HELP %s Time to answer an admission review.\n# TYPE %s histogram\n", hn, hn)
	ls := make([]string, 0, len(m.hist))
	for l := range m.hist {
		ls = append(ls, l)
	}
	sort.Strings(ls)
	for _, l := range ls {
		h := m.hist[l]
		for i, b := range latencyBuckets {
			fmt.Fprintf(w, "%s_bucket{%s,le=\"%g\"} %d\n", hn, l, b, h.counts[i])
		}
		fmt.Fprintf(w, "%s_bucket{%s,le=\"+Inf\"} %d\n%s_sum{%s} %g\n%s_count{%s} %d\n", hn, l, h.n, hn, l, h.sum, hn, l, h.n)
	}
}
