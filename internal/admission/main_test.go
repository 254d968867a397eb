package admission_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pipeguard/pipeguard/internal/oci/ocitest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	ocitest.RemoveBuilt()
	if cli.bin != "" {
		_ = os.RemoveAll(filepath.Dir(cli.bin))
	}
	os.Exit(code)
}
