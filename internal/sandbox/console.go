package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strconv"
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

// forwardSignals sends each signal of sigs to the step's process (the
// init, once it has executed the step: PID 1 of the namespace, which, as
// under Docker, ignores those it has no handler for) once started is
// closed (holding those that come before). It returns when done is closed.
func forwardSignals(pid int, started <-chan struct{}, sigs <-chan os.Signal, done <-chan struct{}) {
	var pending []syscall.Signal
	send := func(sig syscall.Signal) { _ = unix.Kill(pid, sig) }
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
