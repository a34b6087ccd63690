package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Options configure a backend.
type Options struct {
	// TempDir holds per-step scratch dirs; default os.TempDir().
	TempDir string
}

// rootMode says how a backend makes the step's root.
type rootMode int

const (
	// overlayRoot mounts an overlay, falling back to copyRoot when the
	// kernel cannot.
	overlayRoot rootMode = iota
	// copyRoot copies the layers into a dir and diffs it afterwards.
	copyRoot
)

// builtin runs steps with namespaces and pivot_root in a re-executed
// init; see Init.
type builtin struct {
	opts    Options
	mode    rootMode
	filters filters
}

var _ Runner = (*builtin)(nil)

// NewBuiltin returns the builtin backend. The program must call Init first
// thing in main.
func NewBuiltin(opts Options) Runner {
	return &builtin{opts: opts}
}

func (b *builtin) Run(ctx context.Context, step *Step) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("running step: %w", err)
	}
	if err := step.check(); err != nil {
		return err
	}
	if !staticBinary() {
		return errors.New("running step: the builtin sandbox needs a static binary: build strata with CGO_ENABLED=0 (make build and make test do)")
	}
	dir, err := newStepDir(b.opts.TempDir, step.hostname(), step.Hosts)
	if err != nil {
		return err
	}
	err = errNoOverlay
	if b.mode == overlayRoot {
		err = b.runOverlay(ctx, step, dir)
	}
	if errors.Is(err, errNoOverlay) {
		err = withCopiedRoot(step, dir, func(root string) (*stubs, error) {
			cfg, err := b.initConfig(step, dir)
			if err != nil {
				return nil, err
			}
			cfg.CopyRoot = root
			return b.runInit(ctx, step, cfg)
		})
	}
	return errors.Join(err, dir.remove())
}

// runOverlay runs the step over an overlay mounted by the init, then
// removes the mount stubs from the upper dir.
func (b *builtin) runOverlay(ctx context.Context, step *Step, dir *stepDir) error {
	lower := step.Lower
	if len(lower) == 0 {
		lower = []string{dir.empty}
	}
	cfg, err := b.initConfig(step, dir)
	if err != nil {
		return err
	}
	cfg.Lower, cfg.Upper, cfg.Work = lower, step.Upper, step.Work
	st, err := b.runInit(ctx, step, cfg)
	if errors.Is(err, errNoOverlay) {
		return err
	}
	return errors.Join(err, st.clean(step.Upper))
}

// initConfig is the init's configuration for step, but for its root: the
// complete spec, with the seccomp profile compiled into the filter.
func (b *builtin) initConfig(step *Step, dir *stepDir) (*initConfig, error) {
	spec, err := completeSpec(step, "/", dir.etc, &b.filters)
	if err != nil {
		return nil, err
	}
	cfg := &initConfig{Root: dir.root, EtcDir: dir.etcDir, Spec: spec}
	if spec.Linux.Seccomp != nil {
		prog, err := b.filters.program(spec.Linux.Seccomp)
		if err != nil {
			return nil, err
		}
		cfg.Filter = prog.Bytes()
		linux := *spec.Linux
		linux.Seccomp = nil
		spec.Linux = &linux
	}
	return cfg, nil
}

// runInit runs the init for cfg and returns the stubs it made with the
// step's result.
func (b *builtin) runInit(ctx context.Context, step *Step, cfg *initConfig) (*stubs, error) {
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating config pipe: %w", err)
	}
	defer cfgW.Close()
	stR, stW, err := os.Pipe()
	if err != nil {
		cfgR.Close()
		return nil, fmt.Errorf("creating status pipe: %w", err)
	}
	defer stR.Close()
	cmd := initCommand(ctx, step, cfg.Spec, cfgR, stW)
	var console *os.File
	if cfg.Spec.Process.Terminal {
		host, init, err := consolePair()
		if err != nil {
			cfgR.Close()
			stW.Close()
			return nil, err
		}
		defer init.Close()
		console = host
		cmd.ExtraFiles = append(cmd.ExtraFiles, init)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	}
	err = cmd.Start()
	cfgR.Close()
	stW.Close()
	if err != nil {
		if console != nil {
			console.Close()
		}
		return nil, fmt.Errorf("starting sandbox: %w", err)
	}
	consoled := receiveConsole(step, console)
	started := make(chan struct{})
	statusc := make(chan initStatus, 1)
	go func() {
		statusc <- readStatus(stR, func() {
			close(started)
			if step.Started != nil {
				step.Started()
			}
		})
	}()
	done := make(chan struct{})
	if step.Signals != nil {
		go forwardSignals(cmd.Process.Pid, started, step.Signals, done)
	}
	werr := json.NewEncoder(cfgW).Encode(cfg)
	cfgW.Close()
	err = cmd.Wait()
	close(done)
	status := <-statusc
	<-consoled
	return status.Stubs, stepError(ctx, err, werr, status)
}

// receiveConsole hands the terminal the init sends on console (nil: the
// step has none) to step.Console; the channel closes when that is done.
func receiveConsole(step *Step, console *os.File) <-chan struct{} {
	done := make(chan struct{})
	if console == nil {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		defer console.Close()
		master, err := recvConsole(console)
		if err != nil {
			return
		}
		if step.Console == nil {
			master.Close()
			return
		}
		step.Console(master)
	}()
	return done
}

func initCommand(ctx context.Context, step *Step, s *specs.Spec, cfgR, stW *os.File) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	cmd.Args = []string{initArg0}
	cmd.Env = []string{}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = step.Stdin, step.Stdout, step.Stderr
	cmd.ExtraFiles = []*os.File{cfgR, stW}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: cloneFlags(s.Linux),
		Pdeathsig:  syscall.SIGKILL,
		// A session (and process group) of its own: no controlling
		// terminal of strata's, into which a step could type (TIOCSTI),
		// and none of the terminal's signals.
		Setsid: true,
	}
	// The init becomes the step's process, PID 1 of its namespace: killing
	// it makes the kernel kill the whole namespace; that is what
	// cancellation does.
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

func cloneFlags(l *specs.Linux) uintptr {
	flags := uintptr(unix.CLONE_NEWNS)
	for t, f := range map[specs.LinuxNamespaceType]uintptr{
		specs.PIDNamespace: unix.CLONE_NEWPID, specs.IPCNamespace: unix.CLONE_NEWIPC,
		specs.UTSNamespace: unix.CLONE_NEWUTS, specs.NetworkNamespace: unix.CLONE_NEWNET,
		specs.CgroupNamespace: unix.CLONE_NEWCGROUP,
	} {
		if hasNamespace(l, t) {
			flags |= f
		}
	}
	return flags
}

// readStatus merges the init's status messages, calling started (when
// not nil) once the step's process runs.
func readStatus(r io.Reader, started func()) initStatus {
	var all initStatus
	dec := json.NewDecoder(r)
	for {
		var st initStatus
		if err := dec.Decode(&st); err != nil {
			return all
		}
		if st.Started {
			all.Started = true
			if started != nil {
				started()
			}
		}
		if st.Stubs != nil {
			all.Stubs = st.Stubs
		}
		if st.Error != "" {
			all.Error, all.NoOverlay, all.StartCode = st.Error, st.NoOverlay, st.StartCode
		}
	}
}

// stepError maps the init's end to the step's result.
func stepError(ctx context.Context, waitErr, writeErr error, st initStatus) error {
	if err := ctx.Err(); err != nil && waitErr != nil {
		return fmt.Errorf("running step: %w", err)
	}
	if st.Error != "" {
		if st.StartCode != 0 {
			return &StartError{Code: st.StartCode, Msg: st.Error}
		}
		if st.NoOverlay {
			return fmt.Errorf("setting up sandbox: %w: %s", errNoOverlay, st.Error)
		}
		return fmt.Errorf("setting up sandbox: %s", st.Error)
	}
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Errorf("running step: %w", &KilledError{Signal: ws.Signal()})
		}
		return &ExitError{Code: ee.ExitCode()}
	}
	if waitErr != nil {
		return fmt.Errorf("running step: %w", waitErr)
	}
	if writeErr != nil {
		return fmt.Errorf("sending sandbox config: %w", writeErr)
	}
	return nil
}
