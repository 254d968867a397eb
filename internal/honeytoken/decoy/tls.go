package decoy

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"time"
)

// SniffTLS wraps ln so that each connection is served as TLS when its
// first byte is a TLS handshake record and as plain text otherwise: one
// port serves both http:// and https:// decoys.
func SniffTLS(ln net.Listener, cfg *tls.Config) net.Listener {
	return &sniffListener{Listener: ln, cfg: cfg}
}

type sniffListener struct {
	net.Listener
	cfg *tls.Config
}

func (l *sniffListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &sniffConn{Conn: c, cfg: l.cfg}, nil
}

// sniffConn decides on its first use, so that a slow client never holds
// up Accept; the server's read deadline bounds the wait.
type sniffConn struct {
	net.Conn
	cfg  *tls.Config
	once sync.Once
	eff  net.Conn
}

type prefixConn struct {
	net.Conn
	r *bufio.Reader
}

func (p *prefixConn) Read(b []byte) (int, error) { return p.r.Read(b) }

func (s *sniffConn) sniff() {
	br := bufio.NewReaderSize(s.Conn, 1024)
	pc := &prefixConn{Conn: s.Conn, r: br}
	s.eff = pc
	if b, err := br.Peek(1); err == nil && b[0] == 0x16 {
		s.eff = tls.Server(pc, s.cfg)
	}
}

func (s *sniffConn) Read(b []byte) (int, error) {
	s.once.Do(s.sniff)
	return s.eff.Read(b)
}

func (s *sniffConn) Write(b []byte) (int, error) {
	s.once.Do(s.sniff)
	return s.eff.Write(b)
}

func (s *sniffConn) Close() error {
	if s.eff != nil {
		return s.eff.Close()
	}
	return s.Conn.Close()
}

// CA is the decoys' own certificate authority. Kubeconfig decoys embed its
// certificate (as real kubeconfigs embed their cluster CA), and the HTTP
// listener presents certificates it issues, so kubectl verifies TLS and
// sends its token as it would to a real API server.
type CA struct {
	cert *x509.Certificate
	der  []byte
	key  *ecdsa.PrivateKey

	mu    sync.Mutex
	cache map[string]*tls.Certificate
}

// maxIssued bounds the certificates kept for server names seen in TLS
// handshakes.
const maxIssued = 256

// NewCA makes a CA with a fresh key.
func NewCA() (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "kubernetes"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return parseCA(der, key)
}

func parseCA(der []byte, key *ecdsa.PrivateKey) (*CA, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{cert: cert, der: der, key: key, cache: make(map[string]*tls.Certificate)}, nil
}

// MarshalPEM returns the CA certificate and private key as PEM.
func (c *CA) MarshalPEM() ([]byte, error) {
	k, err := x509.MarshalECPrivateKey(c.key)
	if err != nil {
		return nil, err
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: k})...), nil
}

// ParseCAPEM reads what MarshalPEM wrote.
func ParseCAPEM(data []byte) (*CA, error) {
	var der []byte
	var key *ecdsa.PrivateKey
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			der = b.Bytes
		case "EC PRIVATE KEY":
			k, err := x509.ParseECPrivateKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("decoy CA key: %w", err)
			}
			key = k
		}
	}
	if der == nil || key == nil {
		return nil, errors.New("decoy CA file needs a CERTIFICATE and an EC PRIVATE KEY")
	}
	return parseCA(der, key)
}

// CertPEM returns the CA certificate in PEM form.
func (c *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der})
}

// TLSConfig returns a server config that presents a certificate issued
// for the name the client asked for (SNI), or for the local address the
// client connected to. Issuing for a new name is costly work: lim (may be
// nil) bounds it per source, and a source over its limit gets the
// certificate for the local address instead.
func (c *CA) TLSConfig(lim *Limiter) *tls.Config {
	return &tls.Config{
		NextProtos: []string{"http/1.1"},
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			local := ""
			if hello.Conn != nil {
				if h, _, err := net.SplitHostPort(hello.Conn.LocalAddr().String()); err == nil {
					local = h
				}
			}
			name := strings.ToLower(hello.ServerName)
			if name == "" || len(name) > 253 {
				return c.issue(local)
			}
			if !c.cached(name) && hello.Conn != nil && !lim.Allow(remoteAddr(hello.Conn.RemoteAddr().String())) {
				return c.issue(local)
			}
			return c.issue(name)
		},
	}
}

func (c *CA) cached(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.cache[name]
	return ok
}

func (c *CA) issue(name string) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if crt, ok := c.cache[name]; ok {
		return crt, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else if name != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, name)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		return nil, err
	}
	crt := &tls.Certificate{Certificate: [][]byte{der, c.der}, PrivateKey: key}
	if len(c.cache) >= maxIssued {
		for k := range c.cache {
			delete(c.cache, k)
			break
		}
	}
	c.cache[name] = crt
	return crt, nil
}
