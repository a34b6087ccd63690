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
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// detachArg0 is argv[0] of the re-executed binary when it is the monitor
// of a detached step; argv[1] is the step's ID. The configuration comes on
// fd 3, the start status goes back on fd 4.
const detachArg0 = "strata-sandbox-detached"

// Detached is a step run in the background (`strata run -d`) by a
// monitor process that outlives its caller: a re-executed strata in a
// session of its own that runs the step with the builtin backend,
// forwards the signals it gets (SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1,
// SIGUSR2) to the step's process, writes the exit code and removes the
// scratch dirs.
type Detached struct {
	// Step's Stdin, Stdout, Stderr, Signals, Console and Started are
	// unused; Spec.Process.Terminal must be false.
	Step    *Step
	Options Options
	// ID is the monitor's argv[1], so the process can be told apart (see
	// MonitorArgs).
	ID string
	// Log receives the step's stdout and stderr (appended) as JSON
	// lines, Docker's json-file format (LogEntry).
	Log string
	// Pid receives the monitor's PID in decimal before the step starts.
	Pid string
	// Exit receives the exit code in decimal when the step ends (128+n
	// for a death by signal n).
	Exit string
	// Remove are removed once the step has ended.
	Remove []string
}

// detachConfig is what the monitor gets on fd 3.
type detachConfig struct {
	Lower             []string
	Upper, Work       string
	Spec              *specs.Spec
	Network, Security string
	Hosts             []Host
	Options           Options
	Pid, Exit         string
	Remove            []string
}

// MonitorArgs are the command line of the monitor of the detached step id,
// as /proc/PID/cmdline shows it (NUL-separated).
func MonitorArgs(id string) string { return detachArg0 + "\x00" + id + "\x00" }

// StartDetached starts d's monitor and returns its PID once the step's
// process runs. A process that cannot start is a *StartError, as with Run.
func StartDetached(d Detached) (int, error) {
	s := d.Step
	if err := s.check(); err != nil {
		return 0, err
	}
	if s.Spec.Process.Terminal {
		return 0, errors.New("starting detached step: no terminal in the background")
	}
	log, err := os.OpenFile(d.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return 0, fmt.Errorf("starting detached step: %w", err)
	}
	defer log.Close()
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("creating config pipe: %w", err)
	}
	defer cfgW.Close()
	stR, stW, err := os.Pipe()
	if err != nil {
		cfgR.Close()
		return 0, fmt.Errorf("creating status pipe: %w", err)
	}
	defer stR.Close()
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{detachArg0, d.ID}
	cmd.Env = []string{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.ExtraFiles = []*os.File{cfgR, stW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	cfgR.Close()
	stW.Close()
	if err != nil {
		return 0, fmt.Errorf("starting detached step: %w", err)
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	werr := json.NewEncoder(cfgW).Encode(detachConfig{
		Lower: s.Lower, Upper: s.Upper, Work: s.Work, Spec: s.Spec, Network: s.Network,
		Security: s.Security, Hosts: s.Hosts, Options: d.Options, Pid: d.Pid, Exit: d.Exit, Remove: d.Remove,
	})
	cfgW.Close()
	st := readStatus(stR, nil)
	if st.Started {
		return pid, nil
	}
	// Nothing must run that the caller does not know of: the monitor's
	// death ends its init (parent-death signal), so the step.
	_ = syscall.Kill(pid, syscall.SIGKILL)
	switch {
	case st.StartCode != 0:
		return 0, &StartError{Code: st.StartCode, Msg: st.Error}
	case st.Error != "":
		return 0, fmt.Errorf("starting detached step: %s", st.Error)
	case werr != nil:
		return 0, fmt.Errorf("sending detached step's config: %w", werr)
	}
	return 0, errors.New("starting detached step: the monitor ended before the step started")
}

// LogEntry is a line of a detached step's log, as Docker's json-file
// logging driver writes it.
type LogEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// logStream writes what it gets to w, the log, as LogEntry lines of
// stream: one per line of output (a partial line is an entry of its own,
// as Docker's). The streams of a log share mu.
type logStream struct {
	mu     *sync.Mutex
	stream string
	w      io.Writer
}

func (s logStream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	enc := json.NewEncoder(s.w)
	now := time.Now().UTC()
	for rest := p; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		if err := enc.Encode(LogEntry{Log: string(line), Stream: s.stream, Time: now}); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// endStatus ends the monitor's status pipe (so StartDetached returns),
// leaving /dev/null on its fd for the encoder that still holds it.
func endStatus() {
	null, err := unix.Open(os.DevNull, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	_ = unix.Dup3(null, statusFD, unix.O_CLOEXEC)
	unix.Close(null)
}

// runDetached is the monitor: it runs the step and records its end.
func runDetached() int {
	var cfg detachConfig
	status, err := startStage("monitor", &cfg)
	if err != nil {
		_ = status.Encode(initStatus{Error: err.Error()})
		return 1
	}
	// Pin no directory of the caller's.
	_ = os.Chdir("/")
	if err := os.WriteFile(cfg.Pid, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		_ = status.Encode(initStatus{Error: fmt.Sprintf("recording the monitor's PID: %v", err)})
		return 1
	}
	mu := &sync.Mutex{}
	stdout, stderr := logStream{mu, "stdout", os.Stdout}, logStream{mu, "stderr", os.Stdout}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	started := false
	err = NewBuiltin(cfg.Options).Run(context.Background(), &Step{
		Lower: cfg.Lower, Upper: cfg.Upper, Work: cfg.Work, Spec: cfg.Spec,
		Network: cfg.Network, Security: cfg.Security, Hosts: cfg.Hosts,
		Stdout: stdout, Stderr: stderr, Signals: sigs,
		Started: func() {
			started = true
			_ = status.Encode(initStatus{Started: true})
			endStatus()
		},
	})
	code := 0
	var ee *ExitError
	var se *StartError
	var ke *KilledError
	switch {
	case errors.As(err, &ee):
		code = ee.Code
	case errors.As(err, &ke):
		code = 128 + int(ke.Signal)
	case errors.As(err, &se):
		code = se.Code
	case err != nil:
		code = 125
		fmt.Fprintf(stderr, "strata: %v\n", err)
	}
	if !started {
		st := initStatus{}
		if err != nil {
			st.Error = err.Error()
		}
		if se != nil {
			st.StartCode = se.Code
		}
		_ = status.Encode(st)
	}
	_ = os.WriteFile(cfg.Exit, []byte(strconv.Itoa(code)+"\n"), 0o644)
	for _, d := range cfg.Remove {
		_ = os.RemoveAll(d)
	}
	return 0
}
