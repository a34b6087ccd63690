// Package sandbox runs one RUN step isolated from the host: the builtin
// backend uses Linux namespaces, an overlayfs root and pivot_root; the OCI
// backend hands the same step to runc or crun. Both take the step as an OCI
// runtime spec plus the overlay layers to mount, and complete the spec the
// way Docker and BuildKit do: fresh /proc, a tmpfs /dev with the usual
// nodes, devpts, shm and mqueue, read-only /sys, masked and read-only
// /proc paths, /etc/resolv.conf, /etc/hosts and /etc/hostname bound from
// generated files, Docker's default capabilities, no_new_privs, and host
// networking unless the step asks for none.
//
// The step's changes land in Step.Upper in overlay format. Mount points
// the sandbox had to create (for /proc, /etc/hosts, RUN --mount targets)
// are removed from it afterwards, so they never reach a layer. Without
// overlayfs, both backends fall back to copying the layers and diffing.
//
// The builtin backend re-executes the running binary as the init of the
// step's namespaces: programs must call Init first thing in main. For
// `strata run` it also forwards signals to the step's process, gives it a
// pseudo-terminal on the sandbox's own devpts (Spec.Process.Terminal), and
// runs detached steps under a monitor process (StartDetached) that
// outlives its caller.
//
// Imported by build (and cli for `strata run`); imports neither build,
// plan nor store.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Step is one process to run over an overlay root.
type Step struct {
	// Lower are overlay-format layer dirs, bottom first (read-only, shared).
	Lower []string
	// Upper receives the step's changes; Work is overlayfs's work dir on the
	// same filesystem. Both exist and are empty.
	Upper, Work string
	// Spec describes the process, mounts (cache, bind, tmpfs, secrets),
	// hostname and namespaces. Spec.Root is filled in by the backend.
	Spec *specs.Spec
	// Network is "host" (or "" or "default") or "none".
	Network string
	// Security is SecuritySandbox (or "") or SecurityInsecure, which the
	// caller allows only behind an explicit entitlement.
	Security string
	// Hosts are extra /etc/hosts entries (--add-host), after the
	// defaults, in order.
	Hosts  []Host
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Signals, when set, are forwarded to the step's process, as docker
	// run forwards its own (builtin backend).
	Signals <-chan os.Signal
	// Console, when Spec.Process.Terminal is set (builtin backend only),
	// receives the master of the step's pseudo-terminal, opened on the
	// sandbox's own devpts; the step's stdio are its slave, its
	// controlling terminal. Console owns the master; Stdin, Stdout and
	// Stderr are unused.
	Console func(master *os.File)
	// Started, when set, is called once the step's process runs (builtin
	// backend).
	Started func()
}

// Host is an /etc/hosts entry: a name and its address.
type Host struct {
	Name string
	IP   string
}

// Security modes of a step (RUN --security).
const (
	// SecuritySandbox is Docker's default sandbox: its capability set,
	// seccomp profile, masked paths and device policy.
	SecuritySandbox = "sandbox"
	// SecurityInsecure runs the step with every capability, no seccomp
	// filter, no masked or read-only paths and a writable /sys, as
	// BuildKit's security.insecure entitlement.
	SecurityInsecure = "insecure"
)

// Runner runs steps. Run returns *ExitError when the process exits non-zero.
// When ctx is cancelled every process of the step is killed; in every case
// nothing stays mounted after Run returns.
type Runner interface {
	Run(ctx context.Context, step *Step) error
}

// ForwardsSignals reports whether r passes Step.Signals on to the step's
// process (the builtin backend does); with the others, cancelling the
// context is how a step is stopped.
func ForwardsSignals(r Runner) bool {
	_, ok := r.(*builtin)
	return ok
}

// check reports a step the backends cannot run.
func (s *Step) check() error {
	switch {
	case s.Spec == nil || s.Spec.Process == nil || len(s.Spec.Process.Args) == 0:
		return errors.New("checking step: no process to run")
	case s.Upper == "" || s.Work == "":
		return errors.New("checking step: no upper or work dir")
	case s.Network != "" && s.Network != "host" && s.Network != "default" && s.Network != "none":
		return fmt.Errorf("checking step: unsupported network mode %q", s.Network)
	case s.Security != "" && s.Security != SecuritySandbox && s.Security != SecurityInsecure:
		return fmt.Errorf("checking step: unsupported security mode %q", s.Security)
	}
	// overlayfs shows the upper dir's own mode and owner as "/": make it
	// what a container's root is (0755 root:root), whatever made the dir.
	if err := os.Chmod(s.Upper, 0o755); err != nil {
		return fmt.Errorf("checking step: %w", err)
	}
	if err := os.Chown(s.Upper, 0, 0); err != nil {
		return fmt.Errorf("checking step: %w", err)
	}
	return nil
}

// hostname is the step's hostname.
func (s *Step) hostname() string {
	if s.Spec.Hostname != "" {
		return s.Spec.Hostname
	}
	return defaultHostname
}

// StartError reports a process that could not be started, with Docker's
// exit code for it: 127 when the command does not exist, 126 when it
// cannot be invoked (not executable, a directory, a bad format).
type StartError struct {
	Code int
	Msg  string
}

func (e *StartError) Error() string { return e.Msg }

// KilledError reports a sandbox killed by a signal from outside (SIGKILL
// by strata stop, the OOM killer): every process of the step died with
// it.
type KilledError struct {
	Signal syscall.Signal
}

func (e *KilledError) Error() string { return fmt.Sprintf("sandbox init killed by %v", e.Signal) }

// ExitError reports a non-zero exit status.
type ExitError struct {
	Code int
}

func (e *ExitError) Error() string { return fmt.Sprintf("exit code %d", e.Code) }
