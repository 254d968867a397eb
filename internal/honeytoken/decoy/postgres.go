package decoy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"
)

// PostgreSQL wire protocol codes the decoy understands.
const (
	pgProtocol3   = 196608   // 3.0
	pgSSLRequest  = 80877103 // asks for TLS
	pgGSSRequest  = 80877104 // asks for GSSAPI encryption
	pgMaxStartup  = 10000    // the server's own limit on a startup packet
	pgMaxPassword = 1024
	pgDeadline    = 10 * time.Second
)

// Postgres speaks enough of the PostgreSQL startup and authentication
// protocol to capture the user name and password a client offers: it
// refuses TLS, asks for a cleartext password, and always answers that
// authentication failed.
type Postgres struct {
	idx      Index
	rec      Recorder
	lim      *Limiter
	log      *slog.Logger
	maxConns int
}

// PostgresOption configures the database decoy.
type PostgresOption func(*Postgres)

// WithPostgresLimiter sets the per-source limiter (it bounds connections a
// source may open that get a full handshake).
func WithPostgresLimiter(l *Limiter) PostgresOption { return func(p *Postgres) { p.lim = l } }

// WithPostgresLogger sets the logger.
func WithPostgresLogger(l *slog.Logger) PostgresOption { return func(p *Postgres) { p.log = l } }

// WithPostgresMaxConns bounds concurrent connections.
func WithPostgresMaxConns(n int) PostgresOption { return func(p *Postgres) { p.maxConns = n } }

// NewPostgres returns the database decoy.
func NewPostgres(idx Index, rec Recorder, opts ...PostgresOption) *Postgres {
	p := &Postgres{idx: idx, rec: rec, log: slog.Default(), maxConns: 256}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Serve accepts connections on ln until ctx ends.
func (p *Postgres) Serve(ctx context.Context, ln net.Listener) error {
	return serveConns(ctx, ln, p.maxConns, "database", pgDeadline, func(c net.Conn) {
		p.Session(ctx, c, remoteAddr(c.RemoteAddr().String()))
	})
}

// Session runs the protocol on one connection.
func (p *Postgres) Session(ctx context.Context, rw io.ReadWriter, src netip.Addr) {
	br := bufio.NewReaderSize(rw, 512)
	params, err := p.startup(br, rw)
	if err != nil {
		return
	}
	// AuthenticationCleartextPassword.
	if _, err := rw.Write([]byte{'R', 0, 0, 0, 8, 0, 0, 0, 3}); err != nil {
		return
	}
	pw, err := readPassword(br)
	if err != nil {
		return
	}
	cands := []string{pw}
	if u := params["user"]; u != "" {
		cands = append(cands, u)
	}
	if ids, matched := lookupAll(p.idx, cands); len(ids) > 0 {
		hit := Hit{
			Time:      time.Now().UTC(),
			Channel:   "postgres",
			Source:    src.String(),
			UserAgent: sanitize(params["application_name"], 100),
			Summary:   sanitize(redact(fmt.Sprintf("startup user=%s database=%s", params["user"], params["database"]), matched), 300),
		}
		for _, id := range ids {
			hit.TokenID = id
			if err := p.rec.Record(ctx, hit); err != nil {
				p.log.Error("recording honeytoken hit", "token", id, "err", err)
			}
		}
	}
	if !p.lim.Allow(src) {
		return
	}
	rw.Write(pgAuthFailed)
}

// pgAuthFailed is a fixed FATAL 28P01 ErrorResponse; unlike the real server
// it names no user, so nothing the client sent comes back.
var pgAuthFailed = func() []byte {
	var body bytes.Buffer
	for _, f := range []struct {
		code byte
		val  string
	}{{'S', "FATAL"}, {'V', "FATAL"}, {'C', "28P01"}, {'M', "password authentication failed"}, {'R', "auth_failed"}} {
		body.WriteByte(f.code)
		body.WriteString(f.val)
		body.WriteByte(0)
	}
	body.WriteByte(0)
	out := []byte{'E', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(out[1:], uint32(body.Len()+4))
	return append(out, body.Bytes()...)
}()

// startup reads the startup packet, refusing TLS and GSS encryption
// requests (at most once each), and returns its parameters.
func (p *Postgres) startup(br *bufio.Reader, w io.Writer) (map[string]string, error) {
	for i := 0; i < 3; i++ {
		var hdr [8]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return nil, err
		}
		n := binary.BigEndian.Uint32(hdr[:4])
		code := binary.BigEndian.Uint32(hdr[4:])
		if n < 8 || n > pgMaxStartup {
			return nil, errors.New("bad startup length")
		}
		switch code {
		case pgSSLRequest, pgGSSRequest:
			if n != 8 {
				return nil, errors.New("bad encryption request")
			}
			if _, err := w.Write([]byte{'N'}); err != nil {
				return nil, err
			}
			continue
		case pgProtocol3:
			body := make([]byte, n-8)
			if _, err := io.ReadFull(br, body); err != nil {
				return nil, err
			}
			return parseStartupParams(body)
		default:
			return nil, errors.New("unsupported protocol")
		}
	}
	return nil, errors.New("too many encryption requests")
}

// parseStartupParams parses NUL-terminated name/value pairs ending in an
// empty name.
func parseStartupParams(b []byte) (map[string]string, error) {
	out := make(map[string]string)
	for {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return nil, errors.New("unterminated startup parameter")
		}
		if i == 0 {
			if len(b) != 1 {
				return nil, errors.New("data after startup parameters")
			}
			break
		}
		name := string(b[:i])
		b = b[i+1:]
		j := bytes.IndexByte(b, 0)
		if j < 0 {
			return nil, errors.New("unterminated startup value")
		}
		if len(out) >= 64 {
			return nil, errors.New("too many startup parameters")
		}
		out[strings.ToLower(name)] = string(b[:j])
		b = b[j+1:]
	}
	if out["user"] == "" {
		return nil, errors.New("startup without user")
	}
	return out, nil
}

// readPassword reads a PasswordMessage.
func readPassword(br *bufio.Reader) (string, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return "", err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if hdr[0] != 'p' || n < 5 || n > pgMaxPassword+4 {
		return "", errors.New("not a password message")
	}
	body := make([]byte, n-4)
	if _, err := io.ReadFull(br, body); err != nil {
		return "", err
	}
	if body[len(body)-1] != 0 || bytes.IndexByte(body, 0) != len(body)-1 {
		return "", errors.New("malformed password message")
	}
	return string(body[:len(body)-1]), nil
}
