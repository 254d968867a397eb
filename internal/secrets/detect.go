package secrets

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pipeguard/pipeguard/internal/fingerprint"
)

// Finding is one secret found. The secret itself is kept only in
// unexported fields, so that marshalling a Finding can never leak it: what
// leaves the process is the redacted preview and the keyed fingerprint.
type Finding struct {
	RuleID      string   `json:"rule"`
	Description string   `json:"description,omitempty"`
	Path        string   `json:"path"`
	StartLine   int      `json:"line"`
	EndLine     int      `json:"endLine"`
	StartColumn int      `json:"column"`
	EndColumn   int      `json:"endColumn"`
	Commit      string   `json:"commit,omitempty"`
	Author      string   `json:"author,omitempty"`
	Email       string   `json:"email,omitempty"`
	Date        string   `json:"date,omitempty"`
	Message     string   `json:"message,omitempty"`
	Entropy     float64  `json:"entropy"`
	Tags        []string `json:"tags,omitempty"`
	Severity    string   `json:"severity"`
	// Fingerprint is the keyed HMAC of the secret: stable across commits,
	// paths and history rewrites.
	Fingerprint string `json:"fingerprint"`
	// Redacted shows at most a short prefix of the secret.
	Redacted string `json:"redacted"`
	// Source names where the text came from (git, file, stdin, jira, slack)
	// and Location adds detail such as an archive member or a ticket key.
	Source   string `json:"source,omitempty"`
	Location string `json:"location,omitempty"`
	// Honeytoken is the id of the pipeguard honeytoken this secret belongs
	// to, if any; such findings are sightings, not leaks.
	Honeytoken string `json:"honeytoken,omitempty"`

	secret        string
	redactedMatch string
	// match is set only while the finding is being judged.
	match string
}

// RedactedMatch returns the matched text with the secret replaced, the
// way gitleaks --redact writes Match (cut at maxRedactedMatch bytes).
func (f *Finding) RedactedMatch() string { return f.redactedMatch }

// maxRedactedMatch bounds the redacted match a finding keeps, so that a
// scan with many findings in long lines stays small in memory.
const maxRedactedMatch = 512

// Fragment is a piece of text to scan and where it came from.
type Fragment struct {
	Data   []byte
	Path   string
	Commit string
}

// Detector applies a Config to fragments. It is safe for concurrent use.
type Detector struct {
	cfg            *Config
	rules          []compiledRule
	kw             *keywordMatcher
	kwRules        [][]int32 // keyword index -> rules
	always         []int     // rules with a regex but no keywords
	pathOnly       []int
	key            []byte
	maxDecodeDepth int
	maxTargetBytes int
	noWindows      bool
	keepShadowed   bool
	archiveDepth   int
	// ruleNanos, when set, accumulates the time spent in each rule's
	// regex (profiling aid for tests and benchmarks).
	ruleNanos []atomic.Int64
	ruleBytes []atomic.Int64

	// Path-dependent decisions (global path allowlists, rule paths, rule
	// path allowlists) are evaluated once per path: with hundreds of
	// thousands of hunks they would otherwise cost more than the scan.
	pathRules []int // rules whose outcome can depend on the path
	pathCache sync.Map
	pathCount atomic.Int64
	internMu  sync.Mutex
	intern    map[string]*pathInfo
}

// pathInfo is what the rules decide about one path.
type pathInfo struct {
	skip bool   // a global allowlist skips the file
	off  []bool // rule index -> the rule does not apply to this path
}

// maxPathCache bounds the per-path cache.
const maxPathCache = 1 << 20

func (d *Detector) pathInfo(path, commit string) *pathInfo {
	if commit != "" {
		return d.computePathInfo(path, commit)
	}
	if v, ok := d.pathCache.Load(path); ok {
		return v.(*pathInfo)
	}
	pi := d.computePathInfo(path, "")
	key := make([]byte, 0, len(pi.off)+1)
	if pi.skip {
		key = append(key, 1)
	} else {
		key = append(key, 0)
	}
	for _, o := range pi.off {
		if o {
			key = append(key, 1)
		} else {
			key = append(key, 0)
		}
	}
	d.internMu.Lock()
	if p, ok := d.intern[string(key)]; ok {
		pi = p
	} else {
		d.intern[string(key)] = pi
	}
	d.internMu.Unlock()
	if d.pathCount.Add(1) < maxPathCache {
		d.pathCache.Store(path, pi)
	}
	return pi
}

func (d *Detector) computePathInfo(path, commit string) *pathInfo {
	pi := &pathInfo{skip: commitOrPathAllowed(d.cfg.Allowlists, path, commit)}
	if len(d.pathRules) > 0 {
		pi.off = make([]bool, len(d.rules))
		for _, i := range d.pathRules {
			r := d.rules[i]
			pi.off[i] = r.Path != nil && !r.Path.MatchString(path) || commitOrPathAllowed(r.Allowlists, path, commit)
		}
	}
	return pi
}

func (pi *pathInfo) ruleOff(i int) bool { return pi.off != nil && pi.off[i] }

type compiledRule struct {
	*Rule
	maxLen int
	// multiline: unbounded and able to run over any number of lines, so
	// windows cannot bound it and it runs on the whole fragment.
	multiline bool
	generic   bool
	anchor    *anchor
}

// DetectorOption configures a Detector.
type DetectorOption func(*Detector)

// WithFingerprintKey sets the key of finding fingerprints (default: a
// random key, so fingerprints are only comparable within one run).
func WithFingerprintKey(k []byte) DetectorOption { return func(d *Detector) { d.key = k } }

// WithMaxDecodeDepth bounds how many layers of base64/hex/percent encoding
// are peeled (default 5, like gitleaks; 0 disables decoding).
func WithMaxDecodeDepth(n int) DetectorOption { return func(d *Detector) { d.maxDecodeDepth = n } }

// WithMaxArchiveDepth bounds how many nested archives are opened (0: do
// not open archives).
func WithMaxArchiveDepth(n int) DetectorOption { return func(d *Detector) { d.archiveDepth = n } }

// WithMaxTargetBytes skips fragments larger than n bytes (0: no limit).
func WithMaxTargetBytes(n int) DetectorOption { return func(d *Detector) { d.maxTargetBytes = n } }

// withoutWindows runs every rule over the whole fragment; tests use it to
// check that keyword windows lose nothing.
func withoutWindows() DetectorOption { return func(d *Detector) { d.noWindows = true } }

// keepShadowedGeneric keeps generic findings that a specific rule also
// found; the recall test uses it because gitleaks' samples label each
// rule in isolation.
func keepShadowedGeneric() DetectorOption { return func(d *Detector) { d.keepShadowed = true } }

// maxWindowLine caps how far a window is widened to whole lines, so one
// minified megabyte-long line does not turn windows into full scans.
const maxWindowLine = 16 << 10

// unboundedWindow is the reach assumed for patterns without a length
// bound when placing windows (see runRule for the fallback).
const unboundedWindow = 512

// NewDetector compiles cfg.
func NewDetector(cfg *Config, opts ...DetectorOption) *Detector {
	d := &Detector{cfg: cfg, maxDecodeDepth: 5, archiveDepth: DefaultMaxArchiveDepth}
	for _, o := range opts {
		o(d)
	}
	if d.key == nil {
		d.key = make([]byte, fingerprint.KeySize)
		rand.Read(d.key)
	}
	kwIndex := map[string]int32{}
	var kws []string
	for i, r := range cfg.Rules {
		cr := compiledRule{Rule: r, maxLen: unbounded, generic: strings.Contains(strings.ToLower(r.ID), "generic")}
		if r.Regex != nil {
			cr.maxLen = maxMatchBytes(r.Regex.String())
			cr.multiline = cr.maxLen == unbounded && crossesLines(r.Regex.String())
			if !cr.multiline {
				cr.anchor = newAnchor(r.Regex.String())
			}
		}
		d.rules = append(d.rules, cr)
		if r.Regex == nil {
			d.pathOnly = append(d.pathOnly, i)
			continue
		}
		if len(r.Keywords) == 0 {
			d.always = append(d.always, i)
			continue
		}
		for _, k := range r.Keywords {
			ki, ok := kwIndex[k]
			if !ok {
				ki = int32(len(kws))
				kwIndex[k] = ki
				kws = append(kws, k)
				d.kwRules = append(d.kwRules, nil)
			}
			if l := d.kwRules[ki]; len(l) == 0 || l[len(l)-1] != int32(i) {
				d.kwRules[ki] = append(d.kwRules[ki], int32(i))
			}
		}
	}
	d.kw = newKeywordMatcher(kws)
	d.intern = map[string]*pathInfo{}
	for i, r := range d.rules {
		if r.Path != nil {
			d.pathRules = append(d.pathRules, i)
			continue
		}
		for _, a := range r.Allowlists {
			if len(a.Paths) > 0 || len(a.Commits) > 0 {
				d.pathRules = append(d.pathRules, i)
				break
			}
		}
	}
	return d
}

// Config returns the detector's ruleset.
func (d *Detector) Config() *Config { return d.cfg }

// Fingerprint returns the keyed fingerprint of a secret.
func (d *Detector) Fingerprint(secret string) string { return fingerprint.Of(d.key, secret) }

// pathAllowedGlobally reports whether a global allowlist skips the whole
// fragment by its commit or path.
func commitOrPathAllowed(als []*Allowlist, path, commit string) bool {
	if path == "" && commit == "" {
		return false
	}
	for _, a := range als {
		c := a.commitAllowed(commit)
		p := a.pathAllowed(path)
		if a.Condition == CondAND {
			if len(a.Regexes) > 0 || len(a.StopWords) > 0 {
				continue
			}
			ok := true
			if len(a.Commits) > 0 {
				ok = ok && c
			}
			if len(a.Paths) > 0 {
				ok = ok && p
			}
			if ok {
				return true
			}
			continue
		}
		if c || p {
			return true
		}
	}
	return false
}

func findingAllowed(als []*Allowlist, f *Finding, path, commit, line string) bool {
	for _, a := range als {
		target := f.secret
		switch a.RegexTarget {
		case "match":
			target = f.match
		case "line":
			target = line
		}
		if a.Condition == CondAND {
			ok := true
			if len(a.Commits) > 0 {
				ok = ok && a.commitAllowed(commit)
			}
			if len(a.Paths) > 0 {
				ok = ok && a.pathAllowed(path)
			}
			if len(a.Regexes) > 0 {
				ok = ok && a.regexAllowed(target)
			}
			if len(a.StopWords) > 0 {
				ok = ok && a.stopWord(f.secret)
			}
			if ok {
				return true
			}
			continue
		}
		if a.regexAllowed(target) || a.stopWord(f.secret) {
			return true
		}
	}
	return false
}

// Scan returns the findings in one fragment, without fingerprints of
// honeytokens resolved and without any suppression beyond the config's
// own allowlists and inline allow comments.
func (d *Detector) Scan(frag Fragment) []Finding {
	if d.maxTargetBytes > 0 && len(frag.Data) > d.maxTargetBytes {
		return nil
	}
	pi := d.pathInfo(frag.Path, frag.Commit)
	if pi.skip {
		return nil
	}
	var out []Finding
	for _, i := range d.pathOnly {
		r := d.rules[i]
		if !pi.ruleOff(i) && !r.SkipReport {
			out = append(out, Finding{RuleID: r.ID, Description: r.Description, Path: frag.Path, Commit: frag.Commit,
				Tags: r.Tags, Severity: severityOf(r.Rule), redactedMatch: "file detected: " + frag.Path, Redacted: "file detected"})
		}
	}
	st := &scanState{pi: pi}
	out = d.scanData(st, frag.Data, frag.Path, frag.Commit, 0, out)
	if !d.keepShadowed {
		out = dropShadowedGeneric(out)
	}
	for i := range out {
		f := &out[i]
		if f.secret != "" {
			f.Fingerprint = d.Fingerprint(f.secret)
			f.Redacted = redact(f.secret)
		} else if f.Fingerprint == "" {
			f.Fingerprint = d.Fingerprint("path:" + f.RuleID + ":" + f.Path)
		}
	}
	return out
}

// scanState holds per-scan scratch buffers.
type scanState struct {
	pi      *pathInfo
	hits    []hit
	perRule map[int32][][2]int
}

type window struct{ lo, hi int }

func (d *Detector) scanData(st *scanState, data []byte, path, commit string, depth int, out []Finding) []Finding {
	if len(data) == 0 {
		return out
	}
	st.hits = d.kw.find(data, st.hits[:0])
	var lines *lineIndex
	ran := map[int]bool{}
	if len(st.hits) > 0 {
		if st.perRule == nil {
			st.perRule = map[int32][][2]int{}
		}
		for k := range st.perRule {
			st.perRule[k] = st.perRule[k][:0]
		}
		for _, h := range st.hits {
			kl := len(d.kw.keywords[h.kw])
			for _, ri := range d.kwRules[h.kw] {
				st.perRule[ri] = append(st.perRule[ri], [2]int{h.end - kl, h.end})
			}
		}
		// Deterministic order: rules by index.
		idx := make([]int, 0, len(st.perRule))
		for ri, hs := range st.perRule {
			if len(hs) > 0 {
				idx = append(idx, int(ri))
			}
		}
		sort.Ints(idx)
		for _, ri := range idx {
			ran[ri] = true
			out = d.runRule(st.pi, ri, data, st.perRule[int32(ri)], path, commit, &lines, out)
		}
	}
	for _, ri := range d.always {
		out = d.runRule(st.pi, ri, data, nil, path, commit, &lines, out)
	}
	if depth < d.maxDecodeDepth {
		out = d.scanDecoded(st, data, path, commit, depth, &lines, out)
	}
	return out
}

func (d *Detector) runRule(pi *pathInfo, ri int, data []byte, hs [][2]int, path, commit string, lines **lineIndex, out []Finding) []Finding {
	r := &d.rules[ri]
	if r.SkipReport {
		return out
	}
	if pi.ruleOff(ri) {
		return out
	}
	var wins []window
	capped := false
	switch {
	case hs == nil || d.noWindows || r.multiline:
		wins = []window{{0, len(data)}}
	case r.maxLen == unbounded:
		// Unbounded patterns get windows as if each match were at most
		// unboundedWindow long; a match that touches a window's edge may
		// have been cut short, and then the rule reruns on the whole text.
		wins = d.windows(data, hs, unboundedWindow)
		capped = true
	default:
		wins = d.windows(data, hs, r.maxLen)
	}
	if r.anchor != nil && !d.noWindows && !r.multiline {
		return d.runAnchored(r, data, wins, path, commit, lines, out)
	}
	if len(wins) == 1 && wins[0].lo == 0 && wins[0].hi == len(data) {
		capped = false
	}
	if capped {
		var ms [][2]int
		for _, w := range wins {
			for _, m := range r.Regex.FindAllIndex(data[w.lo:w.hi], -1) {
				if m[0] == 0 && w.lo > 0 || m[1] == w.hi-w.lo && w.hi < len(data) {
					return d.runRule(pi, ri, data, nil, path, commit, lines, out)
				}
				ms = append(ms, [2]int{w.lo + m[0], w.lo + m[1]})
			}
		}
		for _, m := range ms {
			out = d.emit(r, data, m[0], m[1], path, commit, lines, out)
		}
		return out
	}
	if d.ruleNanos != nil {
		t0 := time.Now()
		defer func() { d.ruleNanos[ri].Add(int64(time.Since(t0))) }()
		for _, w := range wins {
			d.ruleBytes[ri].Add(int64(w.hi - w.lo))
		}
	}
	for _, w := range wins {
		sub := data[w.lo:w.hi]
		for _, m := range r.Regex.FindAllIndex(sub, -1) {
			out = d.emit(r, data, w.lo+m[0], w.lo+m[1], path, commit, lines, out)
		}
	}
	return out
}

// windows turns keyword hits into merged byte ranges that contain every
// match that overlaps a hit, widened to whole lines so anchors and word
// boundaries behave as on the full text.
func (d *Detector) windows(data []byte, hs [][2]int, maxLen int) []window {
	sort.Slice(hs, func(i, j int) bool { return hs[i][0] < hs[j][0] })
	var wins []window
	for _, h := range hs {
		lo, hi := h[1]-maxLen, h[0]+maxLen
		if lo < 0 {
			lo = 0
		}
		if hi > len(data) {
			hi = len(data)
		}
		if n := len(wins); n > 0 && lo <= wins[n-1].hi {
			if hi > wins[n-1].hi {
				wins[n-1].hi = hi
			}
			continue
		}
		wins = append(wins, window{lo, hi})
	}
	for i := range wins {
		w := &wins[i]
		floor := max(0, w.lo-maxWindowLine)
		if j := bytes.LastIndexByte(data[floor:w.lo], '\n'); j >= 0 {
			w.lo = floor + j + 1
		} else {
			w.lo = floor
		}
		ceil := min(len(data), w.hi+maxWindowLine)
		if j := bytes.IndexByte(data[w.hi:ceil], '\n'); j >= 0 {
			w.hi += j + 1
		} else {
			w.hi = ceil
		}
	}
	// Widening can make neighbours overlap again.
	merged := wins[:0]
	for _, w := range wins {
		if n := len(merged); n > 0 && w.lo <= merged[n-1].hi {
			if w.hi > merged[n-1].hi {
				merged[n-1].hi = w.hi
			}
			continue
		}
		merged = append(merged, w)
	}
	return merged
}

// lineIndex maps byte offsets to 1-based lines.
type lineIndex struct{ nl []int }

func newLineIndex(data []byte) *lineIndex {
	li := &lineIndex{}
	for i, c := range data {
		if c == '\n' {
			li.nl = append(li.nl, i)
		}
	}
	return li
}

// line returns the 1-based line of offset and the offset its line starts at.
func (li *lineIndex) line(off int) (int, int) {
	n := sort.SearchInts(li.nl, off) // newlines before off
	start := 0
	if n > 0 {
		start = li.nl[n-1] + 1
	}
	return n + 1, start
}

func (li *lineIndex) lineEnd(data []byte, off int) int {
	n := sort.SearchInts(li.nl, off)
	if n < len(li.nl) {
		return li.nl[n]
	}
	return len(data)
}

func (d *Detector) emit(r *compiledRule, data []byte, m0, m1 int, path, commit string, lines **lineIndex, out []Finding) []Finding {
	match := strings.Trim(string(data[m0:m1]), "\n")
	if match == "" {
		return out
	}
	// Keep the offsets pointing at the trimmed text.
	if lead := strings.Index(string(data[m0:m1]), match); lead > 0 {
		m0 += lead
	}
	m1 = m0 + len(match)
	if *lines == nil {
		*lines = newLineIndex(data)
	}
	li := *lines
	startLine, lineStart := li.line(m0)
	endLine, endLineStart := li.line(m1 - 1)
	lineEnd := li.lineEnd(data, m1-1)
	line := string(data[lineStart:lineEnd])
	if strings.Contains(line, "gitleaks:allow") || strings.Contains(line, "pipeguard:allow") {
		return out
	}
	f := Finding{
		RuleID: r.ID, Description: r.Description, Path: path, Commit: commit,
		StartLine: startLine, EndLine: endLine, StartColumn: m0 - lineStart + 1, EndColumn: m1 - endLineStart,
		Tags: r.Tags, Severity: severityOf(r.Rule), match: match, secret: match,
	}
	if g := r.Regex.FindStringSubmatch(match); len(g) >= 2 {
		if r.SecretGroup > 0 {
			if len(g) <= r.SecretGroup {
				return out
			}
			f.secret = g[r.SecretGroup]
		} else {
			for _, s := range g[1:] {
				if s != "" {
					f.secret = s
					break
				}
			}
		}
	}
	f.Entropy = shannonEntropy(f.secret)
	if r.Entropy != 0 && f.Entropy <= r.Entropy {
		return out
	}
	if findingAllowed(d.cfg.Allowlists, &f, path, commit, line) || findingAllowed(r.Allowlists, &f, path, commit, line) {
		return out
	}
	f.redactedMatch = strings.ReplaceAll(f.match, f.secret, "REDACTED")
	if len(f.redactedMatch) > maxRedactedMatch {
		f.redactedMatch = f.redactedMatch[:maxRedactedMatch]
	}
	f.match = ""
	return append(out, f)
}

// dropShadowedGeneric removes a generic-rule finding when a specific rule
// found a secret containing it on the same line, as gitleaks does, so one
// token is not reported twice.
func dropShadowedGeneric(fs []Finding) []Finding {
	if len(fs) < 2 {
		return fs
	}
	keep := fs[:0]
	for i, f := range fs {
		drop := false
		if strings.Contains(strings.ToLower(f.RuleID), "generic") {
			for j, g := range fs {
				if i != j && g.StartLine == f.StartLine && g.Commit == f.Commit && g.RuleID != f.RuleID &&
					strings.Contains(g.secret, f.secret) && !strings.Contains(strings.ToLower(g.RuleID), "generic") {
					drop = true
					break
				}
			}
		}
		if !drop {
			keep = append(keep, f)
		}
	}
	return keep
}

// shannonEntropy is the Shannon entropy of s in bits per character,
// counted over runes and divided by the byte length, as gitleaks does, so
// the entropy thresholds of existing configs keep their meaning.
func shannonEntropy(s string) float64 {
	if s == "" {
		return 0
	}
	counts := map[rune]int{}
	for _, r := range s {
		counts[r]++
	}
	n := float64(len(s))
	e := 0.0
	for _, c := range counts {
		p := float64(c) / n
		e -= p * math.Log2(p)
	}
	return e
}

// redact shows a short prefix of long secrets and nothing of short ones.
func redact(s string) string {
	switch {
	case len(s) >= 20:
		return s[:4] + strings.Repeat("*", 8)
	case len(s) >= 12:
		return s[:2] + strings.Repeat("*", 8)
	default:
		return strings.Repeat("*", 8)
	}
}

// severityOf returns the rule's severity, defaulting generic rules to
// medium and every provider-specific rule to high.
func severityOf(r *Rule) string {
	if r.Severity != "" {
		return r.Severity
	}
	if strings.Contains(strings.ToLower(r.ID), "generic") {
		return "medium"
	}
	return "high"
}

// PathClass says whether a path is skipped outright by a global
// allowlist and otherwise returns a signature of how the rules treat the
// path: two paths with the same signature give the same findings for the
// same content, so a blob seen under both is scanned once.
func (d *Detector) PathClass(path string) (skip bool, sig string) {
	pi := d.pathInfo(path, "")
	if pi.skip {
		return true, ""
	}
	return false, fmt.Sprintf("%p", pi)
}

// CommitAllowed reports whether an allowlist skips findings of rule in
// commit.
func (d *Detector) CommitAllowed(commit, rule string) bool {
	if commit == "" {
		return false
	}
	if commitOrPathAllowed(onlyCommitLists(d.cfg.Allowlists), "", commit) {
		return true
	}
	if r := d.cfg.RuleByID(rule); r != nil {
		return commitOrPathAllowed(onlyCommitLists(r.Allowlists), "", commit)
	}
	return false
}

func onlyCommitLists(als []*Allowlist) []*Allowlist {
	var out []*Allowlist
	for _, a := range als {
		if len(a.Commits) > 0 {
			out = append(out, a)
		}
	}
	return out
}

// RuleTime is the regex time one rule took, for profiling.
type RuleTime struct {
	Rule  string
	Time  time.Duration
	Bytes int64
}

// EnableRuleProfile makes the detector account regex time per rule; call
// it before scanning. RuleProfile reports the totals, slowest first.
func (d *Detector) EnableRuleProfile() {
	d.ruleNanos = make([]atomic.Int64, len(d.rules))
	d.ruleBytes = make([]atomic.Int64, len(d.rules))
}

// RuleProfile returns the per-rule regex time, slowest first.
func (d *Detector) RuleProfile() []RuleTime {
	var out []RuleTime
	for i := range d.ruleNanos {
		if n := d.ruleNanos[i].Load(); n > 0 {
			out = append(out, RuleTime{d.rules[i].ID, time.Duration(n), d.ruleBytes[i].Load()})
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Time > out[b].Time })
	return out
}

func (d *Detector) runAnchored(r *compiledRule, data []byte, wins []window, path, commit string, lines **lineIndex, out []Finding) []Finding {
	var (
		buf   []hit
		cands []window
		ms    [][2]int
	)
	for _, w := range wins {
		var c []window
		c, buf = r.anchor.candidates(data, w, buf)
		cands = append(cands, c...)
	}
	for i, w := range cands {
		for _, m := range r.Regex.FindAllIndex(data[w.lo:w.hi], -1) {
			k := [2]int{w.lo + m[0], w.lo + m[1]}
			dup := false
			// Candidate regions of neighbouring windows may overlap.
			for j := len(ms) - 1; j >= 0 && i > 0; j-- {
				if ms[j] == k {
					dup = true
					break
				}
				if ms[j][1] < w.lo {
					break
				}
			}
			if !dup {
				ms = append(ms, k)
			}
		}
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i][0] < ms[j][0] })
	for _, m := range ms {
		out = d.emit(r, data, m[0], m[1], path, commit, lines, out)
	}
	return out
}
