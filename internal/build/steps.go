package build

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pipeguard/pipeguard/internal/attest"
	"github.com/pipeguard/pipeguard/internal/build/sandbox"
)

// runner runs the steps of one build.
type runner struct {
	b                         *Builder
	base, ws, deps, root, tmp string
	ro                        []string
	links                     map[string]string
	hide                      []string
	workdir                   string // inside the sandbox
	out                       io.Writer
}

func (r *runner) isolation(hermetic bool) Isolation {
	if r.b.noIsolate != "" {
		return degradedIsolation(r.b.noIsolate)
	}
	ns := []string{"user", "mount", "pid", "ipc", "uts"}
	network := "host"
	if hermetic {
		ns = append(ns, "net")
		network = "none (loopback only)"
	}
	rl := map[string]uint64{}
	for _, l := range sandbox.DefaultRlimits(sandbox.Rootless()) {
		rl[l.Name] = l.Max
	}
	masked := append([]string{}, r.hide...)
	sort.Strings(masked)
	return Isolation{
		Sandbox:        "linux-namespaces",
		Namespaces:     ns,
		Rootless:       sandbox.Rootless(),
		StepUID:        sandbox.StepUID,
		NoNewPrivs:     true,
		Capabilities:   []string{},
		Network:        network,
		ReadOnlyMounts: append([]string{}, r.ro...),
		WritableMounts: []string{sandbox.WorkspaceDir, "/tmp (private tmpfs)"},
		Masked:         masked,
		Rlimits:        rl,
	}
}

func degradedIsolation(reason string) Isolation {
	return Isolation{Sandbox: "none", Reason: reason, Capabilities: []string{"unrestricted"}, Network: "host"}
}

// step runs one command and returns its exit code. When the kernel
// refuses namespaces it falls back, once and loudly, to an unisolated run
// and records that in iso.
func (r *runner) step(ctx context.Context, phase string, args, env []string, network bool, iso *Isolation) (int, error) {
	fmt.Fprintf(r.out, "pipeguard: %s step: %s\n", phase, strings.Join(args, " "))
	if iso.Sandbox == "linux-namespaces" {
		spec := sandbox.Spec{
			Args:         args,
			Env:          env,
			Dir:          r.workdir,
			Workspace:    r.ws,
			Deps:         r.deps,
			DepsWritable: phase == "fetch",
			ReadOnly:     r.ro,
			Symlinks:     r.links,
			Masked:       r.hide,
			Network:      network,
			Root:         r.root,
			Rlimits:      sandbox.DefaultRlimits(sandbox.Rootless()),
			Hostname:     "pipeguard-build",
		}
		res, err := sandbox.Run(ctx, spec, sandbox.Options{InitPath: r.b.initPath, Stdout: r.out, Stderr: r.out})
		if err == nil {
			return res.ExitCode, nil
		}
		if !errors.Is(err, sandbox.ErrUnavailable) {
			return 0, fmt.Errorf("running the %s step: %w", phase, err)
		}
		reason := err.Error()
		r.b.log.Warn("cannot isolate the build step; running it UNISOLATED: the provenance will claim SLSA Build L2 only, under builder id "+r.b.builderID+DegradedSuffix,
			"reason", reason, "needs", "unprivileged user namespaces (kernel.unprivileged_userns_clone=1, user.max_user_namespaces>0) or root")
		*iso = degradedIsolation(reason)
	}
	return r.unisolated(ctx, args, env)
}

// unisolated runs a step as a plain child process: scrubbed environment,
// own process group killed afterwards, but nothing stops it from reading
// what the caller can read. That is SLSA Build L2 at best.
func (r *runner) unisolated(ctx context.Context, args, env []string) (int, error) {
	mapPath := func(s string) string {
		s = strings.ReplaceAll(s, sandbox.WorkspaceDir, r.ws)
		s = strings.ReplaceAll(s, sandbox.DepsDir+"/", r.deps+"/")
		return strings.ReplaceAll(s, "=/tmp", "="+r.tmp)
	}
	var henv []string
	for _, kv := range env {
		henv = append(henv, mapPath(kv))
	}
	bin, err := lookPathEnv(args[0], henv)
	if err != nil {
		fmt.Fprintf(r.out, "pipeguard: %v\n", err)
		return 127, nil
	}
	cmd := exec.Command(bin, args[1:]...)
	cmd.Args[0] = args[0]
	cmd.Env = henv
	cmd.Dir = mapPath(r.workdir)
	cmd.Stdout, cmd.Stderr = r.out, r.out
	cmd.SysProcAttr = groupAttr()
	// A daemon that escaped the process group may hold the output pipe
	// open; do not wait for it forever.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting the step: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { unix.Kill(-cmd.Process.Pid, unix.SIGKILL) })
	defer stop()
	err = cmd.Wait()
	unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 0, err
	}
	return 0, nil
}

func lookPathEnv(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, kv := range env {
		if p, ok := strings.CutPrefix(kv, "PATH="); ok {
			for _, d := range filepath.SplitList(p) {
				c := filepath.Join(d, name)
				if fi, err := os.Stat(c); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
					return c, nil
				}
			}
		}
	}
	return "", fmt.Errorf("%s: command not found", name)
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reservedEnv are set by the builder; a caller may not override them.
var reservedEnv = map[string]bool{
	"PATH": true, "HOME": true, "TMPDIR": true, "SOURCE_DATE_EPOCH": true, "GOCACHE": true, "GOMODCACHE": true,
	"GOPATH": true, "GOPROXY": true, "GOTOOLCHAIN": true, "GOSUMDB": true, "GONOSUMDB": true, "GONOSUMCHECK": true,
	"GOINSECURE": true, "GOPRIVATE": true, "GONOPROXY": true, "GOFLAGS": true, "npm_config_cache": true, "npm_config_offline": true,
}

// secretish matches names that usually carry credentials; they never
// reach a step, whatever the caller asks.
var secretish = regexp.MustCompile(`(?i)(PASSWORD|PASSWD|TOKEN|SECRET|CREDENTIAL|PRIVATE|API_?KEY|ACCESS_?KEY|AUTH|^PIPEGUARD_|^COSIGN_|^SIGSTORE_|^AWS_|^GOOGLE_|^AZURE_|^SSH_)`)

func checkEnv(env []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !envName.MatchString(k) {
			return nil, fmt.Errorf("--env %q is not NAME=VALUE", kv)
		}
		if reservedEnv[k] {
			return nil, fmt.Errorf("--env %s: set by the builder, cannot be overridden", k)
		}
		if secretish.MatchString(k) {
			return nil, fmt.Errorf("--env %s: looks like a credential; credentials are never passed to a build step", k)
		}
		out[k] = v
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// stepEnv is the complete, allow-listed environment of a step, sorted.
func stepEnv(pathEnv string, epoch int64, user map[string]string, network, fetched bool, pass map[string]string) []string {
	m := map[string]string{
		"PATH":              pathEnv,
		"HOME":              "/tmp",
		"TMPDIR":            "/tmp",
		"LANG":              "C.UTF-8",
		"TZ":                "UTC",
		"SOURCE_DATE_EPOCH": strconv.FormatInt(epoch, 10),
		"GOCACHE":           "/tmp/go-build",
		"GOPATH":            "/tmp/go",
		"GOTOOLCHAIN":       "local",
		"GOTELEMETRY":       "off",
		"GOMODCACHE":        sandbox.DepsDir + "/gomod",
		"npm_config_cache":  sandbox.DepsDir + "/npm",
	}
	if !network {
		m["GOPROXY"] = "off"
		m["GOFLAGS"] = "-mod=readonly"
		m["npm_config_offline"] = "true"
	} else if !fetched {
		// A networked build without a fetch phase downloads into its
		// private /tmp; nothing it downloads is checked or kept.
		m["GOMODCACHE"] = "/tmp/gomod"
		m["npm_config_cache"] = "/tmp/npm"
	}
	for k, v := range pass {
		m[k] = v
	}
	for k, v := range user {
		m[k] = v
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// setEnv replaces one variable of a sorted environment.
func setEnv(env []string, k, v string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, k+"=") {
			out = append(out, kv)
		}
	}
	out = append(out, k+"="+v)
	sort.Strings(out)
	return out
}

// fetchPassThrough copies the caller's download settings (not credentials)
// into the fetch step.
func fetchPassThrough() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GONOPROXY", "npm_config_registry",
		"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"} {
		if v, ok := os.LookupEnv(k); ok && !strings.Contains(v, "@") {
			m[k] = v
		}
	}
	return m
}

type lockfiles struct {
	goSum GoSum
	npm   map[string][]byte
}

// readLockfiles reads go.sum and package-lock.json files from the commit,
// before any step could change them.
func readLockfiles(ctx context.Context, src *Source, ws string) (*lockfiles, error) {
	l := &lockfiles{goSum: GoSum{}, npm: map[string][]byte{}}
	sums, err := src.ListFiles(ctx, ws, "go.sum")
	if err != nil {
		return nil, err
	}
	for _, f := range sums {
		data, err := src.ReadFile(ctx, ws, f)
		if err != nil {
			return nil, err
		}
		if err := ParseGoSum(data, l.goSum); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}
	locks, err := src.ListFiles(ctx, ws, "package-lock.json")
	if err != nil {
		return nil, err
	}
	for _, f := range locks {
		data, err := src.ReadFile(ctx, ws, f)
		if err != nil {
			return nil, err
		}
		l.npm[f] = data
	}
	return l, nil
}

// verifyFetched checks everything the fetch step left in the dependency
// directory. Only the Go module cache and npm's cache may be there.
func verifyFetched(deps string, lock *lockfiles) ([]Dependency, error) {
	entries, err := os.ReadDir(deps)
	if err != nil {
		return nil, err
	}
	var out []Dependency
	for _, e := range entries {
		switch e.Name() {
		case "gomod":
			d, err := VerifyGoModules(filepath.Join(deps, "gomod"), lock.goSum)
			if err != nil {
				return nil, err
			}
			out = append(out, d...)
		case "npm":
			if len(lock.npm) == 0 {
				return nil, errors.New("the fetch step filled npm's cache but the commit has no package-lock.json")
			}
			names := make([]string, 0, len(lock.npm))
			for n := range lock.npm {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				d, err := VerifyNpm(filepath.Join(deps, "npm"), lock.npm[n])
				if err != nil {
					return nil, fmt.Errorf("%s: %w", n, err)
				}
				out = append(out, d...)
			}
		default:
			return nil, fmt.Errorf("the fetch step left %s in %s; only gomod/ and npm/ are checked, so nothing else may be there", e.Name(), sandbox.DepsDir)
		}
	}
	return out, nil
}

// collect hashes the declared outputs and copies them to outDir. It reads
// the workspace through an os.Root so that a symlink planted by the step
// cannot make the control plane read (and publish) a file outside it, and
// accepts regular files only.
func collect(ws string, patterns []string, outDir string) ([]attest.Subject, []string, error) {
	root, err := os.OpenRoot(ws)
	if err != nil {
		return nil, nil, err
	}
	defer root.Close()
	seen := map[string]bool{}
	var names []string
	for _, p := range patterns {
		matches, err := fs.Glob(root.FS(), p)
		if err != nil {
			return nil, nil, fmt.Errorf("artifact pattern %q: %w", p, err)
		}
		if len(matches) == 0 {
			return nil, nil, fmt.Errorf("artifact pattern %q matched no file in the workspace", p)
		}
		for _, m := range matches {
			if !seen[m] {
				seen[m] = true
				names = append(names, m)
			}
		}
	}
	sort.Strings(names)
	var subjects []attest.Subject
	var copies []string
	for _, n := range names {
		fi, err := root.Lstat(n)
		if err != nil {
			return nil, nil, fmt.Errorf("artifact %s: %w", n, err)
		}
		if !fi.Mode().IsRegular() {
			return nil, nil, fmt.Errorf("artifact %s is not a regular file (%s); only regular files are attested", n, fi.Mode().Type())
		}
		sum, dst, err := copyOut(root, n, outDir, fi.Mode().Perm())
		if err != nil {
			return nil, nil, err
		}
		subjects = append(subjects, attest.Subject{Name: n, Digest: map[string]string{"sha256": sum}})
		copies = append(copies, dst)
	}
	return subjects, copies, nil
}

func copyOut(root *os.Root, name, outDir string, perm fs.FileMode) (string, string, error) {
	f, err := root.OpenFile(name, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return "", "", fmt.Errorf("artifact %s: %w", name, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return "", "", fmt.Errorf("artifact %s is not a regular file", name)
	}
	dst := filepath.Join(outDir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", "", fmt.Errorf("creating %s: %w", filepath.Dir(dst), err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp*")
	if err != nil {
		return "", "", err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), f); err != nil {
		tmp.Close()
		return "", "", fmt.Errorf("copying artifact %s: %w", name, err)
	}
	if err := tmp.Chmod(perm&0o755 | 0o644); err != nil {
		tmp.Close()
		return "", "", err
	}
	if err := tmp.Close(); err != nil {
		return "", "", err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", "", err
	}
	return hex.EncodeToString(h.Sum(nil)), dst, nil
}

// hiddenPaths resolves the paths that must stay invisible.
func (b *Builder) hiddenPaths() ([]string, error) {
	var out []string
	for _, p := range b.hide {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		out = append(out, abs)
		if r, err := filepath.EvalSymlinks(abs); err == nil && r != abs {
			out = append(out, r)
		}
	}
	return out, nil
}

// checkMounts validates extra read-only directories: absolute, existing,
// not inside a hidden path and not over the sandbox's own mount points.
func checkMounts(dirs, hidden []string) ([]string, error) {
	var out []string
	for _, d := range dirs {
		if !filepath.IsAbs(d) {
			return nil, fmt.Errorf("read-only mount %q must be an absolute path", d)
		}
		r, err := filepath.EvalSymlinks(d)
		if err != nil {
			return nil, fmt.Errorf("read-only mount %s: %w", d, err)
		}
		if fi, err := os.Stat(r); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("read-only mount %s is not a directory", d)
		}
		if r == "/" {
			return nil, errors.New("the whole file system cannot be mounted into the sandbox")
		}
		for _, h := range hidden {
			if sandbox.Covers(h, r) {
				return nil, fmt.Errorf("read-only mount %s lies inside %s, which is never shown to a build", d, h)
			}
		}
		for _, own := range []string{sandbox.WorkspaceDir, sandbox.DepsDir, "/tmp", "/proc", "/dev"} {
			if sandbox.Covers(own, r) || sandbox.Covers(r, own) {
				if own == "/tmp" && sandbox.Covers(own, r) {
					continue // a host /tmp/x is shown at /tmp/x over the private /tmp
				}
				return nil, fmt.Errorf("read-only mount %s would cover the sandbox's %s", d, own)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

func coveredBy(dirs []string, p string) bool {
	for _, d := range dirs {
		if sandbox.Covers(d, p) {
			return true
		}
	}
	return false
}

type toolchain struct {
	goroot, goVersion string
}

// findToolchain locates the Go toolchain on the caller's PATH.
func findToolchain() toolchain {
	p, err := exec.LookPath("go")
	if err != nil {
		return toolchain{}
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return toolchain{}
	}
	root := filepath.Dir(filepath.Dir(real))
	if _, err := os.Stat(filepath.Join(root, "pkg", "tool")); err != nil {
		return toolchain{}
	}
	tc := toolchain{goroot: root}
	if v, err := os.ReadFile(filepath.Join(root, "VERSION")); err == nil {
		tc.goVersion, _, _ = strings.Cut(string(v), "\n")
	}
	return tc
}

// resolvedDeps lists the source, the toolchain binaries the step could run
// and the fetched packages.
func resolvedDeps(src *Source, tc toolchain, command []string, pathEnv string, fetched []Dependency) []ResourceDescriptor {
	out := []ResourceDescriptor{{Name: "source", URI: src.URI, Digest: map[string]string{"gitCommit": src.Commit}}}
	seen := map[string]bool{}
	add := func(name, p string, ann map[string]string) {
		real, err := filepath.EvalSymlinks(p)
		if err != nil || seen[real] {
			return
		}
		seen[real] = true
		f, err := os.Open(real)
		if err != nil {
			return
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return
		}
		out = append(out, ResourceDescriptor{Name: name, URI: "file://" + real, Digest: map[string]string{"sha256": hex.EncodeToString(h.Sum(nil))}, Annotations: ann})
	}
	if bin, err := lookPathEnv(command[0], []string{"PATH=" + pathEnv}); err == nil {
		add("command:"+path.Base(command[0]), bin, nil)
	}
	if tc.goroot != "" {
		ann := map[string]string{"version": tc.goVersion}
		add("go", filepath.Join(tc.goroot, "bin", "go"), ann)
		tools := filepath.Join(tc.goroot, "pkg", "tool", runtime.GOOS+"_"+runtime.GOARCH)
		for _, t := range []string{"compile", "link", "asm", "cgo"} {
			add("go-tool:"+t, filepath.Join(tools, t), ann)
		}
	}
	for _, d := range fetched {
		out = append(out, ResourceDescriptor{URI: d.URI, Digest: d.Digest, Annotations: map[string]string{"lock": d.Lock}})
	}
	return out
}

// chownTree hands the workspace to the step's unprivileged host uid.
func chownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// removeAll deletes a build's directory, including read-only trees such
// as Go's module cache.
func removeAll(dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	os.RemoveAll(dir)
}

func newInvocationID() string {
	var b [16]byte
	if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
