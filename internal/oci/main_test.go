package oci_test

import (
	"os"
	"testing"

	"github.com/pipeguard/pipeguard/internal/oci/ocitest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	ocitest.RemoveBuilt()
	os.Exit(code)
}
