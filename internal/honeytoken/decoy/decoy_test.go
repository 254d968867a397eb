package decoy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// mapIndex is a fixed secret -> token index.
type mapIndex map[string]string

func (m mapIndex) Lookup(s string) (string, bool) { id, ok := m[s]; return id, ok }

// hits collects recorded hits.
type hits struct {
	mu sync.Mutex
	hs []Hit
}

func (h *hits) Record(_ context.Context, x Hit) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hs = append(h.hs, x)
	return nil
}

func (h *hits) ids() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, x := range h.hs {
		out = append(out, x.TokenID)
	}
	return out
}

const (
	webLabel = "sesv7swn4d6stea4by6ym5gpzl"
	awsID    = "AKIAGPBU7LF72PBOMXLA"
	npmTok   = "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"
	dockPW   = "dckr_pat_ncH0ML0Yct8G10goRYh4iw0xO1Z"
	dnsLabel = "wfnrbn46drpgjoruihjnoc6dck"
	dbPW     = "fsBlpFU5QhsmTLVrvC8dovRX"
)

func testIndex() mapIndex {
	return mapIndex{webLabel: "ht_web", awsID: "ht_aws", npmTok: "ht_npm", dockPW: "ht_docker", dnsLabel: "ht_dns", dbPW: "ht_db"}
}

func sigv4(id string) string {
	return "AWS4-HMAC-SHA256 Credential=" + id + "/20260101/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("ab", 32)
}

func basic(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }

func TestHTTPDecoys(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		path       string
		hdr        map[string]string
		wantStatus int
		wantHit    string
	}{
		{"web bug", "GET", "/static/" + webLabel + ".gif", nil, 200, "ht_web"},
		{"web bug unknown", "GET", "/static/aaaaaaaaaaaaaaaaaaaaaaaaaa.gif", nil, 200, ""},
		{"git through web bug url", "GET", "/static/" + webLabel + ".gif/info/refs", map[string]string{"User-Agent": "git/2.39.5"}, 404, "ht_web"},
		{"aws sigv4", "POST", "/", map[string]string{"Authorization": sigv4(awsID)}, 403, "ht_aws"},
		{"aws sigv4 unknown", "POST", "/", map[string]string{"Authorization": sigv4("AKIAAAAAAAAAAAAAAAAA")}, 403, ""},
		{"aws presigned", "GET", "/?X-Amz-Credential=" + awsID + "%2F20260101%2Fus-east-1%2Fsts%2Faws4_request", nil, 403, "ht_aws"},
		{"npm bearer", "GET", "/-/whoami", map[string]string{"Authorization": "Bearer " + npmTok}, 401, "ht_npm"},
		{"npm unknown", "GET", "/-/whoami", map[string]string{"Authorization": "Bearer npm_000000000000000000000000000000000000"}, 401, ""},
		{"registry basic", "GET", "/v2/", map[string]string{"Authorization": basic("ci-x", dockPW)}, 401, "ht_docker"},
		{"registry anonymous", "GET", "/v2/", nil, 401, ""},
		{"kube bearer", "GET", "/api", map[string]string{"Authorization": "Bearer " + npmTok}, 401, "ht_npm"},
		{"junk", "GET", "/wp-login.php", nil, 404, ""},
		{"reflected junk", "GET", "/<script>alert(1)</script>", map[string]string{"Authorization": "Bearer <b>x</b>"}, 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &hits{}
			d := NewHTTP(testIndex(), h, WithHTTPLimiter(NewLimiter(100, 100, 10)))
			req := httptest.NewRequest(tc.method, tc.path, nil)
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			rr := httptest.NewRecorder()
			d.ServeHTTP(rr, req)
			if rr.Code != tc.wantStatus {
				t.Errorf("status %d, want %d", rr.Code, tc.wantStatus)
			}
			got := h.ids()
			if tc.wantHit == "" && len(got) != 0 || tc.wantHit != "" && (len(got) != 1 || got[0] != tc.wantHit) {
				t.Errorf("hits %v, want %q", got, tc.wantHit)
			}
			assertNoReflection(t, rr.Body.Bytes(), rr.Header(), tc.path, tc.hdr)
			for _, x := range h.hs {
				for s := range testIndex() {
					if strings.Contains(x.Summary, s) || strings.Contains(x.UserAgent, s) {
						t.Errorf("hit summary %q leaks the secret", x.Summary)
					}
				}
			}
		})
	}
}

func assertNoReflection(t *testing.T, body []byte, hdr http.Header, path string, in map[string]string) {
	t.Helper()
	probe := []string{path}
	for _, v := range in {
		probe = append(probe, v)
	}
	for _, p := range probe {
		for _, part := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == ' ' || r == '?' || r == '=' || r == ',' }) {
			if len(part) < 8 {
				continue
			}
			if bytes.Contains(body, []byte(part)) {
				t.Errorf("response body reflects %q", part)
			}
			for k, vs := range hdr {
				for _, v := range vs {
					if strings.Contains(v, part) {
						t.Errorf("response header %s reflects %q", k, part)
					}
				}
			}
		}
	}
}

// A known token and an unknown one of the same shape get byte-identical
// answers (bar per-response ids), so responses cannot enumerate tokens.
func TestHTTPSameAnswerForKnownAndUnknown(t *testing.T) {
	pairs := []struct{ known, unknown *http.Request }{
		{httptest.NewRequest("GET", "/static/"+webLabel+".gif", nil), httptest.NewRequest("GET", "/static/zzzzzzzzzzzzzzzzzzzzzzzzzz.gif", nil)},
		{withAuth(httptest.NewRequest("POST", "/", nil), sigv4(awsID)), withAuth(httptest.NewRequest("POST", "/", nil), sigv4("AKIAZZZZZZZZZZZZZZZZ"))},
		{withAuth(httptest.NewRequest("GET", "/v2/", nil), basic("ci-x", dockPW)), withAuth(httptest.NewRequest("GET", "/v2/", nil), basic("ci-x", "dckr_pat_zzzzzzzzzzzzzzzzzzzzzzzzzzz"))},
		{withAuth(httptest.NewRequest("GET", "/-/whoami", nil), "Bearer "+npmTok), withAuth(httptest.NewRequest("GET", "/-/whoami", nil), "Bearer npm_zzz")},
	}
	for _, p := range pairs {
		d := NewHTTP(testIndex(), &hits{})
		a, b := httptest.NewRecorder(), httptest.NewRecorder()
		d.ServeHTTP(a, p.known)
		d.ServeHTTP(b, p.unknown)
		norm := func(r *httptest.ResponseRecorder) string {
			h := r.Header().Clone()
			h.Del("x-amzn-RequestId")
			body := r.Body.String()
			if i := strings.Index(body, "<RequestId>"); i >= 0 {
				body = body[:i]
			}
			return r.Result().Status + "|" + strings.Join(sortedHeader(h), ";") + "|" + body
		}
		if norm(a) != norm(b) {
			t.Errorf("%s %s: known and unknown tokens answered differently:\n%s\n%s", p.known.Method, p.known.URL.Path, norm(a), norm(b))
		}
	}
}

func withAuth(r *http.Request, v string) *http.Request { r.Header.Set("Authorization", v); return r }

func sortedHeader(h http.Header) []string {
	var out []string
	for k, v := range h {
		out = append(out, k+"="+strings.Join(v, ","))
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// Over the per-source limit the decoy stops answering but still records
// every hit.
func TestHTTPRateLimitStillRecords(t *testing.T) {
	h := &hits{}
	d := NewHTTP(testIndex(), h, WithHTTPLimiter(NewLimiter(0.001, 3, 10)))
	limited := 0
	for i := 0; i < 10; i++ {
		req := httptest.NewRequest("GET", "/static/"+webLabel+".gif", nil)
		req.RemoteAddr = "127.0.0.9:1234"
		rr := httptest.NewRecorder()
		d.ServeHTTP(rr, req)
		if rr.Code == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited != 7 {
		t.Errorf("%d of 10 answers limited, want 7", limited)
	}
	if n := len(h.ids()); n != 10 {
		t.Errorf("%d hits recorded, want all 10", n)
	}
	// Another source is not affected.
	req := httptest.NewRequest("GET", "/static/"+webLabel+".gif", nil)
	req.RemoteAddr = "127.0.0.10:1234"
	rr := httptest.NewRecorder()
	d.ServeHTTP(rr, req)
	if rr.Code != 200 {
		t.Errorf("other source got %d", rr.Code)
	}
}

func TestLimiterBoundedMemory(t *testing.T) {
	l := NewLimiter(1, 1, 100)
	for i := 0; i < 10000; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.Allow(a)
		if len(l.buckets) > 100 {
			t.Fatalf("limiter tracks %d sources, bound is 100", len(l.buckets))
		}
	}
	// IPv6 sources share a /64.
	l = NewLimiter(0.001, 1, 100)
	if !l.Allow(netip.MustParseAddr("2001:db8::1")) {
		t.Fatal("first request refused")
	}
	if l.Allow(netip.MustParseAddr("2001:db8::2")) {
		t.Error("a second address in the same /64 escaped the limit")
	}
}

func dnsQuery(t testing.TB, name string, typ dnsmessage.Type) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 4242, RecursionDesired: true})
	b.StartQuestions()
	if err := b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET}); err != nil {
		t.Fatal(err)
	}
	out, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDNSDecoy(t *testing.T) {
	tests := []struct {
		name      string
		q         string
		typ       dnsmessage.Type
		wantRCode dnsmessage.RCode
		wantA     bool
		wantHit   string
	}{
		{"token A", dnsLabel + ".canary.example.test.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, true, "ht_dns"},
		{"token mixed case", strings.ToUpper(dnsLabel) + ".Canary.Example.Test.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, true, "ht_dns"},
		{"token with prefix data", "host-7.user." + dnsLabel + ".canary.example.test.", dnsmessage.TypeAAAA, dnsmessage.RCodeSuccess, false, "ht_dns"},
		{"unknown name", "aaaaaaaaaaaaaaaaaaaaaaaaaa.canary.example.test.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, true, ""},
		{"apex SOA", "canary.example.test.", dnsmessage.TypeSOA, dnsmessage.RCodeSuccess, false, ""},
		{"outside zone", dnsLabel + ".example.org.", dnsmessage.TypeA, dnsmessage.RCodeRefused, false, ""},
		{"zone suffix trick", dnsLabel + ".xcanary.example.test.", dnsmessage.TypeA, dnsmessage.RCodeRefused, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &hits{}
			d, err := NewDNS("canary.example.test", testIndex(), h)
			if err != nil {
				t.Fatal(err)
			}
			resp := d.Handle(context.Background(), netip.MustParseAddr("127.0.0.1"), dnsQuery(t, tc.q, tc.typ))
			if resp == nil {
				t.Fatal("no response")
			}
			var m dnsmessage.Message
			if err := m.Unpack(resp); err != nil {
				t.Fatalf("response does not parse: %v", err)
			}
			if m.Header.ID != 4242 || !m.Header.Response {
				t.Errorf("bad header %+v", m.Header)
			}
			if m.Header.RCode != tc.wantRCode {
				t.Errorf("rcode %v, want %v", m.Header.RCode, tc.wantRCode)
			}
			gotA := len(m.Answers) == 1 && m.Answers[0].Header.Type == dnsmessage.TypeA
			if gotA != tc.wantA {
				t.Errorf("A answer %v, want %v (%v)", gotA, tc.wantA, m.Answers)
			}
			got := h.ids()
			if tc.wantHit == "" && len(got) != 0 || tc.wantHit != "" && (len(got) != 1 || got[0] != tc.wantHit) {
				t.Errorf("hits %v, want %q", got, tc.wantHit)
			}
			for _, x := range h.hs {
				if strings.Contains(strings.ToLower(x.Summary), dnsLabel) {
					t.Errorf("hit summary %q leaks the label", x.Summary)
				}
			}
		})
	}
}

func TestDNSRejectsMalformed(t *testing.T) {
	d, _ := NewDNS("canary.example.test", testIndex(), &hits{})
	src := netip.MustParseAddr("127.0.0.1")
	if r := d.Handle(context.Background(), src, []byte{1, 2, 3}); r != nil {
		t.Error("answered a truncated header")
	}
	// A response packet is never answered (no loops, no reflection).
	q := dnsQuery(t, dnsLabel+".canary.example.test.", dnsmessage.TypeA)
	q[2] |= 0x80
	if r := d.Handle(context.Background(), src, q); r != nil {
		t.Error("answered a response")
	}
	// Two questions: FORMERR.
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 1})
	b.StartQuestions()
	for i := 0; i < 2; i++ {
		b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName("a.canary.example.test."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	}
	two, _ := b.Finish()
	var m dnsmessage.Message
	if err := m.Unpack(d.Handle(context.Background(), src, two)); err != nil || m.Header.RCode != dnsmessage.RCodeFormatError {
		t.Errorf("two questions: rcode %v err %v, want FORMERR", m.Header.RCode, err)
	}
}

func TestDNSRateLimitStillRecords(t *testing.T) {
	h := &hits{}
	d, _ := NewDNS("canary.example.test", testIndex(), h, WithDNSLimiter(NewLimiter(0.001, 2, 10)))
	answered := 0
	for i := 0; i < 6; i++ {
		if d.Handle(context.Background(), netip.MustParseAddr("127.0.0.3"), dnsQuery(t, dnsLabel+".canary.example.test.", dnsmessage.TypeA)) != nil {
			answered++
		}
	}
	if answered != 2 || len(h.ids()) != 6 {
		t.Errorf("answered %d (want 2), recorded %d (want 6)", answered, len(h.ids()))
	}
}

func pgStartup(user, db string, ssl bool) []byte {
	var out []byte
	if ssl {
		out = append(out, 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f)
	}
	var body bytes.Buffer
	binary.Write(&body, binary.BigEndian, uint32(pgProtocol3))
	for _, kv := range [][2]string{{"user", user}, {"database", db}, {"application_name", "psql"}} {
		body.WriteString(kv[0] + "\x00" + kv[1] + "\x00")
	}
	body.WriteByte(0)
	l := make([]byte, 4)
	binary.BigEndian.PutUint32(l, uint32(body.Len()+4))
	out = append(out, l...)
	return append(out, body.Bytes()...)
}

func pgPassword(pw string) []byte {
	out := []byte{'p', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(out[1:], uint32(len(pw)+5))
	return append(append(out, pw...), 0)
}

type rw struct {
	r io.Reader
	w bytes.Buffer
}

func (x *rw) Read(p []byte) (int, error)  { return x.r.Read(p) }
func (x *rw) Write(p []byte) (int, error) { return x.w.Write(p) }

func TestPostgresDecoy(t *testing.T) {
	run := func(pw string, ssl bool) ([]byte, []string) {
		h := &hits{}
		p := NewPostgres(testIndex(), h)
		in := append(pgStartup("app_user", "orders", ssl), pgPassword(pw)...)
		c := &rw{r: bytes.NewReader(in)}
		p.Session(context.Background(), c, netip.MustParseAddr("127.0.0.1"))
		return c.w.Bytes(), h.ids()
	}
	known, kh := run(dbPW, true)
	unknown, uh := run("wrong-password-123", true)
	if len(kh) != 1 || kh[0] != "ht_db" || len(uh) != 0 {
		t.Errorf("hits known=%v unknown=%v", kh, uh)
	}
	if !bytes.Equal(known, unknown) {
		t.Error("known and unknown passwords answered differently")
	}
	if !bytes.HasPrefix(known, []byte{'N', 'R', 0, 0, 0, 8, 0, 0, 0, 3}) || !bytes.Contains(known, []byte("28P01")) {
		t.Errorf("unexpected protocol answer %q", known)
	}
	if bytes.Contains(known, []byte("app_user")) {
		t.Error("answer reflects the user name")
	}
	// Bad startup: nothing but silence.
	c := &rw{r: bytes.NewReader([]byte{0, 0, 0, 8, 0, 0, 0, 1})}
	NewPostgres(testIndex(), &hits{}).Session(context.Background(), c, netip.MustParseAddr("127.0.0.1"))
	if c.w.Len() != 0 {
		t.Errorf("answered a bad startup with %q", c.w.Bytes())
	}
}

func FuzzHTTPDecoy(f *testing.F) {
	f.Add([]byte("GET /static/" + webLabel + ".gif HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: x\r\nAuthorization: " + sigv4(awsID) + "\r\nContent-Length: 3\r\n\r\nA=B"))
	f.Add([]byte("POST /v2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 40\r\n\r\ngrant_type=password&password=" + dockPW[:11]))
	f.Add([]byte("GET /v2/ HTTP/1.1\r\nHost: x\r\nAuthorization: Basic !!!\r\n\r\n"))
	f.Add([]byte("GET /-/whoami HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + npmTok + "\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return
		}
		req.RemoteAddr = "127.0.0.1:1"
		h := &hits{}
		d := NewHTTP(testIndex(), h)
		rr := httptest.NewRecorder()
		d.ServeHTTP(rr, req)
		switch rr.Code {
		case 200, 401, 403, 404, 429:
		default:
			t.Fatalf("unexpected status %d", rr.Code)
		}
		if rr.Body.Len() > 1024 {
			t.Fatalf("response of %d bytes", rr.Body.Len())
		}
		for _, x := range h.hs {
			if len(x.Summary) > 310 || len(x.UserAgent) > 210 {
				t.Fatalf("unbounded hit fields")
			}
		}
	})
}

func FuzzDNSDecoy(f *testing.F) {
	f.Add(dnsQuery(f, dnsLabel+".canary.example.test.", dnsmessage.TypeA))
	f.Add(dnsQuery(f, "canary.example.test.", dnsmessage.TypeSOA))
	f.Add(dnsQuery(f, "x.example.org.", dnsmessage.TypeTXT))
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c})
	d, _ := NewDNS("canary.example.test", testIndex(), &hits{})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		resp := d.Handle(context.Background(), netip.MustParseAddr("127.0.0.1"), pkt)
		if resp == nil {
			return
		}
		var m dnsmessage.Message
		if err := m.Unpack(resp); err != nil {
			t.Fatalf("unparsable response: %v", err)
		}
		if !m.Header.Response || len(resp) > 512 {
			t.Fatalf("bad response header or size %d", len(resp))
		}
		if len(pkt) >= 2 && m.Header.ID != uint16(pkt[0])<<8|uint16(pkt[1]) {
			t.Fatal("response id does not match")
		}
	})
}

func FuzzPostgresDecoy(f *testing.F) {
	f.Add(append(pgStartup("u", "d", true), pgPassword(dbPW)...))
	f.Add(pgStartup("u", "d", false))
	f.Add([]byte{0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f, 0, 0, 0, 8, 4, 0xd2, 0x16, 0x30})
	f.Fuzz(func(t *testing.T, in []byte) {
		c := &rw{r: bytes.NewReader(in)}
		NewPostgres(testIndex(), &hits{}).Session(context.Background(), c, netip.MustParseAddr("127.0.0.1"))
		if c.w.Len() > 128 {
			t.Fatalf("answered %d bytes", c.w.Len())
		}
	})
}

var _ = time.Second

func TestCAIssuesVerifiableCertificates(t *testing.T) {
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	pemData, _ := ca.MarshalPEM()
	ca2, err := ParseCAPEM(pemData)
	if err != nil || !bytes.Equal(ca2.CertPEM(), ca.CertPEM()) {
		t.Fatalf("CA round trip: %v", err)
	}
	if _, err := ParseCAPEM(ca.CertPEM()); err == nil {
		t.Error("CA without key accepted")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := &http.Server{Handler: NewHTTP(testIndex(), &hits{})}
	go srv.Serve(SniffTLS(ln, ca2.TLSConfig(NewLimiter(1, 5, 10))))
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM())
	for _, tc := range []struct {
		sni    string
		wantOK bool
	}{{"", true}, {"kube.corp.example", true}} {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: tc.sni}}}
		resp, err := c.Get("https://" + ln.Addr().String() + "/api")
		if err != nil {
			t.Errorf("sni %q: %v", tc.sni, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("sni %q: status %d", tc.sni, resp.StatusCode)
		}
	}
	// A client trusting another CA refuses the decoy (the check can fail).
	other, _ := NewCA()
	pool2 := x509.NewCertPool()
	pool2.AppendCertsFromPEM(other.CertPEM())
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool2}}}
	if _, err := c.Get("https://" + ln.Addr().String() + "/api"); err == nil {
		t.Error("certificate verified against an unrelated CA")
	}
	// Plain HTTP still works on the same port.
	resp, err := http.Get("http://" + ln.Addr().String() + "/api")
	if err != nil || resp.StatusCode != 401 {
		t.Errorf("plain http on the TLS port: %v", err)
	}
}

// Issuing certificates for new SNI names is limited per source; over the
// limit the client gets the local-address certificate.
func TestCAIssuanceLimited(t *testing.T) {
	ca, _ := NewCA()
	cfg := ca.TLSConfig(NewLimiter(0.0001, 1, 10))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	names := func(sni string) []string {
		crt, err := cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: sni, Conn: c})
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := x509.ParseCertificate(crt.Certificate[0])
		out := append([]string{}, leaf.DNSNames...)
		for _, ip := range leaf.IPAddresses {
			out = append(out, ip.String())
		}
		return out
	}
	has := func(list []string, s string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	}
	if n := names("a.corp.example"); !has(n, "a.corp.example") {
		t.Errorf("first name not issued: %v", n)
	}
	if n := names("b.corp.example"); has(n, "b.corp.example") || !has(n, "127.0.0.1") {
		t.Errorf("second new name from the same source was issued: %v", n)
	}
	if n := names("a.corp.example"); !has(n, "a.corp.example") {
		t.Errorf("cached name refused: %v", n)
	}
}

func TestDNSOverTCP(t *testing.T) {
	h := &hits{}
	d, _ := NewDNS("canary.example.test", testIndex(), h)
	q := dnsQuery(t, dnsLabel+".canary.example.test.", dnsmessage.TypeA)
	in := append([]byte{byte(len(q) >> 8), byte(len(q))}, q...)
	in = append(in, in...)               // two queries on one connection
	in = append(in, 0xff, 0xff, 1, 2, 3) // then an oversized length: dropped
	c := &rw{r: bytes.NewReader(in)}
	d.stream(context.Background(), c, netip.MustParseAddr("127.0.0.1"))
	out := c.w.Bytes()
	for i := 0; i < 2; i++ {
		if len(out) < 2 {
			t.Fatalf("answer %d missing", i)
		}
		n := int(out[0])<<8 | int(out[1])
		var m dnsmessage.Message
		if err := m.Unpack(out[2 : 2+n]); err != nil || len(m.Answers) != 1 {
			t.Fatalf("answer %d: %v %v", i, err, m.Answers)
		}
		out = out[2+n:]
	}
	if len(out) != 0 || len(h.ids()) != 2 {
		t.Errorf("trailing %d bytes, %d hits", len(out), len(h.ids()))
	}
}

func FuzzDNSOverTCP(f *testing.F) {
	q := dnsQuery(f, dnsLabel+".canary.example.test.", dnsmessage.TypeA)
	f.Add(append([]byte{byte(len(q) >> 8), byte(len(q))}, q...))
	f.Add([]byte{0, 0})
	d, _ := NewDNS("canary.example.test", testIndex(), &hits{})
	f.Fuzz(func(t *testing.T, in []byte) {
		c := &rw{r: bytes.NewReader(in)}
		d.stream(context.Background(), c, netip.MustParseAddr("127.0.0.1"))
		if c.w.Len() > 8*(2+512) {
			t.Fatalf("answered %d bytes", c.w.Len())
		}
	})
}

func TestLimitPerSource(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := LimitPerSource(raw, 2)
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func(src string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	var held []net.Conn
	for i := 0; i < 3; i++ {
		held = append(held, dial("127.0.0.21"))
	}
	other := dial("127.0.0.22")
	defer other.Close()
	got := map[string]int{}
	for i := 0; i < 3; i++ {
		select {
		case c := <-accepted:
			h, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			got[h]++
			defer c.Close()
		case <-time.After(10 * time.Second):
			t.Fatalf("accepted %v", got)
		}
	}
	if got["127.0.0.21"] != 2 || got["127.0.0.22"] != 1 {
		t.Errorf("accepted %v, want 2 from the busy source and 1 from the other", got)
	}
	// The third connection of the busy source was closed by the server.
	held[2].SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := held[2].Read(make([]byte, 1)); err == nil {
		t.Error("over-limit connection stayed open")
	}
	for _, c := range held {
		c.Close()
	}
}
