package cli

import (
	"errors"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// terminal connects strata's stdio to a container's pseudo-terminal
// (run -t): output copied out, input copied in with -i (strata's own
// terminal in raw mode meanwhile, so keys like ^C reach the container's
// line discipline), the window size passed on and kept up on SIGWINCH.
type terminal struct {
	stdio       Stdio
	interactive bool
	in          *os.File      // stdin, when a terminal
	saved       *unix.Termios // stdin's mode before raw
	master      *os.File
	winch       chan os.Signal
	done        chan struct{}
}

// newTerminal prepares the terminal of a run; with -i, stdin must be a
// terminal, as docker requires.
func newTerminal(stdio Stdio, interactive bool) (*terminal, error) {
	t := &terminal{stdio: stdio, interactive: interactive}
	if f, ok := stdio.In.(*os.File); ok && ttyFile(f) {
		t.in = f
	}
	if !interactive {
		return t, nil
	}
	if t.in == nil {
		return nil, usageError{errors.New("the input device is not a TTY: drop -t, or -i, when stdin is not a terminal")}
	}
	saved, err := unix.IoctlGetTermios(int(t.in.Fd()), unix.TCGETS)
	if err != nil {
		return nil, err
	}
	raw := *saved
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(int(t.in.Fd()), unix.TCSETS, &raw); err != nil {
		return nil, err
	}
	t.saved = saved
	return t, nil
}

// ttyFile reports whether f is a terminal.
func ttyFile(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// attach starts copying between strata's stdio and the container's
// terminal master (sandbox.Step.Console).
func (t *terminal) attach(master *os.File) {
	t.master = master
	t.done = make(chan struct{})
	t.resize()
	t.winch = make(chan os.Signal, 1)
	signal.Notify(t.winch, syscall.SIGWINCH)
	go func() {
		for range t.winch {
			t.resize()
		}
	}()
	if t.interactive && t.stdio.In != nil {
		go func() { _, _ = io.Copy(master, t.stdio.In) }()
	}
	go func() {
		defer close(t.done)
		// Ends with EIO once the container's last process closed it.
		_, _ = io.Copy(t.stdio.Out, master)
	}()
}

// resize gives the container's terminal strata's window size: stdout's,
// else stdin's.
func (t *terminal) resize() {
	for _, s := range []any{t.stdio.Out, t.stdio.In} {
		f, ok := s.(*os.File)
		if !ok {
			continue
		}
		ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
		if err != nil {
			continue
		}
		_ = unix.IoctlSetWinsize(int(t.master.Fd()), unix.TIOCSWINSZ, ws)
		return
	}
}

// wait waits for the container's output to be copied out.
func (t *terminal) wait() {
	if t.master == nil {
		return
	}
	<-t.done
	signal.Stop(t.winch)
	close(t.winch)
	t.master.Close()
}

// restore puts strata's terminal back in the mode it had.
func (t *terminal) restore() {
	if t.saved != nil {
		_ = unix.IoctlSetTermios(int(t.in.Fd()), unix.TCSETS, t.saved)
	}
}
