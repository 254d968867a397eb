//go:build !linux

package build

import "syscall"

// hardenControlPlane has nothing to do where builds cannot be isolated
// anyway (they are SLSA Build L2 at most).
func hardenControlPlane() error { return nil }

// groupAttr puts an unisolated step in its own process group.
func groupAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
