package home

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/pipeguard/pipeguard/internal/sign"
)

func pw(p string) Option {
	return WithPassword(func(bool) ([]byte, error) {
		if p == "" {
			return nil, nil
		}
		return []byte(p), nil
	})
}

func TestInitEncryptsAndRefusesToReplace(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "home")
	if _, err := Init(ctx, dir, pw("")); err == nil {
		t.Fatal("Init without a password and without --no-password succeeded")
	}
	h, err := Init(ctx, dir, pw("pw"))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := os.ReadFile(h.KeyPath())
	if !sign.IsEncrypted(key) {
		t.Fatal("Init wrote an unencrypted key")
	}
	if fi, _ := os.Stat(h.KeyPath()); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", fi.Mode().Perm())
	}
	if _, err := Init(ctx, dir, pw("pw")); err == nil {
		t.Fatal("Init replaced an existing key")
	}
	h2, err := Open(ctx, dir, pw("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h2.Signer(ctx); err != nil {
		t.Fatalf("loading the key with its password: %v", err)
	}
	h3, _ := Open(ctx, dir, pw("wrong"))
	if _, err := h3.Signer(ctx); err == nil {
		t.Fatal("loaded the key with a wrong password")
	}
}

func TestOpenCreatesOnFirstUse(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "home")
	h, err := Open(ctx, dir, pw(""))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := os.ReadFile(h.KeyPath())
	if sign.IsEncrypted(key) {
		t.Fatal("no password was available, yet the key is encrypted")
	}
	if fi, _ := os.Stat(h.KeyPath()); fi.Mode().Perm() != 0o600 {
		t.Fatalf("unencrypted key mode %v, want 0600", fi.Mode().Perm())
	}
	if h.Config.BuilderID != DefaultBuilderID {
		t.Fatalf("builder id %q", h.Config.BuilderID)
	}
	// A config with an unknown key is an error, never ignored.
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("apiVersion: pipeguard.dev/config/v1\nbuilderId: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, dir); err == nil {
		t.Fatal("opened a home whose config has an unknown key")
	}
}
