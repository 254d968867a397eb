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
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
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

// DefaultRlimits are the limits recorded in provenance and applied to every
// step: no core dumps (they could leak memory of the step into the
// workspace), bounded file size and open files.
func DefaultRlimits(rootless bool) []Rlimit {
	r := []Rlimit{
		{Name: "RLIMIT_CORE", Resource: unix.RLIMIT_CORE, Cur: 0, Max: 0},
		{Name: "RLIMIT_FSIZE", Resource: unix.RLIMIT_FSIZE, Cur: 32 << 30, Max: 32 << 30},
		{Name: "RLIMIT_NOFILE", Resource: unix.RLIMIT_NOFILE, Cur: 65536, Max: 65536},
	}
	if !rootless {
		// The step has a host uid of its own, so a process limit
		// counts only its processes.
		r = append(r, Rlimit{Name: "RLIMIT_NPROC", Resource: unix.RLIMIT_NPROC, Cur: 16384, Max: 16384})
	}
	return r
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

// Run starts the sandbox and waits for the command and every process it
// started to end. An error means the sandbox could not be run (wrapped
// ErrUnavailable when the kernel refuses namespaces); a command that fails
// is a Result with a non-zero ExitCode.
func Run(ctx context.Context, spec Spec, o Options) (*Result, error) {
	if len(spec.Args) == 0 {
		return nil, errors.New("sandbox: no command")
	}
	if spec.Root == "" || spec.Workspace == "" {
		return nil, errors.New("sandbox: root and workspace are required")
	}
	initPath := o.InitPath
	if initPath == "" {
		initPath = "/proc/self/exe"
	}
	flags := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS)
	if !spec.Network {
		flags |= unix.CLONE_NEWNET
	}
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if Rootless() {
		// init is root of a user namespace owned by the caller; the
		// step maps to that root, which is the caller on the host.
		flags |= unix.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		attr.GidMappingsEnableSetgroups = false
		spec.HostUID, spec.HostGID = 0, 0
	} else {
		spec.HostUID, spec.HostGID = HostStepUID, HostStepUID
	}
	attr.Cloneflags = flags

	cfg, err := json.Marshal(&spec)
	if err != nil {
		return nil, fmt.Errorf("sandbox: encoding spec: %w", err)
	}
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	resR, resW, err := os.Pipe()
	if err != nil {
		cfgR.Close()
		cfgW.Close()
		return nil, err
	}
	cmd := exec.Command(initPath, InitArg)
	cmd.Env = []string{}
	cmd.Dir = "/"
	cmd.Stdin = nil
	cmd.Stdout = o.Stdout
	cmd.Stderr = o.Stderr
	cmd.ExtraFiles = []*os.File{cfgR, resW}
	cmd.SysProcAttr = attr
	// Rootless, this process writes the child's uid_map, which it may
	// only do while dumpable (an undumpable parent's children have
	// root-owned /proc entries until they exec). The window holds no
	// untrusted code: init has not started the step yet.
	restore := func() {}
	if Rootless() {
		if d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0); err == nil && d == 0 {
			unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0)
			restore = func() { unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0) }
		}
	}
	err = cmd.Start()
	restore()
	if err != nil {
		cfgR.Close()
		cfgW.Close()
		resR.Close()
		resW.Close()
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return nil, fmt.Errorf("sandbox: starting init: %w", err)
	}
	cfgR.Close()
	resW.Close()
	go func() {
		cfgW.Write(cfg)
		cfgW.Close()
	}()
	stop := context.AfterFunc(ctx, func() { cmd.Process.Kill() })
	defer stop()
	resData, _ := io.ReadAll(io.LimitReader(resR, 1<<20))
	resR.Close()
	waitErr := cmd.Wait()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("sandbox: %w", ctx.Err())
	}
	var res Result
	if len(bytes.TrimSpace(resData)) == 0 {
		return nil, fmt.Errorf("sandbox: init ended without a result: %v", waitErr)
	}
	if err := json.Unmarshal(resData, &res); err != nil {
		return nil, fmt.Errorf("sandbox: reading init's result: %w", err)
	}
	if res.Error != "" {
		if strings.HasPrefix(res.Error, "unavailable: ") {
			return nil, fmt.Errorf("%w: %s", ErrUnavailable, strings.TrimPrefix(res.Error, "unavailable: "))
		}
		return nil, fmt.Errorf("sandbox: %s", res.Error)
	}
	return &res, nil
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
