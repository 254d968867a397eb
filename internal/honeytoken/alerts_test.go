package honeytoken

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pipeguard/pipeguard/internal/testenv"
)

func getURL(t *testing.T, u string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func webBugURL(s *Server, tok *Token) string {
	return "http://" + s.HTTPAddr.String() + "/static/" + tok.Material.Label + ".gif"
}

// The first hit alerts at once; repeats within the window become one
// follow-up with their count; a hit after the window alerts at once again.
func TestGroupingFirstThenRepeat(t *testing.T) {
	r := newTestRegistry(t)
	tok := mustCreate(t, r, allOptions(TypeURL))
	rc := newReceiver(t)
	sink, _ := NewWebhookSink(rc.srv.URL)
	s := startServer(t, r, ServeConfig{HTTPAddr: "127.0.0.1:0", Sinks: []Sink{sink}, Window: 400 * time.Millisecond, RatePerSource: 1000, Burst: 1000})
	for i := 0; i < 10; i++ {
		getURL(t, webBugURL(s, tok))
	}
	first := rc.alertFor(t, tok.ID, KindFirst)
	if first.Count != 1 || first.Channel != "http" || first.Source != "127.0.0.1" || !strings.HasPrefix(first.UserAgent, "Go-http-client") {
		t.Errorf("first alert %+v", first)
	}
	rep := rc.alertFor(t, tok.ID, KindRepeat)
	if rep.Count != 9 {
		t.Errorf("follow-up counts %d repeats, want 9", rep.Count)
	}
	if n := len(rc.alerts()); n != 2 {
		t.Errorf("%d alerts for 10 hits in one window, want 2", n)
	}
	// After the window, the next hit is a new first alert.
	time.Sleep(500 * time.Millisecond)
	getURL(t, webBugURL(s, tok))
	waitFor(t, "a second first alert", func() bool {
		n := 0
		for _, a := range rc.alerts() {
			if a.Kind == KindFirst {
				n++
			}
		}
		return n == 2
	})
	hits, _ := r.HitCount(context.Background(), tok.ID)
	if hits != 11 {
		t.Errorf("%d hits recorded, want 11", hits)
	}
	// The webhook payload carries the contract's field.
	rc.mu.Lock()
	if rc.raw[0]["token_id"] != tok.ID {
		t.Errorf("webhook JSON token_id = %v", rc.raw[0]["token_id"])
	}
	rc.mu.Unlock()
}

// An alert raised while the sink is down is delivered when it returns,
// also after the listener restarts in between.
func TestAlertSurvivesSinkOutageAndRestart(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t)
	tok := mustCreate(t, r, allOptions(TypeURL))
	rc := newReceiver(t)
	rc.setDown(true)
	sink, _ := NewWebhookSink(rc.srv.URL)

	sctx, stop := context.WithCancel(ctx)
	s, err := Start(sctx, r, ServeConfig{HTTPAddr: "127.0.0.1:0", Sinks: []Sink{sink}, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Log: quietLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	getURL(t, webBugURL(s, tok))
	// Wait until the delivery has failed at least once, then restart.
	waitFor(t, "a failed delivery attempt", func() bool {
		var n int
		r.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM honeytoken_deliveries WHERE attempts > 0 AND delivered_ns IS NULL`).Scan(&n)
		return n == 1
	})
	stop()
	if err := s.Wait(); err != nil {
		t.Fatal(err)
	}
	if len(rc.alerts()) != 0 {
		t.Fatal("delivered while the sink was down")
	}
	as, err := r.Alerts(ctx, AlertFilter{})
	if err != nil || len(as) != 1 || len(as[0].Pending) != 1 {
		t.Fatalf("after restart: alerts %+v err %v, want one pending", as, err)
	}

	// The sink comes back; a new listener process (same store) delivers.
	rc.setDown(false)
	startServer(t, r, ServeConfig{HTTPAddr: "127.0.0.1:0", Sinks: []Sink{sink}})
	a := rc.alertFor(t, tok.ID, KindFirst)
	if a.Note != tok.Note || a.TokenType != TypeURL {
		t.Errorf("delivered alert %+v", a)
	}
	waitFor(t, "the queue to empty", func() bool {
		as, _ := r.Alerts(ctx, AlertFilter{})
		return len(as) == 1 && len(as[0].Pending) == 0 && len(as[0].Delivered) == 1
	})
	if n := len(rc.alerts()); n != 1 {
		t.Errorf("delivered %d times, want exactly once", n)
	}
}

// Hits still in the recorder's queue when the listener stops are stored,
// not lost, and grouping state survives a restart.
func TestRestartKeepsHitsAndGrouping(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t)
	tok := mustCreate(t, r, allOptions(TypeURL))
	rc := newReceiver(t)
	sink, _ := NewWebhookSink(rc.srv.URL)
	sctx, stop := context.WithCancel(ctx)
	s, err := Start(sctx, r, ServeConfig{HTTPAddr: "127.0.0.1:0", Sinks: []Sink{sink}, Window: time.Hour, RatePerSource: 1000, Burst: 1000, Log: quietLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		getURL(t, webBugURL(s, tok))
	}
	stop()
	s.Wait()
	s2 := startServer(t, r, ServeConfig{HTTPAddr: "127.0.0.1:0", Sinks: []Sink{sink}, Window: time.Hour, RatePerSource: 1000, Burst: 1000})
	for i := 0; i < 3; i++ {
		getURL(t, webBugURL(s2, tok))
	}
	waitFor(t, "8 hits", func() bool { n, _ := r.HitCount(ctx, tok.ID); return n == 8 })
	var count int64
	waitFor(t, "the open window to count 7 repeats", func() bool {
		r.db.QueryRowContext(ctx, `SELECT count FROM honeytoken_groups WHERE token_id = ?`, tok.ID).Scan(&count)
		return count == 7
	})
	rc.alertFor(t, tok.ID, KindFirst)
	for _, a := range rc.alerts() {
		if a.Kind == KindFirst && a.TokenID == tok.ID && a.Count != 1 {
			t.Errorf("first alert count %d", a.Count)
		}
	}
	if n := len(rc.alerts()); n != 1 {
		t.Errorf("%d alerts across the restart within one window, want 1", n)
	}
}

func TestCloudTrailIngest(t *testing.T) {
	dir := testenv.Dir(t, "secrets", "ggcanary", "lambda", "tests", "data")
	ctx := context.Background()
	r := newTestRegistry(t)
	alice := mustCreate(t, r, CreateOptions{Type: TypeAWS, Note: "ggcanary Alice", AWSAccessKeyID: "AKIAEXAMPLEALICE0001", AWSUser: "ggcanary-Alice"})
	bob := mustCreate(t, r, CreateOptions{Type: TypeAWS, Note: "ggcanary Bob", AWSAccessKeyID: "AKIAEXAMPLEBOB000001", AWSUser: "ggcanary-Bob"})
	rec := NewRecorder(r, WithWindow(time.Minute))

	res, err := rec.IngestCloudTrail(ctx, dir+"/logs_no_ggcanary.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	if res.Hits != 0 || res.Records == 0 {
		t.Errorf("batch without a canary: %+v", res)
	}
	res, err = rec.IngestCloudTrail(ctx, dir+"/logs_w_ggcanary.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	if res.Hits != 2 || res.Records != 3 {
		t.Errorf("batch with canaries: %+v, want 2 hits of 3 records", res)
	}
	as, _ := r.Alerts(ctx, AlertFilter{})
	got := map[string]Alert{}
	for _, a := range as {
		got[a.TokenID] = a.Alert
	}
	for _, tok := range []*Token{alice, bob} {
		a, ok := got[tok.ID]
		if !ok || a.Channel != "cloudtrail" || !strings.Contains(a.Summary, "UpdateTrail") || !strings.HasPrefix(a.UserAgent, "aws-cli/") {
			t.Errorf("alert for %s: %+v", tok.Note, a)
		}
	}
	// Ingesting the same logs again (a whole directory) adds nothing.
	res, err = rec.IngestCloudTrail(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := r.HitCount(ctx, ""); n != 2 {
		t.Errorf("re-ingest: %d hits stored, want still 2 (%+v)", n, res)
	}
	// A generated key matches by access key id.
	gen := mustCreate(t, r, allOptions(TypeAWS))
	f := t.TempDir() + "/trail.json"
	writeFile(t, f, `{"Records":[{"eventID":"e1","eventTime":"2026-01-01T00:00:00Z","eventName":"GetCallerIdentity","eventSource":"sts.amazonaws.com","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2","userIdentity":{"accessKeyId":"`+gen.Material.AccessKeyID+`"}}]}`)
	if res, err := rec.IngestCloudTrail(ctx, f); err != nil || res.Hits != 1 {
		t.Errorf("access key id match: %+v %v", res, err)
	}
	// Bad input is an error, not silence.
	writeFile(t, f, `{"Records": 5}`)
	if _, err := rec.IngestCloudTrail(ctx, f); err == nil {
		t.Error("malformed log accepted")
	}
	writeFile(t, f, `{"foo": []}`)
	if _, err := rec.IngestCloudTrail(ctx, f); err == nil {
		t.Error("log without Records accepted")
	}
}
