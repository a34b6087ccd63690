package sandbox

import (
	"fmt"
	"os"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-build/strata/internal/seccomp"
)

// execProcess makes the init the step's process, as runc's init does: the
// step is PID 1 of its namespace (`echo $$` prints 1, signals without a
// handler do not kill it, its orphans are its own to reap), and nothing of
// strata is left beside it. On this thread, which executes it, in runc's
// order: the seccomp filter while CAP_SYS_ADMIN is held (unless
// no_new_privs; TSYNC: every thread), the bounding set, the groups and ids
// with the permitted set kept, the step's capability sets, no_new_privs
// when asked, the ambient set, the terminal, then execve. What the other
// threads of the init hold does not matter: no step runs beside them, and
// execve ends them. started is called just before it. It returns only on
// failure.
func execProcess(p *specs.Process, filter []byte, tty *os.File, started func()) error {
	argv0, err := lookPath(p.Args, p.Env)
	if err != nil {
		return &StartError{Code: 127, Msg: err.Error()}
	}
	ambient, err := ambientCaps(p.Capabilities)
	if err != nil {
		return err
	}
	prog, err := seccomp.ProgramFromBytes(filter)
	if err != nil {
		return err
	}
	if prog != nil && !p.NoNewPrivileges {
		if err := prog.Load(); err != nil {
			return err
		}
	}
	c := p.Capabilities
	if err := dropBounding(c); err != nil {
		return err
	}
	if err := setIDs(p.User); err != nil {
		return err
	}
	masks, err := capMasks(c)
	if err != nil {
		return err
	}
	if err := capsetThread(masks[0], masks[1], masks[2]); err != nil {
		return fmt.Errorf("setting capabilities: %w", err)
	}
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("setting no_new_privs: %w", err)
		}
	}
	if prog != nil && p.NoNewPrivileges {
		if err := prog.Load(); err != nil {
			return err
		}
	}
	for _, a := range ambient {
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, a, 0, 0); err != nil {
			return fmt.Errorf("raising ambient capability %d: %w", a, err)
		}
	}
	if tty != nil {
		if err := onTerminal(tty); err != nil {
			return err
		}
	}
	started()
	return startError(p.Args[0], unix.Exec(argv0, p.Args, p.Env))
}

// setIDs sets this thread's supplementary groups, gid and uid to u's (raw
// calls: the other threads of the init do not matter, execve ends them),
// keeping the permitted capabilities across the change of uid so that the
// step's sets can be applied after it.
func setIDs(u specs.User) error {
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("keeping capabilities: %w", err)
	}
	if !setgroupsDenied() {
		groups := u.AdditionalGids
		var ptr unsafe.Pointer
		if len(groups) > 0 {
			ptr = unsafe.Pointer(&groups[0])
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(groups)), uintptr(ptr), 0); e != 0 {
			return fmt.Errorf("setting groups %v: %w", groups, e)
		}
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); e != 0 {
		return fmt.Errorf("setting gid %d: %w", u.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); e != 0 {
		return fmt.Errorf("setting uid %d: %w", u.UID, e)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("keeping capabilities: %w", err)
	}
	return nil
}

// onTerminal makes tty the controlling terminal (the init leads a session
// of its own) and the step's stdin, stdout and stderr.
func onTerminal(tty *os.File) error {
	fd := int(tty.Fd())
	if err := unix.IoctlSetInt(fd, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("setting the controlling terminal: %w", err)
	}
	for to := range 3 {
		if err := unix.Dup2(fd, to); err != nil {
			return fmt.Errorf("putting the terminal on fd %d: %w", to, err)
		}
	}
	return nil
}
