// Package sandbox runs one untrusted command in an isolated view of the
// machine built from Linux namespaces: a user namespace in which the
// command holds no capabilities and cannot gain any (no_new_privs), its own
// mount, pid, ipc and uts namespaces, and optionally its own empty network
// namespace. The root it sees is a read-only tmpfs holding read-only bind
// mounts of system and toolchain directories; the workspace and a private
// /tmp are the only writable places.
//
// The sandbox is entered by re-executing the current binary with InitArg as
// its first argument; that process (pid 1 of the new pid namespace) builds
// the mount view, starts the command in a nested user namespace as an
// unprivileged user, reaps it and kills whatever it left behind. When the
// init process exits, the kernel has already killed and reaped every process
// of the namespace, so the caller may hash the outputs right after Run
// returns.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// InitArg is the first argument that makes a binary act as the sandbox's
// init process. A binary that runs sandboxes must call InitMain when it sees
// it (pipeguard does so through a hidden subcommand, tests from TestMain).
const InitArg = "__sandbox-init"

// StepUID and StepGID are the ids the command runs as inside its user
// namespace.
const (
	StepUID = 1000
	StepGID = 1000
)

// HostStepUID is the unprivileged host uid the command runs as when the
// control plane is root; it owns nothing else on the machine.
const HostStepUID = 1_874_000

// Mount points inside the sandbox.
const (
	WorkspaceDir = "/workspace"
	DepsDir      = "/deps"
)

// ErrUnavailable reports that the kernel refused to create the namespaces
// (user namespaces disabled and not root, seccomp of an outer container...).
var ErrUnavailable = errors.New("linux namespaces are not available")

// Spec describes one sandboxed run.
type Spec struct {
	// Args is the command and its arguments; Args[0] is looked up in PATH
	// from Env inside the sandbox.
	Args []string `json:"args"`
	// Env is the complete environment of the command (KEY=VALUE).
	Env []string `json:"env"`
	// Dir is the working directory inside the sandbox.
	Dir string `json:"dir"`
	// Workspace is the host directory mounted read-write at /workspace.
	Workspace string `json:"workspace"`
	// Deps is an optional host directory mounted at /deps, writable only
	// when DepsWritable is set.
	Deps         string `json:"deps,omitempty"`
	DepsWritable bool   `json:"depsWritable,omitempty"`
	// ReadOnly lists host directories bind-mounted read-only at the same
	// path inside the sandbox.
	ReadOnly []string `json:"readOnly"`
	// Symlinks lists top-level symlinks of the host root (such as /bin ->
	// usr/bin) recreated inside.
	Symlinks map[string]string `json:"symlinks,omitempty"`
	// Masked lists paths covered by an empty read-only tmpfs: the home and
	// anything else that must not be visible even if a bind contains it.
	Masked []string `json:"masked,omitempty"`
	// Network keeps the host's network; otherwise the command gets an
	// empty network namespace with only a loopback interface.
	Network bool `json:"network"`
	// Root is an empty host directory used as the mount point of the new
	// root; it stays empty on the host.
	Root string `json:"root"`
	// HostUID and HostGID are the ids (in the init process's namespace)
	// the command's StepUID/StepGID map to; set by Run.
	HostUID int `json:"hostUID"`
	HostGID int `json:"hostGID"`
	// Rlimits are applied to the command.
	Rlimits []Rlimit `json:"rlimits"`
	// Hostname is the uts name inside.
	Hostname string `json:"hostname"`
}

// Rlimit is one resource limit.
type Rlimit struct {
	Name     string `json:"name"`
	Resource int    `json:"resource"`
	Cur      uint64 `json:"cur"`
	Max      uint64 `json:"max"`
}

// Result is how the command ended.
type Result struct {
	ExitCode int    `json:"exitCode"`
	Signal   string `json:"signal,omitempty"`
	// Error is set when init could not set up the sandbox or start the
	// command.
	Error string `json:"error,omitempty"`
}

// Rootless reports whether Run will map the step through an unprivileged
// user namespace of the calling user (not root).
func Rootless() bool { return os.Geteuid() != 0 }

// Options tune Run.
type Options struct {
	// InitPath is the binary re-executed as init; default /proc/self/exe.
	InitPath string
	// Stdout and Stderr receive the command's output.
	Stdout, Stderr io.Writer
}

// SystemDirs returns the host directories every sandbox sees read-only and
// the top-level symlinks to recreate (merged-/usr systems link /bin to
// usr/bin).
func SystemDirs() (dirs []string, links map[string]string) {
	links = map[string]string{}
	for _, d := range []string{"/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"} {
		fi, err := os.Lstat(d)
		if err != nil {
			continue
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			if t, err := os.Readlink(d); err == nil {
				links[d] = t
			}
			continue
		}
		if fi.IsDir() {
			dirs = append(dirs, d)
		}
	}
	return dirs, links
}

// Covers reports whether path p lies inside (or is) directory dir.
func Covers(dir, p string) bool {
	dir, p = filepath.Clean(dir), filepath.Clean(p)
	if dir == "/" {
		return true
	}
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// Probe runs `true` in a minimal sandbox and returns why it could not,
// or nil: the kernel and this binary can isolate builds.
func Probe(ctx context.Context, initPath string) error {
	base, err := os.MkdirTemp("", "pipeguard-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(base)
	ws, root := filepath.Join(base, "ws"), filepath.Join(base, "root")
	for _, d := range []string{ws, root} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	dirs, links := SystemDirs()
	res, err := Run(ctx, Spec{Args: []string{"true"}, Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/", Workspace: ws, Root: root, ReadOnly: dirs, Symlinks: links},
		Options{InitPath: initPath, Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("sandbox: probe exited %d", res.ExitCode)
	}
	return nil
}
