package honeytoken

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/syslog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// sinkName keys a sink by a hash of its address, so that webhook URLs
// (which often embed a secret) are never stored in clear.
func sinkName(kind, addr string) string {
	h := sha256.Sum256([]byte(addr))
	return kind + ":" + hex.EncodeToString(h[:8])
}

func httpClient() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		// A webhook that redirects is misconfigured; following it could
		// send alerts somewhere unintended.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func checkHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("webhook %q must be an http(s) URL", redactURL(raw))
	}
	return nil
}

// redactURL hides the path and query of a webhook URL (where Slack-style
// webhooks keep their secret) for error messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<invalid URL>"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

func post(ctx context.Context, c *http.Client, target string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("posting alert to %s: %w", redactURL(target), err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "pipeguard-honeytoken/1")
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("posting alert to %s: %w", redactURL(target), err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("posting alert to %s: %s", redactURL(target), resp.Status)
	}
	return nil
}

// WebhookSink POSTs each alert as JSON (the Alert fields; the token id is
// in token_id).
type WebhookSink struct {
	url    string
	client *http.Client
}

// NewWebhookSink returns a generic JSON webhook sink.
func NewWebhookSink(u string) (*WebhookSink, error) {
	if err := checkHTTPURL(u); err != nil {
		return nil, err
	}
	return &WebhookSink{url: u, client: httpClient()}, nil
}

// Name implements Sink.
func (s *WebhookSink) Name() string { return sinkName("webhook", s.url) }

// Send implements Sink.
func (s *WebhookSink) Send(ctx context.Context, a *Alert) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return post(ctx, s.client, s.url, b)
}

// SlackSink posts to a Slack-compatible incoming webhook.
type SlackSink struct {
	url    string
	client *http.Client
}

// NewSlackSink returns a Slack-compatible webhook sink.
func NewSlackSink(u string) (*SlackSink, error) {
	if err := checkHTTPURL(u); err != nil {
		return nil, err
	}
	return &SlackSink{url: u, client: httpClient()}, nil
}

// Name implements Sink.
func (s *SlackSink) Name() string { return sinkName("slack", s.url) }

// slackEscape escapes the three characters Slack's mrkdwn treats as
// control, so attacker text cannot form links or mentions.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Text renders the alert as one human message.
func (a *Alert) Text() string {
	var b strings.Builder
	if a.Kind == KindRepeat {
		fmt.Fprintf(&b, "Honeytoken %s (%s) used %d more times between %s and %s", a.TokenID, a.TokenType, a.Count, a.FirstSeen.Format(time.RFC3339), a.LastSeen.Format(time.RFC3339))
	} else {
		fmt.Fprintf(&b, "Honeytoken %s (%s) used at %s", a.TokenID, a.TokenType, a.FirstSeen.Format(time.RFC3339))
	}
	fmt.Fprintf(&b, "; planted: %q; last from %s via %s", a.Note, a.Source, a.Channel)
	if a.UserAgent != "" {
		fmt.Fprintf(&b, " (client %q)", a.UserAgent)
	}
	fmt.Fprintf(&b, ": %s", a.Summary)
	return b.String()
}

// Send implements Sink.
func (s *SlackSink) Send(ctx context.Context, a *Alert) error {
	b, err := json.Marshal(map[string]any{"text": ":rotating_light: " + slackEscape.Replace(a.Text())})
	if err != nil {
		return err
	}
	return post(ctx, s.client, s.url, b)
}

// SyslogSink writes each alert to syslog at LOG_ALERT|LOG_AUTH.
type SyslogSink struct {
	network, addr string
	mu            sync.Mutex
	w             *syslog.Writer
}

// NewSyslogSink parses target: "local" for the local syslog socket, or
// udp://host:port, tcp://host:port, unix:///path.
func NewSyslogSink(target string) (*SyslogSink, error) {
	if target == "local" {
		return &SyslogSink{}, nil
	}
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("syslog target %q: %w", target, err)
	}
	switch u.Scheme {
	case "udp", "tcp":
		if u.Host == "" {
			return nil, fmt.Errorf("syslog target %q has no host:port", target)
		}
		return &SyslogSink{network: u.Scheme, addr: u.Host}, nil
	case "unix", "unixgram":
		return &SyslogSink{network: u.Scheme, addr: u.Path}, nil
	}
	return nil, fmt.Errorf("syslog target %q: want local, udp://, tcp:// or unix://", target)
}

// Name implements Sink.
func (s *SyslogSink) Name() string { return sinkName("syslog", s.network+"://"+s.addr) }

// Send implements Sink.
func (s *SyslogSink) Send(_ context.Context, a *Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		w, err := syslog.Dial(s.network, s.addr, syslog.LOG_ALERT|syslog.LOG_AUTH, "pipeguard-honeytoken")
		if err != nil {
			return fmt.Errorf("connecting to syslog: %w", err)
		}
		s.w = w
	}
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if err := s.w.Alert(string(b)); err != nil {
		s.w.Close()
		s.w = nil
		return fmt.Errorf("writing to syslog: %w", err)
	}
	return nil
}

// WriterSink writes each alert as one JSON line (stdout).
type WriterSink struct {
	name string
	mu   sync.Mutex
	w    io.Writer
}

// NewWriterSink returns a sink writing JSON lines to w; name keys its
// queue.
func NewWriterSink(name string, w io.Writer) *WriterSink { return &WriterSink{name: name, w: w} }

// Name implements Sink.
func (s *WriterSink) Name() string { return s.name }

// Send implements Sink.
func (s *WriterSink) Send(_ context.Context, a *Alert) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err = s.w.Write(append(b, '\n'))
	return err
}
