package honeytoken

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func sampleAlert() *Alert {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return &Alert{ID: "al_1", TokenID: "ht_abc", TokenType: TypeAWS, Note: "jenkins", Kind: KindFirst, Count: 1, Time: now, FirstSeen: now, LastSeen: now,
		Channel: "http", Source: "127.0.0.1", UserAgent: "<!channel> x", Summary: "POST / (aws) <http://evil|click>"}
}

func TestSlackSinkEscapes(t *testing.T) {
	var got map[string]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &got)
	}))
	defer srv.Close()
	s, err := NewSlackSink(srv.URL + "/services/T000/B000/secret")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s.Name(), "secret") {
		t.Errorf("sink name %q exposes the webhook URL", s.Name())
	}
	if err := s.Send(context.Background(), sampleAlert()); err != nil {
		t.Fatal(err)
	}
	txt := got["text"]
	if !strings.Contains(txt, "ht_abc") || strings.Contains(txt, "<!channel>") || strings.Contains(txt, "<http://evil") {
		t.Errorf("slack text %q", txt)
	}
}

func TestWebhookSinkFailures(t *testing.T) {
	for _, code := range []int{http.StatusInternalServerError, http.StatusFound, http.StatusNotFound} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", "http://127.0.0.1:1/")
			w.WriteHeader(code)
		}))
		s, _ := NewWebhookSink(srv.URL)
		if err := s.Send(context.Background(), sampleAlert()); err == nil {
			t.Errorf("status %d counted as delivered", code)
		}
		srv.Close()
	}
	for _, bad := range []string{"", "ftp://x", "not a url", "http://"} {
		if _, err := NewWebhookSink(bad); err == nil {
			t.Errorf("webhook %q accepted", bad)
		}
	}
}

func TestSyslogSink(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s, err := NewSyslogSink("udp://" + pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), sampleAlert()); err != nil {
		t.Fatal(err)
	}
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	msg := string(buf[:n])
	// LOG_AUTH|LOG_ALERT = 4<<3 | 1 = 33.
	if !strings.HasPrefix(msg, "<33>") || !strings.Contains(msg, `"token_id":"ht_abc"`) || !strings.Contains(msg, "pipeguard-honeytoken") {
		t.Errorf("syslog message %q", msg)
	}
	for _, bad := range []string{"udp://", "http://x", "%%"} {
		if _, err := NewSyslogSink(bad); err == nil {
			t.Errorf("syslog target %q accepted", bad)
		}
	}
}

func TestWriterSink(t *testing.T) {
	var b bytes.Buffer
	s := NewWriterSink("stdout", &b)
	if err := s.Send(context.Background(), sampleAlert()); err != nil {
		t.Fatal(err)
	}
	var a Alert
	if err := json.Unmarshal(b.Bytes(), &a); err != nil || a.TokenID != "ht_abc" || !strings.HasSuffix(b.String(), "\n") {
		t.Errorf("line %q: %v", b.String(), err)
	}
}
