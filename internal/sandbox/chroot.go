package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-build/strata/internal/seccomp"
)

// Chroot mode is for where no namespace can be made: a container started
// with Docker's default security (no CAP_SYS_ADMIN; seccomp refuses
// unshare and clone with namespace flags). Each step runs in a merged copy
// of its layers (the copy fallback, which writes the difference to the
// upper dir), as the child of a launcher: strata re-executed (chrootArg0),
// non-dumpable, the child subreaper of everything the step starts. The
// launcher drops the bounding set of its forking thread to the step's
// (Docker's default set without CAP_SYS_CHROOT: with it, root leaves a
// chroot by chrooting again below its working directory), brings every
// thread to the step's capabilities plus CAP_SYS_CHROOT (never
// inheritable), loads Docker's seccomp profile with no_new_privs into
// every thread, and forks the step, which chroots, takes its user, gets a
// session of its own (no controlling terminal, so no TIOCSTI into a shell
// outside) and executes: the kernel drops CAP_SYS_CHROOT at that execve.
// The profile keeps chroot(2) (the child calls it under the filter; the
// step lacks the capability) and refuses ptrace and the calls that share
// its access check (process_vm_readv and _writev, pidfd_getfd, kcmp,
// process_madvise): a step shares strata's PID namespace, and a dumpable
// process there of the same user with no capability the step lacks
// (another step running at the same time, any process of a USER step's
// uid) must not be its way out. Mounts are copies: see chrootfs.go.
//
// docs/security.md lists what this does not isolate.

// chrootArg0 is argv[0] of the re-executed binary when it is the
// launcher of a chroot-mode step. The configuration comes on fd 3, status
// goes back on fd 4, as for the builtin's init.
const chrootArg0 = "strata-sandbox-chroot"

func init() {
	if len(os.Args) > 0 && os.Args[0] == chrootArg0 {
		// The bounding set is per thread: the step is forked from this one.
		runtime.LockOSThread()
		os.Exit(runLauncher())
	}
}

// chrootConfig is what the chroot runner sends its launcher.
type chrootConfig struct {
	// Root is the host path of the step's copied root; Cwd the working
	// directory inside it (absolute, created already).
	Root, Cwd string
	// Process is complete (completeProcess), its capabilities without
	// CAP_SYS_CHROOT. Filter is the compiled seccomp program, or empty.
	Process *specs.Process
	Filter  []byte `json:",omitempty"`
}

// chrootRunner runs steps in chroot mode.
type chrootRunner struct {
	opts    Options
	filters filters
	// progs memoises the chroot-mode program per default profile.
	mu    sync.Mutex
	progs map[*specs.LinuxSeccomp]seccomp.Program
	// devices is checkDevices for opts.TempDir, once.
	devices func() error
}

var _ Runner = (*chrootRunner)(nil)

// NewChroot returns the chroot-mode backend: no namespaces, a chroot into
// a merged copy of the step's layers, Docker's capabilities but
// CAP_SYS_CHROOT, Docker's seccomp profile (and no ptrace), copies for
// mounts. It refuses to run where device nodes under opts.TempDir can be
// opened (see Detect). The program must import this package (its init
// runs the launcher).
func NewChroot(opts Options) Runner {
	return &chrootRunner{opts: opts, devices: sync.OnceValue(func() error { return checkDevices(opts.TempDir) })}
}

func (c *chrootRunner) Run(ctx context.Context, step *Step) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("running step: %w", err)
	}
	if err := step.check(); err != nil {
		return err
	}
	if step.Spec.Process.Terminal {
		return errors.New("checking step: a terminal needs the builtin sandbox, not chroot mode")
	}
	if err := c.usable(step); err != nil {
		return err
	}
	// The step may run as root in strata's PID namespace: strata's memory
	// is not for it to read (ptrace, /proc/<pid>/mem).
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("making strata non-dumpable: %w", err)
	}
	dir, err := newStepDir(c.opts.TempDir, step.hostname(), step.Hosts)
	if err != nil {
		return err
	}
	err = withCopiedRoot(step, dir, func(root string) (*stubs, error) {
		return c.runIn(ctx, step, dir, root)
	})
	if errors.Is(err, unix.EPERM) && onOverlayfs(step.Upper) {
		err = fmt.Errorf("%w (the store is on overlayfs, a container's root filesystem, which cannot hold the whiteouts of deleted files: give the store a volume, e.g. docker run -v strata:/var/lib/strata)", err)
	}
	return errors.Join(err, dir.remove())
}

// onOverlayfs reports whether path is on an overlay filesystem.
func onOverlayfs(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.OVERLAYFS_SUPER_MAGIC
}

// usable reports a step chroot mode cannot run here.
func (c *chrootRunner) usable(step *Step) error {
	if !staticBinary() {
		return errors.New("running step: chroot mode needs a static binary: build strata with CGO_ENABLED=0 (make build and make test do)")
	}
	if step.Network == "none" {
		return errors.New("running step: --network=none needs a network namespace, which chroot mode cannot make")
	}
	if err := c.devices(); err != nil {
		return fmt.Errorf("running step: %w", err)
	}
	return nil
}

// runIn runs the step in root, the merged copy: the mounts made by
// copying, the working directory, the launcher; then the mounts undone.
// It returns the mount points it had to create.
func (c *chrootRunner) runIn(ctx context.Context, step *Step, dir *stepDir, root string) (*stubs, error) {
	cfg, err := c.config(step, root)
	if err != nil {
		return nil, err
	}
	st := &stubs{}
	fm := &fakeMounts{root: root, stashDir: filepath.Join(dir.dir, "stash")}
	devices := defaultDevices()
	if step.Spec.Linux != nil {
		devices = append(devices, step.Spec.Linux.Devices...)
	}
	missing := missingRuntimeDirs(root)
	err = fm.setup(chrootMounts(step, dir.etc), st, devices)
	if err == nil {
		cfg.Cwd, err = mkdirIn(root, cfg.Process.Cwd)
	}
	if err == nil {
		err = c.launch(ctx, step, cfg)
	}
	if terr := fm.teardown(); terr != nil {
		err = errors.Join(err, terr)
	}
	if err == nil {
		err = keepRuntimeDirs(root, missing)
	}
	return st, err
}

// config is the launcher's configuration but for the working directory.
func (c *chrootRunner) config(step *Step, root string) (*chrootConfig, error) {
	insecure := step.Security == SecurityInsecure
	p := completeProcess(step.Spec.Process, insecure)
	p.Capabilities = withoutCap(p.Capabilities, "CAP_SYS_CHROOT")
	// Where chroot mode runs (a container without CAP_SYS_ADMIN) a seccomp
	// filter can only be loaded with no_new_privs: a setuid binary (sudo)
	// gains nothing in a step here, unlike the other backends.
	p.NoNewPrivileges = true
	cfg := &chrootConfig{Root: root, Process: p}
	if insecure {
		return cfg, nil
	}
	var given *specs.LinuxSeccomp
	if step.Spec.Linux != nil {
		given = step.Spec.Linux.Seccomp
	}
	prog, err := c.program(p.Capabilities.Bounding, given)
	if err != nil {
		return nil, err
	}
	cfg.Filter = prog.Bytes()
	return cfg, nil
}

// withoutCap returns c without the capability name in any set.
func withoutCap(c *specs.LinuxCapabilities, name string) *specs.LinuxCapabilities {
	drop := func(set []string) []string {
		return slices.DeleteFunc(slices.Clone(set), func(n string) bool { return strings.EqualFold(n, name) })
	}
	return &specs.LinuxCapabilities{
		Bounding: drop(c.Bounding), Effective: drop(c.Effective), Permitted: drop(c.Permitted),
		Inheritable: drop(c.Inheritable), Ambient: drop(c.Ambient),
	}
}

// chrootDenied are the system calls chroot mode refuses on top of
// Docker's profile: those that reach into another process of the same
// user (ptrace's access check), which a step shares a PID namespace with.
func chrootDenied() []string {
	return []string{"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "process_madvise", "kcmp"}
}

// program compiles the step's profile (given, or Docker's default for the
// bounding set and CAP_SYS_CHROOT, which the step's fork needs for its
// chroot under the filter) with chrootDenied refused. The default's is
// compiled once.
func (c *chrootRunner) program(bounding []string, given *specs.LinuxSeccomp) (seccomp.Program, error) {
	base := given
	if base == nil {
		p, err := c.filters.defaultProfile(append(slices.Clip(bounding), "CAP_SYS_CHROOT"))
		if err != nil {
			return nil, err
		}
		base = p
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prog, ok := c.progs[base]; ok && given == nil {
		return prog, nil
	}
	eperm := uint(unix.EPERM)
	prof := *base
	prof.Syscalls = append(slices.Clip(base.Syscalls), specs.LinuxSyscall{Names: chrootDenied(), Action: specs.ActErrno, ErrnoRet: &eperm})
	prog, err := seccomp.Compile(&prof)
	if err != nil {
		return nil, err
	}
	if given == nil {
		if c.progs == nil {
			c.progs = map[*specs.LinuxSeccomp]seccomp.Program{}
		}
		c.progs[base] = prog
	}
	return prog, nil
}

// launch runs the launcher for cfg and waits for it. Cancelling sends it
// SIGTERM: it kills every process of the step, then exits.
func (c *chrootRunner) launch(ctx context.Context, step *Step, cfg *chrootConfig) error {
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("creating config pipe: %w", err)
	}
	defer cfgW.Close()
	stR, stW, err := os.Pipe()
	if err != nil {
		cfgR.Close()
		return fmt.Errorf("creating status pipe: %w", err)
	}
	defer stR.Close()
	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	cmd.Args = []string{chrootArg0}
	cmd.Env = []string{}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = step.Stdin, step.Stdout, step.Stderr
	cmd.ExtraFiles = []*os.File{cfgR, stW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Start()
	cfgR.Close()
	stW.Close()
	if err != nil {
		return fmt.Errorf("starting sandbox: %w", err)
	}
	statusc := make(chan initStatus, 1)
	go func() { statusc <- readStatus(stR, nil) }()
	werr := json.NewEncoder(cfgW).Encode(cfg)
	cfgW.Close()
	err = cmd.Wait()
	return stepError(ctx, err, werr, <-statusc)
}

// runLauncher is the launcher: it starts the step chrooted and reaps
// everything it starts until nothing is left. It exits with the step's
// code (128+n for a death by signal n), or 255 with the reason on the
// status pipe when the step could not start.
func runLauncher() int {
	var cfg chrootConfig
	status, err := startStage("launcher", &cfg)
	fail := func(err error) int {
		st := initStatus{Error: err.Error()}
		var se *StartError
		if errors.As(err, &se) {
			st.StartCode = se.Code
		}
		_ = status.Encode(st)
		return 255
	}
	if err != nil {
		return fail(err)
	}
	// Orphans of the step become the launcher's, so it can end them all.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fail(fmt.Errorf("becoming a subreaper: %w", err))
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	pid, err := startChrooted(&cfg)
	if err != nil {
		return fail(err)
	}
	return reapStep(pid, term)
}

// closeOnExecFrom marks every descriptor from fd up close-on-exec.
func closeOnExecFrom(fd int) error {
	if err := unix.CloseRange(uint(fd), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return nil
	}
	// Before Linux 5.11, or where seccomp refuses close_range.
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("listing descriptors: %w", err)
	}
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil && n >= fd {
			unix.CloseOnExec(n)
		}
	}
	return nil
}

// startChrooted forks and executes the step's process, chrooted, as its
// user, with its capabilities, under the seccomp filter.
func startChrooted(cfg *chrootConfig) (int, error) {
	p := cfg.Process
	if !filepath.IsAbs(cfg.Cwd) {
		// The child's working directory must be inside the root: a
		// chroot leaves it where it was.
		return 0, fmt.Errorf("starting process: working directory %q is not absolute", cfg.Cwd)
	}
	argv0, err := lookPathIn(cfg.Root, cfg.Cwd, p.Args, p.Env)
	if err != nil {
		return 0, &StartError{Code: 127, Msg: err.Error()}
	}
	ambient, err := ambientCaps(p.Capabilities)
	if err != nil {
		return 0, err
	}
	prog, err := seccomp.ProgramFromBytes(cfg.Filter)
	if err != nil {
		return 0, err
	}
	if err := setProcessLimits(p); err != nil {
		return 0, err
	}
	if err := applyCapabilities(launcherCaps(p.Capabilities), p.NoNewPrivileges && prog == nil); err != nil {
		return 0, err
	}
	if prog != nil {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return 0, fmt.Errorf("setting no_new_privs: %w", err)
		}
		if err := prog.Load(); err != nil {
			return 0, err
		}
	}
	pid, err := syscall.ForkExec(argv0, p.Args, &syscall.ProcAttr{
		Dir:   cfg.Cwd,
		Env:   p.Env,
		Files: []uintptr{0, 1, 2},
		Sys: &syscall.SysProcAttr{
			Chroot: cfg.Root,
			Credential: &syscall.Credential{Uid: p.User.UID, Gid: p.User.GID,
				Groups: slices.Clone(p.User.AdditionalGids), NoSetGroups: setgroupsDenied()},
			AmbientCaps: ambient,
			Setsid:      true,
			Pdeathsig:   syscall.SIGKILL,
		},
	})
	if err != nil {
		return 0, startError(p.Args[0], err)
	}
	if err := shedCapabilities(); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		return 0, err
	}
	return pid, nil
}

// launcherCaps are the step's capabilities plus CAP_SYS_CHROOT, effective
// and permitted only: the forked child needs it for chroot(2), and its
// execve cannot keep it (not in the bounding set or the inheritable set).
func launcherCaps(c *specs.LinuxCapabilities) *specs.LinuxCapabilities {
	l := *c
	l.Effective = append(slices.Clip(c.Effective), "CAP_SYS_CHROOT")
	l.Permitted = append(slices.Clip(c.Permitted), "CAP_SYS_CHROOT")
	return &l
}

// reapStep waits for the step's process pid, reaping the orphans its
// processes leave to the launcher meanwhile; once it is gone, kills every
// process left (what the step left running, daemons included: none can
// leave a subreaper) and reaps them. A SIGTERM on term kills the step's
// process first. It returns the step's exit code.
func reapStep(pid int, term <-chan os.Signal) int {
	var mu sync.Mutex
	exited := false
	go func() {
		<-term
		mu.Lock()
		defer mu.Unlock()
		if !exited { // pid is not reaped: it still names the step
			unix.Kill(-pid, unix.SIGKILL)
			unix.Kill(pid, unix.SIGKILL)
		}
	}()
	code := -1
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil { // ECHILD: nothing left
			return code
		}
		if got == pid {
			mu.Lock()
			exited = true
			mu.Unlock()
			code = ws.ExitStatus()
			if ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
		}
		if code >= 0 {
			killChildren()
		}
	}
}

// killChildren sends SIGKILL to every child of the launcher. Their pids
// cannot be reused meanwhile: they are not reaped.
func killChildren() {
	for _, pid := range children() {
		unix.Kill(pid, unix.SIGKILL)
	}
}

// children lists the launcher's children: from each thread's children
// file, or where the kernel has none (CONFIG_PROC_CHILDREN), from every
// process's parent in /proc.
func children() []int {
	var out []int
	tasks, err := os.ReadDir("/proc/self/task")
	for _, t := range tasks {
		b, cerr := os.ReadFile("/proc/self/task/" + t.Name() + "/children")
		if cerr != nil {
			err = cerr
			break
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil && n > 0 {
				out = append(out, n)
			}
		}
	}
	if err == nil {
		return out
	}
	out = nil
	self := os.Getpid()
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		n, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + p.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(self) {
			out = append(out, n)
		}
	}
	return out
}

// lookPathIn finds args[0] in the PATH of env inside root, as lookPath
// does inside the builtin's root: symlinks resolve within root, relative
// PATH entries from cwd. It returns the path to execute after the chroot.
func lookPathIn(root, cwd string, args, env []string) (string, error) {
	direct, dirs, err := searchPath(args, env)
	if direct != "" || err != nil {
		return direct, err
	}
	for _, dir := range dirs {
		p := filepath.Join(dir, args[0])
		if !filepath.IsAbs(p) {
			p = filepath.Join(cwd, p)
		}
		rel, err := resolveIn(root, p)
		if err != nil {
			continue
		}
		if fi, err := os.Stat(filepath.Join(root, rel)); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("starting process: exec: %q: executable file not found in $PATH", args[0])
}
