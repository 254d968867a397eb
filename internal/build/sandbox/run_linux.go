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
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

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
