// Package trustroot provides the Sigstore trusted root that keyless
// verification starts from: the public-good root embedded in the binary as
// public data, replaceable offline by a newer copy in the home.
package trustroot

import (
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/pipeguard/pipeguard/internal/home"
)

//go:embed public-good.json
var publicGood []byte

// FileName is the refreshed trusted root's name inside the home.
const FileName = "trusted_root.json"

// PublicGood returns the embedded Sigstore public-good trusted root.
func PublicGood() (*root.TrustedRoot, error) {
	tr, err := root.NewTrustedRootFromJSON(publicGood)
	if err != nil {
		return nil, fmt.Errorf("parsing embedded trusted root: %w", err)
	}
	return tr, nil
}

// Load reads a trusted root file.
func Load(path string) (*root.TrustedRoot, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading trusted root: %w", err)
	}
	tr, err := root.NewTrustedRootFromJSON(data)
	if err != nil {
		return nil, fmt.Errorf("parsing trusted root %s: %w", path, err)
	}
	return tr, nil
}

// Default returns the trusted root refreshed into homeDir if there is one,
// else the embedded public-good root.
func Default(homeDir string) (*root.TrustedRoot, error) {
	if homeDir != "" {
		p := filepath.Join(homeDir, FileName)
		tr, err := Load(p)
		if err == nil {
			return tr, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return PublicGood()
}

// Update validates the trusted root at from and installs it in homeDir,
// where Default finds it. Nothing is replaced if it does not parse.
func Update(homeDir, from string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("reading trusted root: %w", err)
	}
	if _, err := root.NewTrustedRootFromJSON(data); err != nil {
		return fmt.Errorf("refusing %s: not a valid trusted root: %w", from, err)
	}
	if err := os.MkdirAll(homeDir, 0o700); err != nil {
		return fmt.Errorf("creating home: %w", err)
	}
	return home.WriteFileAtomic(filepath.Join(homeDir, FileName), data, 0o644)
}
