package build

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// hardenControlPlane keeps the step away from this process: neither the
// step nor a debugger it might start may read its memory (the key) or
// environment (the password), and descriptors it inherited without
// close-on-exec must not reach an unisolated step.
func hardenControlPlane() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("making the control plane undumpable: %w", err)
	}
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("closing inherited descriptors on exec: %w", err)
	}
	return nil
}

// groupAttr puts an unisolated step in its own process group, killed
// with the control plane.
func groupAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
