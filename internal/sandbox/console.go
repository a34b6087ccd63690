package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// consoleFD is the init's end of the socket the pty master goes back on,
// when the step asks for a terminal.
const consoleFD = 5

// openConsole opens a pseudo-terminal on the step's own devpts (the init
// has pivoted: /dev/pts is the sandbox's newinstance devpts, so the step
// sees /dev/pts/N and never a host terminal). The slave belongs to uid, as
// runc makes it.
func openConsole(uid uint32) (master, slave *os.File, err error) {
	mfd, err := unix.Open("/dev/pts/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("opening terminal: %w", err)
	}
	master = os.NewFile(uintptr(mfd), "ptmx")
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("unlocking terminal: %w", err)
	}
	n, err := unix.IoctlGetInt(mfd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("numbering terminal: %w", err)
	}
	name := "/dev/pts/" + strconv.Itoa(n)
	sfd, err := unix.Open(name, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("opening terminal: %w", err)
	}
	slave = os.NewFile(uintptr(sfd), name)
	if err := unix.Fchown(sfd, int(uid), -1); err != nil {
		master.Close()
		slave.Close()
		return nil, nil, fmt.Errorf("giving terminal to the user: %w", err)
	}
	return master, slave, nil
}

// sendConsole hands the pty master to strata over the console socket.
func sendConsole(master *os.File) error {
	defer master.Close()
	err := unix.Sendmsg(consoleFD, []byte("pty"), unix.UnixRights(int(master.Fd())), nil, 0)
	unix.Close(consoleFD)
	if err != nil {
		return fmt.Errorf("sending terminal: %w", err)
	}
	return nil
}

// recvConsole receives the pty master the init sends on sock.
func recvConsole(sock *os.File) (*os.File, error) {
	buf := make([]byte, 16)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		_, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("receiving terminal: %w", err)
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) == 0 {
			return nil, errors.New("receiving terminal: the sandbox sent none")
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			return nil, errors.New("receiving terminal: the sandbox sent none")
		}
		return os.NewFile(uintptr(fds[0]), "ptmx"), nil
	}
}

// consolePair is the socket pair a terminal step's master comes back on.
func consolePair() (host, init *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("creating terminal socket: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "console"), os.NewFile(uintptr(fds[1]), "console-init"), nil
}

// forwardSignals sends each signal of sigs to the step's process once
// started is closed (holding those that come before). It returns when
// done is closed.
func forwardSignals(initPid int, started <-chan struct{}, sigs <-chan os.Signal, done <-chan struct{}) {
	var pending []syscall.Signal
	send := func(sig syscall.Signal) {
		if pid := stepProcess(initPid); pid > 0 {
			_ = unix.Kill(pid, sig)
		}
	}
	for {
		select {
		case <-done:
			return
		case <-started:
			started = nil
			for _, sig := range pending {
				send(sig)
			}
			pending = nil
		case s := <-sigs:
			sig, ok := s.(syscall.Signal)
			switch {
			case !ok:
			case started != nil:
				pending = append(pending, sig)
			default:
				send(sig)
			}
		}
	}
}

// stepProcess is the host PID of the step's process, 0 when it is gone:
// of the init's children (any of its threads may have forked it, and
// orphans of the step are adopted), the one with the lowest PID in the
// sandbox's PID namespace, the init's first and only fork.
func stepProcess(initPid int) int {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", initPid))
	best, bestNs := 0, 0
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", initPid, t.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			if n := nsPid(pid); n > 0 && (best == 0 || n < bestNs) {
				best, bestNs = pid, n
			}
		}
	}
	return best
}

// nsPid is pid's PID in its innermost PID namespace (0 if unknown).
func nsPid(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "NSpid:"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				return 0
			}
			n, _ := strconv.Atoi(f[len(f)-1])
			return n
		}
	}
	return 0
}
