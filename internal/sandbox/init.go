package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// initArg0 is argv[0] of the re-executed binary when it is the sandbox's
// init. The configuration comes on fd 3, status goes back on fd 4.
//
// The init starts in the new namespaces with every capability, makes
// itself non-dumpable before anything else (so that nothing can ptrace it
// or open its /proc/1/{mem,exe,environ,fd} while it is privileged), builds
// the root (mounts, devices, pivot_root), loads the seccomp filter and
// brings every one of its threads down to the step's bounding set and
// capabilities (execProcess), then executes the step's process itself, as
// runc's init does: the step is PID 1 of its namespace.
const initArg0 = "strata-sandbox-init"

const (
	configFD = 3
	statusFD = 4
)

// initConfig is what the builtin backend sends its init over the pipe.
type initConfig struct {
	// Root is a host dir to mount the step's root on.
	Root string
	// Lower, Upper, Work make the overlay; CopyRoot, when set, is bound as
	// the root instead (the copy fallback).
	Lower       []string
	Upper, Work string
	CopyRoot    string
	// EtcDir holds the generated /etc files the spec binds; the init
	// copies them onto a tmpfs over EtcDir, so no host file is bound.
	EtcDir string
	// Spec is complete (see completeSpec); Spec.Root is unused. Its
	// seccomp profile comes compiled, as Filter (seccomp.Program.Bytes).
	Spec   *specs.Spec
	Filter []byte `json:",omitempty"`
}

// initStatus is one message from the init: the stubs it created, or why
// setting up failed.
type initStatus struct {
	Stubs     *stubs `json:",omitempty"`
	Error     string `json:",omitempty"`
	NoOverlay bool   `json:",omitempty"`
	// StartCode is Docker's exit code for a process that could not be
	// started: 127 not found, 126 not executable.
	StartCode int `json:",omitempty"`
	// Started says the step's process runs.
	Started bool `json:",omitempty"`
}

// Init runs the sandbox's init when the process is one, and never returns
// then; otherwise it returns at once. Programs using the builtin backend
// must call it first thing in main (and in TestMain): the backend
// re-executes /proc/self/exe as the init of the step's namespaces.
func Init() {
	if len(os.Args) > 0 && os.Args[0] == detachArg0 {
		os.Exit(runDetached())
	}
	if len(os.Args) == 0 || os.Args[0] != initArg0 {
		return
	}
	// The bounding set is per thread: keep this goroutine on one thread
	// and start the step's process from it.
	runtime.LockOSThread()
	os.Exit(runInit())
}

func runInit() int {
	var cfg initConfig
	status, err := startStage("init", &cfg)
	fail := func(err error) int {
		var se *StartError
		code := 0
		if errors.As(err, &se) {
			code = se.Code
		}
		_ = status.Encode(initStatus{Error: err.Error(), NoOverlay: errors.Is(err, errNoOverlay), StartCode: code})
		return 255
	}
	if err != nil {
		return fail(err)
	}
	var st stubs
	err = setupRoot(&cfg, &st)
	if len(st.Created) > 0 {
		_ = status.Encode(initStatus{Stubs: &st})
	}
	if err != nil {
		return fail(err)
	}
	var tty *os.File
	if cfg.Spec.Process.Terminal {
		master, slave, err := openConsole(cfg.Spec.Process.User.UID)
		if err != nil {
			return fail(err)
		}
		defer slave.Close()
		if err := sendConsole(master); err != nil {
			return fail(err)
		}
		tty = slave
	}
	started := func() { _ = status.Encode(initStatus{Started: true}) }
	return fail(execProcess(cfg.Spec.Process, cfg.Filter, tty, started))
}

// startStage is how the init and chroot mode's launcher begin: made
// non-dumpable before anything else (so a step can neither ptrace them nor
// open their /proc/PID/{mem,exe,environ,fd}), every descriptor from 3 up
// marked close-on-exec (nothing strata inherited, a descriptor of the
// host's / from the shell that started it say, may reach the step: only
// 0, 1 and 2 do), and the configuration decoded from fd 3 into cfg. It
// returns the encoder of status messages (fd 4).
func startStage(name string, cfg any) (*json.Encoder, error) {
	status := json.NewEncoder(os.NewFile(statusFD, "status"))
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return status, fmt.Errorf("making the %s non-dumpable: %w", name, err)
	}
	if err := closeOnExecFrom(configFD); err != nil {
		return status, err
	}
	cf := os.NewFile(configFD, "config")
	defer cf.Close()
	if err := json.NewDecoder(cf).Decode(cfg); err != nil {
		return status, fmt.Errorf("reading sandbox config: %w", err)
	}
	return status, nil
}

// setupRoot builds the step's root inside the new mount namespace and
// pivots into it. Every mount lives and dies with the namespace.
func setupRoot(cfg *initConfig, st *stubs) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making / private: %w", err)
	}
	if err := mountRoot(cfg); err != nil {
		return err
	}
	if err := etcOnTmpfs(cfg.EtcDir); err != nil {
		return err
	}
	root, s := cfg.Root, cfg.Spec
	if err := mountAll(root, s, st); err != nil {
		return err
	}
	for _, p := range s.Linux.MaskedPaths {
		if err := inRoot(root, p, maskPath); err != nil {
			return err
		}
	}
	for _, p := range s.Linux.ReadonlyPaths {
		if err := inRoot(root, p, readonlyPath); err != nil {
			return err
		}
	}
	if err := setupNamespaces(s); err != nil {
		return err
	}
	cwd, err := mkdirIn(root, s.Process.Cwd)
	if err != nil {
		return err
	}
	if err := pivotRoot(root); err != nil {
		return err
	}
	if err := os.Chdir(cwd); err != nil {
		return fmt.Errorf("changing to %s: %w", s.Process.Cwd, err)
	}
	return setProcessLimits(s.Process)
}

func mountRoot(cfg *initConfig) error {
	if cfg.CopyRoot != "" {
		if err := bindMount(cfg.CopyRoot, cfg.Root, unix.MS_REC|unix.MS_NODEV); err != nil {
			return fmt.Errorf("binding root: %w", err)
		}
		return nil
	}
	return mountOverlay(cfg.Root, cfg.Lower, cfg.Upper, cfg.Work)
}

// etcOnTmpfs puts the generated /etc files of dir on a tmpfs mounted over
// it, so what the step's /etc/hosts, /etc/resolv.conf and /etc/hostname
// are bound from is no host file (through which a file handle could reach
// the host's filesystem).
func etcOnTmpfs(dir string) error {
	if dir == "" {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reading etc files: %w", err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		if files[e.Name()], err = os.ReadFile(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("reading etc files: %w", err)
		}
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=1m,mode=0755"); err != nil {
		return fmt.Errorf("mounting tmpfs for etc files: %w", err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("writing etc files: %w", err)
		}
	}
	return nil
}

// mountAll performs the spec's mounts in order, making mount points as
// needed. /dev is a nodev tmpfs with the host's device nodes bound in.
func mountAll(root string, s *specs.Spec, st *stubs) error {
	for _, m := range s.Mounts {
		target, err := st.ensure(root, m.Destination, !isDirSource(m))
		if err != nil {
			return err
		}
		dev := cleanDest(m.Destination) == "/dev" && m.Type == "tmpfs"
		if dev {
			m.Options = append(slices.Clip(m.Options), "nodev")
		}
		if err := mountOne(m, target); err != nil {
			return err
		}
		if dev {
			if err := bindDevices(target, append(defaultDevices(), s.Linux.Devices...)); err != nil {
				return err
			}
		}
	}
	return nil
}

// inRoot calls f with the host path of p resolved inside root.
func inRoot(root, p string, f func(string) error) error {
	rel, err := resolveIn(root, p)
	if err != nil {
		return err
	}
	return f(filepath.Join(root, rel))
}

// mkdirIn creates dir inside root if missing, as Docker does for the
// working directory, and returns its path relative to the new root.
func mkdirIn(root, dir string) (string, error) {
	rel, err := resolveIn(root, dir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Join(root, rel), 0o755); err != nil {
		return "", fmt.Errorf("creating working directory %s: %w", dir, err)
	}
	return "/" + strings.TrimPrefix(rel, "."), nil
}

func setupNamespaces(s *specs.Spec) error {
	if hasNamespace(s.Linux, specs.UTSNamespace) {
		if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
			return fmt.Errorf("setting hostname: %w", err)
		}
	}
	if hasNamespace(s.Linux, specs.NetworkNamespace) {
		return loopbackUp()
	}
	return nil
}

// loopbackUp brings lo up in a new network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bringing lo up: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("bringing lo up: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing lo up: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing lo up: %w", err)
	}
	return nil
}

// pivotRoot makes root the root and detaches the old one, without needing
// a directory for it (pivot_root(".", ".")).
func pivotRoot(root string) error {
	if err := unix.Chdir(root); err != nil {
		return fmt.Errorf("entering root: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivoting root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching old root: %w", err)
	}
	return unix.Chdir("/")
}

func setProcessLimits(p *specs.Process) error {
	for _, r := range p.Rlimits {
		res, ok := map[string]int{
			"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC,
			"RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_STACK": unix.RLIMIT_STACK,
			"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_AS": unix.RLIMIT_AS,
			"RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_CPU": unix.RLIMIT_CPU,
			"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
			"RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
			"RLIMIT_RSS": unix.RLIMIT_RSS, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO,
			"RLIMIT_RTTIME": unix.RLIMIT_RTTIME, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
		}[r.Type]
		if !ok {
			return fmt.Errorf("setting rlimit: unsupported %s", r.Type)
		}
		if err := unix.Setrlimit(res, &unix.Rlimit{Cur: r.Soft, Max: r.Hard}); err != nil {
			return fmt.Errorf("setting %s: %w", r.Type, err)
		}
	}
	umask := 0o022
	if p.User.Umask != nil {
		umask = int(*p.User.Umask)
	}
	unix.Umask(umask)
	return nil
}

// startError is why execve of cmd failed, with Docker's exit code when it
// has one: 127 for a command that does not exist, 126 for one that cannot
// be invoked.
func startError(cmd string, err error) error {
	msg := fmt.Sprintf("starting process: exec: %q: %v", cmd, err)
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
		return &StartError{Code: 127, Msg: msg}
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EISDIR), errors.Is(err, unix.ENOEXEC), errors.Is(err, unix.EPERM):
		return &StartError{Code: 126, Msg: msg}
	}
	return fmt.Errorf("starting %s: %w", cmd, err)
}

// searchPath says where to find args[0]: itself when it names a path
// (direct), else the directories of the PATH of env (defaultPath when
// env has none), as runc searches them.
func searchPath(args, env []string) (direct string, dirs []string, err error) {
	if len(args) == 0 {
		return "", nil, errors.New("starting process: no command")
	}
	if strings.Contains(args[0], "/") {
		return args[0], nil, nil
	}
	path := defaultPath
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	return "", filepath.SplitList(path), nil
}

// lookPath finds args[0] in the PATH of env, as runc does.
func lookPath(args, env []string) (string, error) {
	direct, dirs, err := searchPath(args, env)
	if direct != "" || err != nil {
		return direct, err
	}
	for _, dir := range dirs {
		p := filepath.Join(dir, args[0])
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("starting process: exec: %q: executable file not found in $PATH", args[0])
}
