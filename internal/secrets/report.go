package secrets

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Report is the outcome of a scan, split into leaks and honeytoken
// sightings (planted decoys that turned up: an alarm, not a leak).
type Report struct {
	Findings   []Finding `json:"findings"`
	Honeytoken []Finding `json:"honeytokenSightings"`
	Stats      Stats     `json:"stats"`
}

// Stats summarises the work a scan did.
type Stats struct {
	Source  string  `json:"source"`
	Commits int     `json:"commits,omitempty"`
	Hunks   int64   `json:"hunks,omitempty"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	Rules   int     `json:"rules"`
}

// WriteJSON writes pipeguard's JSON report.
func (r *Report) WriteJSON(w io.Writer) error {
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	if r.Honeytoken == nil {
		r.Honeytoken = []Finding{}
	}
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

// gitleaksFinding mirrors the fields of a gitleaks JSON report.
type gitleaksFinding struct {
	RuleID      string
	Description string
	StartLine   int
	EndLine     int
	StartColumn int
	EndColumn   int
	Match       string
	Secret      string
	File        string
	SymlinkFile string
	Commit      string
	Entropy     float32
	Author      string
	Email       string
	Date        string
	Message     string
	Tags        []string
	Fingerprint string
}

// WriteGitleaks writes a report that tools reading gitleaks' JSON accept,
// with Secret and Match redacted as `gitleaks --redact` does. The
// Fingerprint field keeps gitleaks' meaning (commit:file:rule:line) so
// that .gitleaksignore entries can be copied from it.
func (r *Report) WriteGitleaks(w io.Writer) error {
	out := make([]gitleaksFinding, 0, len(r.Findings))
	for _, f := range r.Findings {
		tags := f.Tags
		if tags == nil {
			tags = []string{}
		}
		out = append(out, gitleaksFinding{
			RuleID: f.RuleID, Description: f.Description, StartLine: f.StartLine, EndLine: f.EndLine,
			StartColumn: f.StartColumn, EndColumn: f.EndColumn, Match: f.RedactedMatch(), Secret: "REDACTED",
			File: f.Path, Commit: f.Commit, Entropy: float32(f.Entropy), Author: f.Author, Email: f.Email,
			Date: f.Date, Message: f.Message, Tags: tags, Fingerprint: f.GitleaksFingerprint(),
		})
	}
	e := json.NewEncoder(w)
	e.SetIndent("", " ")
	return e.Encode(out)
}

// GitleaksFingerprint is gitleaks' finding id: commit:file:rule:line, or
// file:rule:line outside git.
func (f *Finding) GitleaksFingerprint() string {
	if f.Commit != "" {
		return fmt.Sprintf("%s:%s:%s:%d", f.Commit, f.Path, f.RuleID, f.StartLine)
	}
	return fmt.Sprintf("%s:%s:%d", f.Path, f.RuleID, f.StartLine)
}

// WriteSARIF writes SARIF 2.1.0 for GitHub code scanning.
func (r *Report) WriteSARIF(w io.Writer, cfg *Config, version string) error {
	type msg struct {
		Text string `json:"text"`
	}
	type rule struct {
		ID               string         `json:"id"`
		Name             string         `json:"name"`
		ShortDescription msg            `json:"shortDescription"`
		Properties       map[string]any `json:"properties,omitempty"`
	}
	type region struct {
		StartLine   int `json:"startLine"`
		StartColumn int `json:"startColumn,omitempty"`
		EndLine     int `json:"endLine,omitempty"`
		EndColumn   int `json:"endColumn,omitempty"`
	}
	type location struct {
		PhysicalLocation struct {
			ArtifactLocation struct {
				URI string `json:"uri"`
			} `json:"artifactLocation"`
			Region region `json:"region"`
		} `json:"physicalLocation"`
	}
	type result struct {
		RuleID              string            `json:"ruleId"`
		Level               string            `json:"level"`
		Message             msg               `json:"message"`
		Locations           []location        `json:"locations"`
		PartialFingerprints map[string]string `json:"partialFingerprints"`
		Properties          map[string]any    `json:"properties,omitempty"`
	}
	var rules []rule
	used := map[string]bool{}
	for _, f := range r.Findings {
		used[f.RuleID] = true
	}
	if cfg != nil {
		for _, cr := range cfg.Rules {
			if used[cr.ID] {
				rules = append(rules, rule{ID: cr.ID, Name: cr.ID, ShortDescription: msg{firstNonEmpty(cr.Description, cr.ID)}})
			}
		}
	}
	results := []result{}
	for _, f := range r.Findings {
		var loc location
		loc.PhysicalLocation.ArtifactLocation.URI = f.Path
		loc.PhysicalLocation.Region = region{StartLine: max(1, f.StartLine), StartColumn: f.StartColumn, EndLine: f.EndLine, EndColumn: f.EndColumn}
		level := "error"
		if f.Severity == "medium" || f.Severity == "low" {
			level = "warning"
		}
		props := map[string]any{"redacted": f.Redacted}
		if f.Commit != "" {
			props["commit"] = f.Commit
			props["author"] = f.Author
		}
		results = append(results, result{
			RuleID: f.RuleID, Level: level,
			Message:             msg{fmt.Sprintf("%s: %s", firstNonEmpty(f.Description, f.RuleID), f.Redacted)},
			Locations:           []location{loc},
			PartialFingerprints: map[string]string{"secretFingerprint/v1": f.Fingerprint},
			Properties:          props,
		})
	}
	if rules == nil {
		rules = []rule{}
	}
	doc := map[string]any{
		"$schema": "https://json.schemastore.org/sarif-2.1.0.json",
		"version": "2.1.0",
		"runs": []any{map[string]any{
			"tool": map[string]any{"driver": map[string]any{
				"name": "pipeguard-secrets", "informationUri": "https://pipeguard.dev", "version": version, "rules": rules,
			}},
			"results": results,
		}},
	}
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(doc)
}

// WriteText writes a human summary.
func (r *Report) WriteText(w io.Writer) error {
	for _, f := range r.Findings {
		where := fmt.Sprintf("%s:%d", f.Path, f.StartLine)
		fmt.Fprintf(w, "%-8s %-32s %s  %s", strings.ToUpper(f.Severity), f.RuleID, where, f.Redacted)
		if f.Commit != "" {
			fmt.Fprintf(w, "  commit %.12s by %s", f.Commit, f.Author)
		}
		fmt.Fprintf(w, "  fp %.16s\n", f.Fingerprint)
	}
	for _, f := range r.Honeytoken {
		fmt.Fprintf(w, "HONEYTOKEN %s sighted at %s:%d (%s)", f.Honeytoken, f.Path, f.StartLine, f.RuleID)
		if f.Commit != "" {
			fmt.Fprintf(w, " commit %.12s by %s", f.Commit, f.Author)
		}
		fmt.Fprintln(w)
	}
	byRule := map[string]int{}
	for _, f := range r.Findings {
		byRule[f.RuleID]++
	}
	ids := make([]string, 0, len(byRule))
	for id := range byRule {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	fmt.Fprintf(w, "%d finding(s), %d honeytoken sighting(s); scanned %.1f MB in %.2fs\n", len(r.Findings), len(r.Honeytoken), float64(r.Stats.Bytes)/1e6, r.Stats.Seconds)
	return nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
