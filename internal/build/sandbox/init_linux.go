package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// InitMain is the body of the sandbox's init process. It reads the Spec
// from fd 3, writes the Result to fd 4 and returns the process exit code.
func InitMain() int {
	// The step must not inherit the result pipe (it could forge init's
	// report) or the spec pipe.
	unix.CloseOnExec(3)
	unix.CloseOnExec(4)
	// Nor anything else a caller left open without close-on-exec.
	if err := unix.CloseRange(5, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox init: close_range:", err)
		return 125
	}
	cfg := os.NewFile(3, "spec")
	out := os.NewFile(4, "result")
	report := func(r Result) int {
		if out != nil {
			json.NewEncoder(out).Encode(&r)
			out.Close()
		}
		if r.Error != "" {
			return 125
		}
		return r.ExitCode
	}
	if cfg == nil || out == nil {
		fmt.Fprintln(os.Stderr, "sandbox init: not started by the sandbox")
		return 125
	}
	data, err := io.ReadAll(io.LimitReader(cfg, 4<<20))
	cfg.Close()
	if err != nil {
		return report(Result{Error: "reading spec: " + err.Error()})
	}
	var spec Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return report(Result{Error: "decoding spec: " + err.Error()})
	}
	if os.Getpid() != 1 {
		return report(Result{Error: "init is not pid 1 of a new pid namespace"})
	}
	// Nothing from init's memory may be read by the step, even though
	// (rootless) both run as the same host user.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return report(Result{Error: "making init undumpable: " + err.Error()})
	}
	if err := setupRoot(&spec); err != nil {
		return report(Result{Error: err.Error()})
	}
	if spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return report(Result{Error: "setting hostname: " + err.Error()})
		}
	}
	if !spec.Network {
		if err := loopbackUp(); err != nil {
			return report(Result{Error: "bringing up loopback: " + err.Error()})
		}
	}
	for _, r := range spec.Rlimits {
		// Limits only go down: a hard limit already lower than ours
		// stays as it is.
		var cur unix.Rlimit
		if err := unix.Getrlimit(r.Resource, &cur); err == nil {
			r.Max = min(r.Max, cur.Max)
			r.Cur = min(r.Cur, r.Max)
		}
		if err := unix.Setrlimit(r.Resource, &unix.Rlimit{Cur: r.Cur, Max: r.Max}); err != nil {
			return report(Result{Error: fmt.Sprintf("setting %s: %v", r.Name, err)})
		}
	}
	return report(runStep(&spec))
}

// runStep starts the command in a nested user namespace as an
// unprivileged user: after execve it has no capabilities at all, and
// no_new_privs (set on this locked thread, inherited by the fork) keeps
// setuid binaries and file capabilities from giving any back.
func runStep(spec *Spec) Result {
	runtime.LockOSThread()
	// The thread dies with its flags instead of returning to the pool.
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return Result{Error: "setting no_new_privs: " + err.Error()}
	}
	// Session keyrings are inherited, and their keys possessed, by every
	// child: give the step a new, empty, anonymous one. Where keyctl is
	// filtered (a container's seccomp profile), the step cannot use it
	// either.
	if _, _, errno := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0); errno != 0 &&
		errno != unix.ENOSYS && errno != unix.EPERM && errno != unix.EACCES {
		return Result{Error: "creating a new session keyring: " + errno.Error()}
	}
	path, err := lookPath(spec.Args[0], spec.Env)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pipeguard sandbox: %v\n", err)
		return Result{ExitCode: 127} // like a shell: command not found
	}
	cmd := exec.Command(path, spec.Args[1:]...)
	cmd.Args[0] = spec.Args[0]
	cmd.Env = spec.Env
	cmd.Dir = spec.Dir
	cmd.Stdin = nil
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 unix.CLONE_NEWUSER,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: StepUID, HostID: spec.HostUID, Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: StepGID, HostID: spec.HostGID, Size: 1}},
		GidMappingsEnableSetgroups: false,
		Credential:                 &syscall.Credential{Uid: StepUID, Gid: StepGID, NoSetGroups: true},
		Pdeathsig:                  syscall.SIGKILL,
		Setsid:                     true,
	}
	if err := cmd.Start(); err != nil {
		return Result{Error: "starting the command: " + err.Error()}
	}
	child := cmd.Process.Pid
	var res Result
	// As pid 1, reap every orphan until the command itself ends.
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return Result{Error: "waiting for the command: " + err.Error()}
		}
		if pid != child {
			continue
		}
		switch {
		case ws.Exited():
			res.ExitCode = ws.ExitStatus()
		case ws.Signaled():
			res.ExitCode = 128 + int(ws.Signal())
			res.Signal = unix.SignalName(ws.Signal())
		}
		break
	}
	// Whatever the command left running dies now; the kernel reaps the
	// rest when init exits.
	unix.Kill(-1, unix.SIGKILL)
	for {
		if _, err := unix.Wait4(-1, nil, 0, nil); err == unix.ECHILD {
			break
		} else if err != nil && err != unix.EINTR {
			break
		}
	}
	return res
}

func lookPath(name string, env []string) (string, error) {
	if filepath.IsAbs(name) || filepath.Base(name) != name {
		return name, nil
	}
	pathEnv := ""
	for _, kv := range env {
		if len(kv) > 5 && kv[:5] == "PATH=" {
			pathEnv = kv[5:]
		}
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found", name)
}

// setupRoot builds the mount view and pivots into it.
func setupRoot(spec *Spec) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("unavailable: making mounts private: %v", err)
	}
	root := spec.Root
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=16m"); err != nil {
		return fmt.Errorf("unavailable: mounting the new root: %v", err)
	}
	in := func(p string) string { return filepath.Join(root, p) }
	// The private /tmp comes first so that a read-only bind below /tmp
	// (a test binary's directory, say) lands on top of it.
	if err := mountTmpfs(in("/tmp"), "mode=1777", 0); err != nil {
		return err
	}
	for _, d := range spec.ReadOnly {
		if err := bindDir(d, in(d), true); err != nil {
			return err
		}
	}
	for l, t := range spec.Symlinks {
		if err := os.Symlink(t, in(l)); err != nil {
			return fmt.Errorf("recreating %s: %w", l, err)
		}
	}
	if err := bindDir(spec.Workspace, in(WorkspaceDir), false); err != nil {
		return err
	}
	if spec.Deps != "" {
		if err := bindDir(spec.Deps, in(DepsDir), !spec.DepsWritable); err != nil {
			return err
		}
	}
	if err := setupDev(in("/dev")); err != nil {
		return err
	}
	if err := os.MkdirAll(in("/proc"), 0o755); err != nil {
		return err
	}
	if err := unix.Mount("proc", in("/proc"), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	for _, m := range spec.Masked {
		p := in(m)
		fi, err := os.Stat(p)
		if err != nil {
			continue // not visible: nothing to hide
		}
		if !fi.IsDir() {
			if err := unix.Mount(in("/dev/null"), p, "", unix.MS_BIND, ""); err != nil {
				return fmt.Errorf("masking %s: %w", m, err)
			}
			continue
		}
		if err := unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=4k,mode=0000"); err != nil {
			return fmt.Errorf("masking %s: %w", m, err)
		}
	}
	old := in("/.oldroot")
	if err := os.MkdirAll(old, 0o700); err != nil {
		return err
	}
	if err := unix.PivotRoot(root, old); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Unmount("/.oldroot", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the old root: %w", err)
	}
	if err := os.Remove("/.oldroot"); err != nil {
		return fmt.Errorf("removing the old root's mount point: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("making the root read-only: %w", err)
	}
	return nil
}

func bindDir(src, dst string, ro bool) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("creating mount point %s: %w", dst, err)
	}
	if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("binding %s: %w", src, err)
	}
	flags := uintptr(unix.MS_REMOUNT | unix.MS_BIND | unix.MS_NOSUID | unix.MS_NODEV)
	if ro {
		flags |= unix.MS_RDONLY
	}
	// Flags already locked on the source mount (nodev, noexec...) must be
	// kept or the remount is refused inside a user namespace.
	var st unix.Statfs_t
	if err := unix.Statfs(dst, &st); err == nil {
		if st.Flags&unix.ST_NOEXEC != 0 {
			flags |= unix.MS_NOEXEC
		}
		if st.Flags&unix.ST_NOATIME != 0 {
			flags |= unix.MS_NOATIME
		}
		if st.Flags&unix.ST_RELATIME != 0 {
			flags |= unix.MS_RELATIME
		}
	}
	if err := unix.Mount("", dst, "", flags, ""); err != nil {
		return fmt.Errorf("remounting %s (read-only=%v): %w", src, ro, err)
	}
	return nil
}

func mountTmpfs(dst, opts string, extra uintptr) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", dst, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|extra, opts); err != nil {
		return fmt.Errorf("mounting tmpfs on %s: %w", dst, err)
	}
	return nil
}

func setupDev(dev string) error {
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755,size=64k"); err != nil {
		if err := os.MkdirAll(dev, 0o755); err != nil {
			return err
		}
		if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755,size=64k"); err != nil {
			return fmt.Errorf("mounting /dev: %w", err)
		}
	}
	for _, n := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		p := filepath.Join(dev, n)
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o666)
		if err != nil {
			return err
		}
		f.Close()
		if err := unix.Mount("/dev/"+n, p, "", unix.MS_BIND, ""); err != nil {
			if n == "tty" {
				os.Remove(p)
				continue
			}
			return fmt.Errorf("binding /dev/%s: %w", n, err)
		}
	}
	for l, t := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(t, filepath.Join(dev, l)); err != nil {
			return err
		}
	}
	if err := mountTmpfs(filepath.Join(dev, "shm"), "mode=1777", unix.MS_NOEXEC); err != nil {
		return err
	}
	return nil
}

// loopbackUp brings lo up in the new network namespace so that builds and
// tests may use 127.0.0.1 among themselves; nothing outside is reachable.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return err
	}
	return nil
}
