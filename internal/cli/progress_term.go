package cli

import (
	"io"

	"golang.org/x/sys/unix"
)

// outputTerm reads the size of the terminal a display writes to.
type outputTerm struct {
	fd int // -1: not a terminal
}

func terminalOf(w io.Writer) outputTerm {
	if f, ok := w.(interface{ Fd() uintptr }); ok && isTerminal(w) {
		return outputTerm{fd: int(f.Fd())}
	}
	return outputTerm{fd: -1}
}

// size is the terminal's columns and rows (TIOCGWINSZ), or BuildKit's
// 80×10 when they cannot be read.
func (t outputTerm) size() (width, height int) {
	if t.fd >= 0 {
		ws, err := unix.IoctlGetWinsize(t.fd, unix.TIOCGWINSZ)
		if err == nil && ws.Col > 0 && ws.Row > 0 {
			return int(ws.Col), int(ws.Row)
		}
	}
	return 80, 10
}
