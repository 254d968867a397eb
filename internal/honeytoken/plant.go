package honeytoken

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Plant writes the token's file to path (or, if path is a directory, to
// the conventional file name inside it) and records where it went. It
// refuses to replace an existing file unless force is set.
func (r *Registry) Plant(ctx context.Context, id, path string, force bool) (string, error) {
	t, err := r.Get(ctx, id)
	if err != nil {
		return "", err
	}
	if t.Revoked != nil {
		return "", fmt.Errorf("honeytoken %s is revoked", id)
	}
	f, ok := FileFor(t)
	if !ok {
		return "", fmt.Errorf("%s: %w", t.Type, errNoFile)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, f.Name)
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	out, err := os.OpenFile(path, flags, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("%s exists; pass --force to replace it", path)
	}
	if err != nil {
		return "", fmt.Errorf("planting honeytoken: %w", err)
	}
	if _, err := out.WriteString(f.Content); err != nil {
		out.Close()
		return "", fmt.Errorf("planting honeytoken: %w", err)
	}
	if err := out.Close(); err != nil {
		return "", fmt.Errorf("planting honeytoken: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	if err := r.MarkPlanted(ctx, id, abs); err != nil {
		return "", err
	}
	return abs, nil
}

// errNoFile is returned by Plant when the type has no file form.
var errNoFile = errors.New("this token type is planted as a bare value (a URL or hostname), not a file")
