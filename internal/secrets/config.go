package secrets

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// Config is a compiled ruleset: rules plus the allowlists that apply to
// every rule. It is read from gitleaks-format TOML so that existing
// gitleaks users bring their configuration unchanged.
type Config struct {
	Title      string
	Rules      []*Rule
	Allowlists []*Allowlist
	// Path is the file the config was read from ("" for the default).
	Path string
}

// Rule is one detection rule.
type Rule struct {
	ID          string
	Description string
	Regex       *regexp.Regexp
	Path        *regexp.Regexp
	SecretGroup int
	Entropy     float64
	// Keywords are lower-cased; a rule with keywords only runs where one
	// of them occurs (case-insensitively).
	Keywords   []string
	Tags       []string
	Allowlists []*Allowlist
	// SkipReport rules only serve as parts of composite rules.
	SkipReport bool
	// Severity is pipeguard's own field; gitleaks ignores unknown keys.
	Severity string
}

// Condition says how the checks of an allowlist combine.
type Condition int

// Allowlist conditions.
const (
	CondOR Condition = iota
	CondAND
)

// Allowlist suppresses findings that match it.
type Allowlist struct {
	Description string
	Condition   Condition
	Commits     map[string]bool
	Paths       []*regexp.Regexp
	// RegexTarget is "secret" (default), "match" or "line".
	RegexTarget string
	Regexes     []*regexp.Regexp
	StopWords   []string
}

// The TOML shapes, as gitleaks writes them.
type tomlAllowlist struct {
	Description string   `toml:"description"`
	Condition   string   `toml:"condition"`
	Commits     []string `toml:"commits"`
	Paths       []string `toml:"paths"`
	RegexTarget string   `toml:"regexTarget"`
	Regexes     []string `toml:"regexes"`
	StopWords   []string `toml:"stopwords"`
	TargetRules []string `toml:"targetRules"`
}

type tomlRequired struct {
	ID            string `toml:"id"`
	WithinLines   *int   `toml:"withinLines"`
	WithinColumns *int   `toml:"withinColumns"`
}

type tomlRule struct {
	ID          string           `toml:"id"`
	Description string           `toml:"description"`
	Path        string           `toml:"path"`
	Regex       string           `toml:"regex"`
	SecretGroup int              `toml:"secretGroup"`
	Entropy     float64          `toml:"entropy"`
	Keywords    []string         `toml:"keywords"`
	Tags        []string         `toml:"tags"`
	Severity    string           `toml:"severity"`
	AllowList   *tomlAllowlist   `toml:"allowlist"`
	Allowlists  []*tomlAllowlist `toml:"allowlists"`
	Required    []tomlRequired   `toml:"required"`
	SkipReport  bool             `toml:"skipReport"`
}

type tomlExtend struct {
	Path          string   `toml:"path"`
	URL           string   `toml:"url"`
	UseDefault    bool     `toml:"useDefault"`
	DisabledRules []string `toml:"disabledRules"`
}

type tomlConfig struct {
	Title       string           `toml:"title"`
	Description string           `toml:"description"`
	MinVersion  string           `toml:"minVersion"`
	Extend      tomlExtend       `toml:"extend"`
	Rules       []tomlRule       `toml:"rules"`
	AllowList   *tomlAllowlist   `toml:"allowlist"`
	Allowlists  []*tomlAllowlist `toml:"allowlists"`
}

// maxExtendDepth bounds [extend] chains, as gitleaks does, so a cycle of
// configs cannot loop forever.
const maxExtendDepth = 2

// LoadConfig reads a gitleaks-format TOML file. [extend] paths are
// resolved relative to the file.
func LoadConfig(path string) (*Config, error) {
	return loadConfig(path, 0)
}

func loadConfig(path string, depth int) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	c, err := parseConfig(data, filepath.Dir(path), depth)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.Path = path
	return c, nil
}

// ParseConfig parses gitleaks-format TOML. An [extend] path is resolved
// relative to dir ("" forbids extending another file).
func ParseConfig(data []byte, dir string) (*Config, error) {
	return parseConfig(data, dir, 0)
}

func parseConfig(data []byte, dir string, depth int) (*Config, error) {
	var tc tomlConfig
	md, err := toml.Decode(string(data), &tc)
	if err != nil {
		return nil, fmt.Errorf("parsing TOML: %w", err)
	}
	_ = md
	c := &Config{Title: tc.Title}
	ruleIdx := map[string]int{}
	for i := range tc.Rules {
		tr := &tc.Rules[i]
		r, err := compileRule(tr)
		if err != nil {
			return nil, err
		}
		if _, dup := ruleIdx[r.ID]; dup {
			return nil, fmt.Errorf("rule %q defined twice", r.ID)
		}
		ruleIdx[r.ID] = len(c.Rules)
		c.Rules = append(c.Rules, r)
	}
	for _, r := range tc.Rules {
		for _, req := range r.Required {
			if req.ID == "" {
				return nil, fmt.Errorf("%s: [[rules.required]] rule id is empty", r.ID)
			}
		}
	}
	if tc.AllowList != nil {
		if len(tc.Allowlists) > 0 {
			return nil, errors.New("[allowlist] is deprecated and cannot be used alongside [[allowlists]]")
		}
		tc.Allowlists = append(tc.Allowlists, tc.AllowList)
	}
	targeted := map[string][]*Allowlist{}
	for _, ta := range tc.Allowlists {
		a, err := compileAllowlist(ta)
		if err != nil {
			return nil, fmt.Errorf("[[allowlists]]: %w", err)
		}
		if len(ta.TargetRules) == 0 {
			c.Allowlists = append(c.Allowlists, a)
			continue
		}
		for _, id := range ta.TargetRules {
			targeted[id] = append(targeted[id], a)
		}
	}

	ext := tc.Extend
	if ext.URL != "" {
		return nil, errors.New("[extend] url is not supported (gitleaks does not support it either)")
	}
	if ext.Path != "" && ext.UseDefault {
		return nil, errors.New("[extend] path and useDefault cannot both be set")
	}
	if depth < maxExtendDepth && (ext.UseDefault || ext.Path != "") {
		var base *Config
		if ext.UseDefault {
			base, err = DefaultConfig()
		} else {
			if dir == "" {
				return nil, errors.New("[extend] path needs a config file location")
			}
			p := ext.Path
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			base, err = loadConfig(p, depth+1)
		}
		if err != nil {
			return nil, fmt.Errorf("extending config: %w", err)
		}
		c.extend(base, ext.DisabledRules)
	}

	ids := map[string]*Rule{}
	for _, r := range c.Rules {
		ids[r.ID] = r
	}
	for id, al := range targeted {
		r, ok := ids[id]
		if !ok {
			return nil, fmt.Errorf("[[allowlists]] targets rule %q, which does not exist", id)
		}
		r.Allowlists = append(r.Allowlists, al...)
	}
	for _, r := range tc.Rules {
		for _, req := range r.Required {
			if _, ok := ids[req.ID]; !ok {
				return nil, fmt.Errorf("%s: [[rules.required]] rule %q does not exist", r.ID, req.ID)
			}
		}
	}
	for _, r := range c.Rules {
		if r.Regex == nil && r.Path == nil {
			return nil, fmt.Errorf("%s: both regex and path are empty, the rule would have no effect", r.ID)
		}
		if r.Regex != nil && r.SecretGroup > r.Regex.NumSubexp() {
			return nil, fmt.Errorf("%s: secretGroup %d is larger than the regex's %d groups", r.ID, r.SecretGroup, r.Regex.NumSubexp())
		}
	}
	return c, nil
}

func compileRule(tr *tomlRule) (*Rule, error) {
	if tr.ID == "" {
		desc := tr.Description
		if desc == "" {
			desc = tr.Regex
		}
		return nil, fmt.Errorf("a rule has no id (%.60q)", desc)
	}
	r := &Rule{ID: tr.ID, Description: tr.Description, SecretGroup: tr.SecretGroup, Entropy: tr.Entropy, Tags: tr.Tags, SkipReport: tr.SkipReport, Severity: tr.Severity}
	var err error
	if tr.Regex != "" {
		if r.Regex, err = regexp.Compile(tr.Regex); err != nil {
			return nil, fmt.Errorf("%s: compiling regex: %w", tr.ID, err)
		}
	}
	if tr.Path != "" {
		if r.Path, err = regexp.Compile(tr.Path); err != nil {
			return nil, fmt.Errorf("%s: compiling path: %w", tr.ID, err)
		}
	}
	if r.SecretGroup < 0 {
		return nil, fmt.Errorf("%s: negative secretGroup", tr.ID)
	}
	for _, k := range tr.Keywords {
		if k = strings.ToLower(k); k != "" {
			r.Keywords = append(r.Keywords, k)
		}
	}
	if tr.AllowList != nil {
		if len(tr.Allowlists) > 0 {
			return nil, fmt.Errorf("%s: [rules.allowlist] is deprecated and cannot be used alongside [[rules.allowlists]]", tr.ID)
		}
		tr.Allowlists = append(tr.Allowlists, tr.AllowList)
	}
	for _, ta := range tr.Allowlists {
		if len(ta.TargetRules) > 0 {
			return nil, fmt.Errorf("%s: targetRules is only valid in a global allowlist", tr.ID)
		}
		a, err := compileAllowlist(ta)
		if err != nil {
			return nil, fmt.Errorf("%s: [[rules.allowlists]]: %w", tr.ID, err)
		}
		r.Allowlists = append(r.Allowlists, a)
	}
	return r, nil
}

func compileAllowlist(ta *tomlAllowlist) (*Allowlist, error) {
	a := &Allowlist{Description: ta.Description, RegexTarget: "secret"}
	switch strings.ToUpper(ta.Condition) {
	case "", "OR", "||":
		a.Condition = CondOR
	case "AND", "&&":
		a.Condition = CondAND
	default:
		return nil, fmt.Errorf("unknown condition %q (want AND or OR)", ta.Condition)
	}
	switch ta.RegexTarget {
	case "", "secret":
	case "match", "line":
		a.RegexTarget = ta.RegexTarget
	default:
		return nil, fmt.Errorf("unknown regexTarget %q (want secret, match or line)", ta.RegexTarget)
	}
	for _, s := range ta.Regexes {
		re, err := regexp.Compile(s)
		if err != nil {
			return nil, fmt.Errorf("compiling allowlist regex: %w", err)
		}
		a.Regexes = append(a.Regexes, re)
	}
	for _, s := range ta.Paths {
		re, err := regexp.Compile(s)
		if err != nil {
			return nil, fmt.Errorf("compiling allowlist path: %w", err)
		}
		a.Paths = append(a.Paths, re)
	}
	if len(ta.Commits) > 0 {
		a.Commits = map[string]bool{}
		for _, c := range ta.Commits {
			if c = strings.ToLower(strings.TrimSpace(c)); c != "" {
				a.Commits[c] = true
			}
		}
	}
	seen := map[string]bool{}
	for _, w := range ta.StopWords {
		w = strings.ToLower(w)
		if w != "" && !seen[w] {
			seen[w] = true
			a.StopWords = append(a.StopWords, w)
		}
	}
	if len(a.Commits) == 0 && len(a.Paths) == 0 && len(a.Regexes) == 0 && len(a.StopWords) == 0 {
		return nil, errors.New("an allowlist needs at least one of commits, paths, regexes or stopwords")
	}
	return a, nil
}

// extend merges base into c: rules of c override the fields they set,
// keywords, tags and allowlists are added, global allowlists appended.
func (c *Config) extend(base *Config, disabled []string) {
	off := map[string]bool{}
	for _, id := range disabled {
		off[id] = true
	}
	mine := map[string]*Rule{}
	for _, r := range c.Rules {
		mine[r.ID] = r
	}
	var merged []*Rule
	for _, b := range base.Rules {
		if off[b.ID] {
			continue
		}
		cur, ok := mine[b.ID]
		if !ok {
			merged = append(merged, b)
			continue
		}
		nr := *b
		if cur.Description != "" {
			nr.Description = cur.Description
		}
		if cur.Entropy != 0 {
			nr.Entropy = cur.Entropy
		}
		if cur.SecretGroup != 0 {
			nr.SecretGroup = cur.SecretGroup
		}
		if cur.Regex != nil {
			nr.Regex = cur.Regex
		}
		if cur.Path != nil {
			nr.Path = cur.Path
		}
		if cur.Severity != "" {
			nr.Severity = cur.Severity
		}
		nr.Tags = append(append([]string(nil), b.Tags...), cur.Tags...)
		nr.Keywords = append(append([]string(nil), b.Keywords...), cur.Keywords...)
		nr.Allowlists = append(append([]*Allowlist(nil), b.Allowlists...), cur.Allowlists...)
		*cur = nr
	}
	c.Rules = append(c.Rules, merged...)
	sort.SliceStable(c.Rules, func(i, j int) bool { return c.Rules[i].ID < c.Rules[j].ID })
	c.Allowlists = append(c.Allowlists, base.Allowlists...)
}

// RuleByID returns the rule with id, or nil.
func (c *Config) RuleByID(id string) *Rule {
	for _, r := range c.Rules {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// commitAllowed, pathAllowed, regexAllowed and stopWord evaluate the single
// checks of an allowlist.
func (a *Allowlist) commitAllowed(c string) bool {
	return c != "" && a.Commits[strings.ToLower(c)]
}

func (a *Allowlist) pathAllowed(p string) bool {
	if p == "" {
		return false
	}
	for _, re := range a.Paths {
		if re.MatchString(p) {
			return true
		}
	}
	return false
}

func (a *Allowlist) regexAllowed(s string) bool {
	for _, re := range a.Regexes {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

func (a *Allowlist) stopWord(secret string) bool {
	if len(a.StopWords) == 0 {
		return false
	}
	s := strings.ToLower(secret)
	for _, w := range a.StopWords {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}
