package decoy

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync"
	"time"
)

// SelfSignedTLS returns a server TLS config with a fresh self-signed
// certificate for hosts (names or IPs). Clients of the decoys that insist
// on TLS before sending credentials (kubectl) are configured to skip
// verification, as many real kubeconfigs are.
func SelfSignedTLS(hosts ...string) (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "localhost"},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		NextProtos:   []string{"http/1.1"},
		MinVersion:   tls.VersionTLS12,
	}, nil
}

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
