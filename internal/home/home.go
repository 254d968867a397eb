// Package home manages pipeguard's one directory of state: its config, the
// signing key pair and the default SQLite store.
package home

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/pipeguard/pipeguard/internal/sign"
)

// EnvHome names the environment variable that chooses the home directory.
const EnvHome = "PIPEGUARD_HOME"

// EnvPassword names the environment variable holding the key password.
const EnvPassword = "PIPEGUARD_PASSWORD"

// DefaultBuilderID is the builder id written into provenance unless the
// config names another.
const DefaultBuilderID = "https://pipeguard.dev/builders/local/v1"

// ConfigAPIVersion is the apiVersion of config.yaml.
const ConfigAPIVersion = "pipeguard.dev/config/v1"

// Config is the content of config.yaml in the home.
type Config struct {
	APIVersion string `yaml:"apiVersion"`
	// BuilderID identifies this build platform in provenance.
	BuilderID string `yaml:"builderID"`
	// KeyType is the algorithm of the signing key.
	KeyType string `yaml:"keyType"`
}

// Home is an opened home directory.
type Home struct {
	Dir    string
	Config Config

	password PasswordFunc
	log      *slog.Logger
}

// PasswordFunc supplies the key password. It returns nil, nil when no
// password is available (no environment variable and no terminal).
type PasswordFunc func(confirm bool) ([]byte, error)

// Option configures Init and Open.
type Option func(*options)

type options struct {
	password   PasswordFunc
	noPassword bool
	keyType    string
	builderID  string
	log        *slog.Logger
}

// WithPassword sets where the key password comes from. The default reads
// PIPEGUARD_PASSWORD (then COSIGN_PASSWORD) and nothing else.
func WithPassword(f PasswordFunc) Option { return func(o *options) { o.password = f } }

// WithNoPassword makes Init write an unencrypted key, as explicitly asked.
func WithNoPassword() Option { return func(o *options) { o.noPassword = true } }

// WithKeyType chooses the signing key algorithm for a new home.
func WithKeyType(t string) Option { return func(o *options) { o.keyType = t } }

// WithBuilderID sets the builder id recorded in a new home's config.
func WithBuilderID(id string) Option { return func(o *options) { o.builderID = id } }

// WithLogger sets the logger used for warnings.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// EnvPasswordFunc reads the password from PIPEGUARD_PASSWORD or, so that
// cosign users bring their setup, COSIGN_PASSWORD.
func EnvPasswordFunc(bool) ([]byte, error) {
	for _, k := range []string{EnvPassword, "COSIGN_PASSWORD"} {
		if v, ok := os.LookupEnv(k); ok && v != "" {
			return []byte(v), nil
		}
	}
	return nil, nil
}

// Resolve returns the home directory: the flag value if set, else
// $PIPEGUARD_HOME, else ~/.pipeguard.
func Resolve(flag string) (string, error) {
	if flag != "" {
		return filepath.Abs(flag)
	}
	if v := os.Getenv(EnvHome); v != "" {
		return filepath.Abs(v)
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the user's home directory (set %s): %w", EnvHome, err)
	}
	return filepath.Join(h, ".pipeguard"), nil
}

func newOptions(opts []Option) *options {
	o := &options{password: EnvPasswordFunc, log: slog.Default(), keyType: sign.AlgECDSAP256, builderID: DefaultBuilderID}
	for _, f := range opts {
		f(o)
	}
	return o
}

// Path joins elem onto the home directory.
func (h *Home) Path(elem ...string) string { return filepath.Join(append([]string{h.Dir}, elem...)...) }

// KeyPath is the private signing key's file.
func (h *Home) KeyPath() string { return h.Path("keys", "signing.key") }

// PublicKeyPath is the public signing key's file.
func (h *Home) PublicKeyPath() string { return h.Path("keys", "signing.pub") }

// DBPath is the default SQLite store.
func (h *Home) DBPath() string { return h.Path("pipeguard.db") }

func (h *Home) configPath() string { return h.Path("config.yaml") }

// Init creates the home with a new signing key pair. It refuses to replace
// an existing key. The key is encrypted unless WithNoPassword is given; no
// password available is then an error.
func Init(ctx context.Context, dir string, opts ...Option) (*Home, error) {
	o := newOptions(opts)
	var pw []byte
	if !o.noPassword {
		var err error
		pw, err = o.password(true)
		if err != nil {
			return nil, fmt.Errorf("reading key password: %w", err)
		}
		if len(pw) == 0 {
			return nil, fmt.Errorf("no password for the signing key: set %s, run on a terminal, or pass --no-password", EnvPassword)
		}
	}
	return create(ctx, dir, o, pw)
}

// Open opens the home, creating it on first use. When it must create it
// and no password is available, it writes an unencrypted key (mode 0600) and
// warns loudly, pointing to `pipeguard init` for production.
func Open(ctx context.Context, dir string, opts ...Option) (*Home, error) {
	o := newOptions(opts)
	h := &Home{Dir: dir, password: o.password, log: o.log}
	data, err := os.ReadFile(h.configPath())
	switch {
	case err == nil:
		if err := decodeConfig(data, &h.Config); err != nil {
			return nil, fmt.Errorf("reading %s: %w", h.configPath(), err)
		}
		return h, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("reading home config: %w", err)
	}
	pw, err := o.password(true)
	if err != nil {
		return nil, fmt.Errorf("reading key password: %w", err)
	}
	if len(pw) == 0 {
		o.log.Warn("created a home with an UNENCRYPTED signing key (mode 0600): fine for a quick start, not for production; run `pipeguard init` with PIPEGUARD_PASSWORD set to create an encrypted key",
			"home", dir)
	}
	return create(ctx, dir, o, pw)
}

func decodeConfig(data []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return err
	}
	if c.APIVersion != ConfigAPIVersion {
		return fmt.Errorf("unsupported apiVersion %q (want %q)", c.APIVersion, ConfigAPIVersion)
	}
	return nil
}

func create(_ context.Context, dir string, o *options, pw []byte) (*Home, error) {
	h := &Home{Dir: dir, password: o.password, log: o.log, Config: Config{
		APIVersion: ConfigAPIVersion, BuilderID: o.builderID, KeyType: o.keyType,
	}}
	if _, err := os.Stat(h.KeyPath()); err == nil {
		return nil, fmt.Errorf("home %s already has a signing key; refusing to replace it", dir)
	}
	if err := os.MkdirAll(filepath.Dir(h.KeyPath()), 0o700); err != nil {
		return nil, fmt.Errorf("creating home: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("securing home: %w", err)
	}
	key, err := sign.GenerateKey(o.keyType)
	if err != nil {
		return nil, err
	}
	priv, err := sign.EncodePrivateKey(key, pw)
	if err != nil {
		return nil, err
	}
	pub, err := sign.EncodePublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	cfg, err := yaml.Marshal(&h.Config)
	if err != nil {
		return nil, fmt.Errorf("encoding config: %w", err)
	}
	// The config is written last: its presence marks a complete home.
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{h.KeyPath(), priv, 0o600},
		{h.PublicKeyPath(), pub, 0o644},
		{h.configPath(), cfg, 0o644},
	} {
		if err := WriteFileAtomic(f.path, f.data, f.mode); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// Signer loads the home's private key, asking for its password if it is
// encrypted.
func (h *Home) Signer(_ context.Context, opts ...sign.SignerOption) (*sign.Signer, error) {
	return LoadSigner(h.KeyPath(), h.password, opts...)
}

// PublicKeyPEM returns the home's public key in PEM form.
func (h *Home) PublicKeyPEM() ([]byte, error) {
	b, err := os.ReadFile(h.PublicKeyPath())
	if err != nil {
		return nil, fmt.Errorf("reading public key: %w", err)
	}
	return b, nil
}

// LoadSigner reads a private key file (pipeguard's, cosign's or plain PEM)
// and returns a signer, asking pw for a password when the key is encrypted.
func LoadSigner(path string, pw PasswordFunc, opts ...sign.SignerOption) (*sign.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading private key: %w", err)
	}
	var pass []byte
	if sign.IsEncrypted(data) {
		if pw == nil {
			pw = EnvPasswordFunc
		}
		if pass, err = pw(false); err != nil {
			return nil, fmt.Errorf("reading key password: %w", err)
		}
	}
	k, err := sign.DecodePrivateKey(data, pass)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", path, err)
	}
	return sign.NewSigner(k, opts...)
}

// WriteFileAtomic writes data to path through a temporary file and a
// rename, so a crash never leaves a half-written file.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// FingerprintKeyPath is the key for keyed fingerprints of secrets, shared
// by the secret scanner and the honeytoken registry.
func (h *Home) FingerprintKeyPath() string { return h.Path("keys", "fingerprint.key") }
