package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/pipeguard/pipeguard/internal/store"
	"github.com/pipeguard/pipeguard/internal/tlog"
)

// LogDir is where a home keeps the log: its identity, and its tiles in
// the "tiles" subdirectory.
func LogDir(homeDir string) string { return filepath.Join(homeDir, "log") }

// TilesDir is where the log's C2SP tiles live.
func TilesDir(homeDir string) string { return filepath.Join(LogDir(homeDir), "tiles") }

// DefaultDSN is the SQLite store inside the home.
func DefaultDSN(homeDir string) string { return filepath.Join(homeDir, "pipeguard.db") }

// dsnFile records, in the home, which PostgreSQL store the server uses, so
// that `server add-builder` without --db registers builders where the
// server looks. The password is never written: it comes from PGPASSWORD
// or ~/.pgpass, as for any libpq client.
func dsnFile(homeDir string) string { return filepath.Join(homeDir, "store.dsn") }

func withoutPassword(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://invalid"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	if q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// storeDSN is dsn, else the PostgreSQL store the server last ran with,
// else SQLite in the home.
func storeDSN(homeDir, dsn string) string {
	if dsn != "" {
		return dsn
	}
	if b, err := os.ReadFile(dsnFile(homeDir)); err == nil {
		if d := strings.TrimSpace(string(b)); store.IsPostgresDSN(d) {
			return d
		}
	}
	return DefaultDSN(homeDir)
}

// PasswordFunc supplies the password protecting the log key; nil or an
// empty password means the key is stored unencrypted (mode 0600).
type PasswordFunc func() ([]byte, error)

// EnsureIdentity loads the home's log identity, creating it for origin on
// first use. An existing identity keeps its origin: asking for another one
// is an error, since every checkpoint already names the first.
func EnsureIdentity(homeDir, origin string, password PasswordFunc, log *slog.Logger) (*tlog.Identity, error) {
	id, err := tlog.LoadPublicIdentity(LogDir(homeDir))
	switch {
	case err == nil:
		if origin != "" && origin != id.Origin {
			return nil, fmt.Errorf("the log in %s was created with origin %q; it cannot become %q", homeDir, id.Origin, origin)
		}
		return tlog.LoadIdentity(LogDir(homeDir), password)
	case !errors.Is(err, tlog.ErrNoIdentity):
		return nil, err
	}
	if origin == "" {
		return nil, errors.New("the log has no identity yet and no origin was given")
	}
	if err := os.MkdirAll(homeDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating home: %w", err)
	}
	var pw []byte
	if password != nil {
		if pw, err = password(); err != nil {
			return nil, fmt.Errorf("reading log key password: %w", err)
		}
	}
	if len(pw) == 0 && log != nil {
		log.Warn("created the log key UNENCRYPTED (mode 0600); set PIPEGUARD_PASSWORD before the first start to encrypt it", "home", homeDir)
	}
	id, err = tlog.CreateIdentity(LogDir(homeDir), origin, pw)
	if err != nil {
		return nil, err
	}
	if log != nil {
		log.Info("created log identity", "origin", origin, "verifier_key", id.VerifierKey())
	}
	return tlog.LoadIdentity(LogDir(homeDir), password)
}

// OriginForListen picks the origin for a log first started on addr: its
// host when it names one, else the machine's host name.
func OriginForListen(addr string) (string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return host, nil
	}
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("choosing a log origin (give --origin): %w", err)
	}
	return h, nil
}

// Config is how `pipeguard server` runs.
type Config struct {
	Home   string
	DSN    string // default: SQLite in the home
	Listen string
	// Origin is used only when the log is created; default: the listen host.
	Origin       string
	Password     PasswordFunc
	PrivateStore bool
	LogOptions   []tlog.LogOption
	Logger       *slog.Logger
	// Ready, if set, is called with the bound address once serving.
	Ready func(addr string)
}

// Run opens the log and the store and serves until ctx is done.
func Run(ctx context.Context, c Config) error {
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	origin := c.Origin
	if origin == "" {
		if _, err := tlog.LoadPublicIdentity(LogDir(c.Home)); errors.Is(err, tlog.ErrNoIdentity) {
			if origin, err = OriginForListen(c.Listen); err != nil {
				return err
			}
		}
	}
	id, err := EnsureIdentity(c.Home, origin, c.Password, log)
	if err != nil {
		return err
	}
	dsn := c.DSN
	if dsn == "" {
		dsn = DefaultDSN(c.Home)
	}
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if store.IsPostgresDSN(dsn) {
		if err := os.WriteFile(dsnFile(c.Home), []byte(withoutPassword(dsn)+"\n"), 0o600); err != nil {
			return fmt.Errorf("recording the store in the home: %w", err)
		}
	} else {
		os.Remove(dsnFile(c.Home))
	}
	if db.Dialect == store.Postgres {
		// Beyond this, requests wait for a connection instead of failing
		// on the server's max_connections.
		db.SetMaxOpenConns(32)
	}
	lg, err := tlog.OpenLog(ctx, TilesDir(c.Home), id, append([]tlog.LogOption{tlog.WithLogger(log)}, c.LogOptions...)...)
	if err != nil {
		return err
	}
	opts := []Option{WithLogger(log)}
	if c.PrivateStore {
		opts = append(opts, WithPrivateStore())
	}
	s, err := New(ctx, lg, TilesDir(c.Home), db, opts...)
	if err != nil {
		lg.Close(context.WithoutCancel(ctx))
		return err
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		lg.Close(context.WithoutCancel(ctx))
		return fmt.Errorf("listening on %s: %w", c.Listen, err)
	}
	log.Info("serving transparency log and attestation store", "addr", ln.Addr().String(), "origin", id.Origin, "store", redactDSN(dsn))
	if c.Ready != nil {
		c.Ready(ln.Addr().String())
	}
	return s.Serve(ctx, ln)
}

// redactDSN hides a PostgreSQL password in logs.
func redactDSN(dsn string) string {
	if !store.IsPostgresDSN(dsn) {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://(unparsable)"
	}
	return u.Redacted()
}

// AddBuilder registers a builder in the home's store (or dsn) and returns
// its write token.
func AddBuilder(ctx context.Context, homeDir, dsn, name string, pubPEM []byte) (string, error) {
	if err := os.MkdirAll(homeDir, 0o700); err != nil {
		return "", fmt.Errorf("creating home: %w", err)
	}
	db, err := store.Open(ctx, storeDSN(homeDir, dsn))
	if err != nil {
		return "", err
	}
	defer db.Close()
	r, err := NewBuilders(ctx, db)
	if err != nil {
		return "", err
	}
	return r.Add(ctx, name, pubPEM)
}

// TrustedRoot returns the trusted root for the home's log published at
// baseURL. A home without a log yet gets one whose origin is the URL's
// host, so the two always agree.
func TrustedRoot(homeDir, baseURL string, password PasswordFunc, log *slog.Logger) ([]byte, error) {
	id, err := tlog.LoadPublicIdentity(LogDir(homeDir))
	if errors.Is(err, tlog.ErrNoIdentity) {
		u, perr := url.Parse(baseURL)
		if perr != nil || u.Hostname() == "" {
			return nil, fmt.Errorf("log URL %q must be an absolute http(s) URL", baseURL)
		}
		id, err = EnsureIdentity(homeDir, u.Hostname(), password, log)
	}
	if err != nil {
		return nil, err
	}
	return id.TrustedRoot(baseURL, id.Created)
}
