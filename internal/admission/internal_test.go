package admission

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestDeadline(t *testing.T) {
	s := &Server{cfg: Config{Timeout: 8 * time.Second}}
	for q, want := range map[string]time.Duration{
		"":     8 * time.Second,
		"30s":  8 * time.Second, // the API server waits longer than we do
		"5s":   4 * time.Second, // 80 % of what the API server waits
		"junk": 8 * time.Second, // unreadable: our own deadline
		"-3s":  8 * time.Second,
	} {
		r := httptest.NewRequest("POST", "/validate?timeout="+q, nil)
		if got := s.deadline(r); got != want {
			t.Errorf("timeout=%q: deadline %s, want %s", q, got, want)
		}
	}
}

func writePair(t *testing.T, dir, cn string) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(k)
	_ = os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600)
}

// TestCertReloader: a rotated pair is served without a restart; a broken
// rotation keeps the previous pair in service.
func TestCertReloader(t *testing.T) {
	dir := t.TempDir()
	writePair(t, dir, "first")
	r, err := NewCertReloader(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	r.recheck = 0
	cn := func() string {
		c, err := r.GetCertificate(nil)
		if err != nil || c == nil {
			t.Fatalf("no certificate: %v", err)
		}
		x, _ := x509.ParseCertificate(c.Certificate[0])
		return x.Subject.CommonName
	}
	if cn() != "first" {
		t.Fatal("first pair not served")
	}
	time.Sleep(10 * time.Millisecond) // distinct modification times
	writePair(t, dir, "second")
	if got := cn(); got != "second" {
		t.Fatalf("after rotation serving %q", got)
	}
	time.Sleep(10 * time.Millisecond)
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := cn(); got != "second" {
		t.Fatalf("a broken rotation replaced the pair: serving %q", got)
	}
	if _, err := NewCertReloader(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")); err == nil {
		t.Fatal("a broken pair was accepted at start")
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdefghij", 8, "abcde…"},
		{"ééééé", 7, "éé…"}, // never cuts a rune in half
	} {
		if got := truncate(tc.in, tc.n); got != tc.want || len(got) > tc.n {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
