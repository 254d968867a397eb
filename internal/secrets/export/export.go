// Package export reads the places secrets leak besides code: Jira issue
// exports (JSON, as the REST search API returns them) and Slack workspace
// exports (zip or unpacked folder). Each message, description or comment
// becomes one Document to scan.
package export

import (
	"archive/zip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
)

// Document is one piece of text from an export.
type Document struct {
	// Path names the document for reports, e.g. "jira/PROJ-1/comment/2"
	// or "slack/general/2024-01-02.json#1704200000.000100".
	Path     string
	Location string
	Author   string
	Date     string
	Text     string
}

// maxExportBytes bounds what one export file may hold.
const maxExportBytes = 512 << 20

// ReadJiraFile reads a Jira export file.
func ReadJiraFile(p string) ([]Document, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("reading Jira export: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxExportBytes))
	if err != nil {
		return nil, fmt.Errorf("reading Jira export: %w", err)
	}
	return ParseJira(data)
}

type jiraUser struct {
	DisplayName  string `json:"displayName"`
	Name         string `json:"name"`
	EmailAddress string `json:"emailAddress"`
}

func (u *jiraUser) String() string {
	if u == nil {
		return ""
	}
	if u.DisplayName != "" {
		return u.DisplayName
	}
	return u.Name
}

type jiraIssue struct {
	Key    string `json:"key"`
	Fields struct {
		Summary     string          `json:"summary"`
		Description json.RawMessage `json:"description"`
		Environment json.RawMessage `json:"environment"`
		Reporter    *jiraUser       `json:"reporter"`
		Created     string          `json:"created"`
		Comment     struct {
			Comments []struct {
				ID      string          `json:"id"`
				Author  *jiraUser       `json:"author"`
				Body    json.RawMessage `json:"body"`
				Created string          `json:"created"`
			} `json:"comments"`
		} `json:"comment"`
	} `json:"fields"`
}

// ParseJira parses a Jira export: a search result {"issues": [...]}, an
// array of issues, or one issue. Descriptions and comments may be plain
// text (Jira Server, API v2) or Atlassian Document Format (Cloud, v3).
func ParseJira(data []byte) ([]Document, error) {
	var issues []jiraIssue
	var wrapper struct {
		Issues []jiraIssue `json:"issues"`
	}
	trim := strings.TrimSpace(string(data))
	switch {
	case strings.HasPrefix(trim, "["):
		if err := json.Unmarshal(data, &issues); err != nil {
			return nil, fmt.Errorf("parsing Jira export: %w", err)
		}
	case strings.HasPrefix(trim, "{"):
		if err := json.Unmarshal(data, &wrapper); err != nil {
			return nil, fmt.Errorf("parsing Jira export: %w", err)
		}
		issues = wrapper.Issues
		if wrapper.Issues == nil {
			var one jiraIssue
			if err := json.Unmarshal(data, &one); err != nil {
				return nil, fmt.Errorf("parsing Jira export: %w", err)
			}
			if one.Key == "" {
				return nil, errors.New("parsing Jira export: neither an issue list nor an issue")
			}
			issues = []jiraIssue{one}
		}
	default:
		return nil, errors.New("parsing Jira export: not JSON")
	}
	var docs []Document
	for _, is := range issues {
		if is.Key == "" {
			return nil, errors.New("parsing Jira export: an issue has no key")
		}
		rep := is.Fields.Reporter.String()
		add := func(part, text, author, date string) {
			if strings.TrimSpace(text) == "" {
				return
			}
			docs = append(docs, Document{Path: "jira/" + is.Key + "/" + part, Location: is.Key, Author: author, Date: date, Text: text})
		}
		add("summary", is.Fields.Summary, rep, is.Fields.Created)
		add("description", jiraText(is.Fields.Description), rep, is.Fields.Created)
		add("environment", jiraText(is.Fields.Environment), rep, is.Fields.Created)
		for i, c := range is.Fields.Comment.Comments {
			id := c.ID
			if id == "" {
				id = fmt.Sprint(i + 1)
			}
			add("comment/"+id, jiraText(c.Body), c.Author.String(), c.Created)
		}
	}
	return docs, nil
}

// jiraText returns plain text from a string or an ADF document.
func jiraText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var node any
	if json.Unmarshal(raw, &node) != nil {
		return ""
	}
	var b strings.Builder
	var walk func(n any, depth int)
	walk = func(n any, depth int) {
		if depth > 64 {
			return
		}
		m, ok := n.(map[string]any)
		if !ok {
			return
		}
		if t, ok := m["text"].(string); ok {
			b.WriteString(t)
		}
		if c, ok := m["content"].([]any); ok {
			for _, x := range c {
				walk(x, depth+1)
			}
		}
		switch m["type"] {
		case "paragraph", "codeBlock", "heading", "listItem", "hardBreak":
			b.WriteByte('\n')
		}
	}
	walk(node, 0)
	return b.String()
}

type slackMessage struct {
	Type        string `json:"type"`
	User        string `json:"user"`
	UserName    string `json:"user_name"`
	Text        string `json:"text"`
	TS          string `json:"ts"`
	Attachments []struct {
		Text     string `json:"text"`
		Fallback string `json:"fallback"`
		Pretext  string `json:"pretext"`
	} `json:"attachments"`
	Files []struct {
		Name    string `json:"name"`
		Preview string `json:"preview"`
	} `json:"files"`
	UserProfile *struct {
		RealName string `json:"real_name"`
		Name     string `json:"name"`
	} `json:"user_profile"`
}

// ReadSlack reads a Slack export, zipped or unpacked.
func ReadSlack(p string) ([]Document, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("reading Slack export: %w", err)
	}
	if fi.IsDir() {
		return ParseSlack(os.DirFS(p))
	}
	zr, err := zip.OpenReader(p)
	if err != nil {
		return nil, fmt.Errorf("reading Slack export: %w", err)
	}
	defer zr.Close()
	return ParseSlack(zr)
}

// ParseSlack reads channel folders of day files ("general/2024-01-02.json",
// each an array of messages) from an export. users.json, when present,
// names the authors.
func ParseSlack(fsys fs.FS) ([]Document, error) {
	users := map[string]string{}
	if b, err := readLimited(fsys, "users.json"); err == nil {
		var us []struct {
			ID       string `json:"id"`
			Name     string `json:"name"`
			RealName string `json:"real_name"`
		}
		if err := json.Unmarshal(b, &us); err != nil {
			return nil, fmt.Errorf("parsing Slack users.json: %w", err)
		}
		for _, u := range us {
			users[u.ID] = firstNonEmpty(u.RealName, u.Name)
		}
	}
	var files []string
	err := fs.WalkDir(fsys, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() || path.Ext(p) != ".json" || path.Dir(p) == "." {
			return nil
		}
		files = append(files, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading Slack export: %w", err)
	}
	sort.Strings(files)
	var docs []Document
	found := false
	for _, p := range files {
		b, err := readLimited(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("reading Slack export %s: %w", p, err)
		}
		var msgs []slackMessage
		if err := json.Unmarshal(b, &msgs); err != nil {
			return nil, fmt.Errorf("parsing Slack export %s: %w", p, err)
		}
		found = true
		channel := path.Dir(p)
		for i, m := range msgs {
			var sb strings.Builder
			sb.WriteString(m.Text)
			for _, a := range m.Attachments {
				for _, t := range []string{a.Pretext, a.Text, a.Fallback} {
					if t != "" {
						sb.WriteByte('\n')
						sb.WriteString(t)
					}
				}
			}
			for _, f := range m.Files {
				if f.Preview != "" {
					sb.WriteByte('\n')
					sb.WriteString(f.Preview)
				}
			}
			text := unescapeSlack(sb.String())
			if strings.TrimSpace(text) == "" {
				continue
			}
			author := users[m.User]
			if author == "" && m.UserProfile != nil {
				author = firstNonEmpty(m.UserProfile.RealName, m.UserProfile.Name)
			}
			author = firstNonEmpty(author, m.UserName, m.User)
			id := m.TS
			if id == "" {
				id = fmt.Sprint(i + 1)
			}
			docs = append(docs, Document{Path: "slack/" + p + "#" + id, Location: "#" + channel, Author: author, Date: m.TS, Text: text})
		}
	}
	if !found {
		return nil, errors.New("reading Slack export: no channel day files (CHANNEL/YYYY-MM-DD.json) found")
	}
	return docs, nil
}

func readLimited(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxExportBytes))
}

// unescapeSlack undoes Slack's HTML escaping of &, < and >.
func unescapeSlack(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	return strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">").Replace(s)
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
