package admission

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// CertReloader serves a TLS certificate from files and picks up a rotated
// pair (cert-manager, a renewed Secret) without a restart: the files are
// checked at most every few seconds, on handshake.
type CertReloader struct {
	certPath, keyPath string
	mu                sync.Mutex
	cert              *tls.Certificate
	modCert, modKey   time.Time
	checked           time.Time
	recheck           time.Duration
}

// NewCertReloader loads the pair once, failing if it is unusable.
func NewCertReloader(certPath, keyPath string) (*CertReloader, error) {
	r := &CertReloader{certPath: certPath, keyPath: keyPath, recheck: 5 * time.Second}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *CertReloader) load() error {
	ci, err := os.Stat(r.certPath)
	if err != nil {
		return fmt.Errorf("reading TLS certificate: %w", err)
	}
	ki, err := os.Stat(r.keyPath)
	if err != nil {
		return fmt.Errorf("reading TLS key: %w", err)
	}
	if r.cert != nil && ci.ModTime().Equal(r.modCert) && ki.ModTime().Equal(r.modKey) {
		return nil
	}
	c, err := tls.LoadX509KeyPair(r.certPath, r.keyPath)
	if err != nil {
		return fmt.Errorf("loading TLS key pair: %w", err)
	}
	r.cert, r.modCert, r.modKey = &c, ci.ModTime(), ki.ModTime()
	return nil
}

// GetCertificate implements tls.Config.GetCertificate. A rotation that
// fails to load keeps the previous certificate in service.
func (r *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) >= r.recheck {
		r.checked = time.Now()
		_ = r.load()
	}
	return r.cert, nil
}
