package cli

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ttyLogLines is how many output lines of a running step the tty shows
// (BuildKit's BUILDKIT_TTY_LOG_LINES default).
const ttyLogLines = 6

// BuildKit's colours (progressui/init.go): a finished vertex blue, an
// error red, a warning or cancelled one yellow, log lines faint.
const (
	colorRun     = "\x1b[34m"
	colorError   = "\x1b[31m"
	colorWarning = "\x1b[33m"
	faint        = "\x1b[2m"
	colorReset   = "\x1b[0m"
)

// ttyDisplay is the live view of --progress=auto on a terminal, as
// BuildKit's progressui draws it:
//
//	[+] Building 12.3s (5/9)
//	 => [internal] load metadata for docker.io/library/golang:1.26   0.1s
//	 => CACHED [builder 1/5] FROM docker.io/library/golang:1.26@sha…  0.0s
//	 => [builder 2/5] RUN go build ./...                              4.2s
//	 => => # go: downloading example.com/x v1.0.0
//
// Lines fit the terminal's width (read on every redraw and on SIGWINCH),
// keeping the timer on the right; a redraw moves up over exactly the rows
// the last one used and erases them.
type ttyDisplay struct {
	tracker *tracker
	w       io.Writer
	term    outputTerm
	color   bool
	start   time.Time

	// guarded by tracker.mu
	lens    []int // the visible length of each line the last redraw drew
	closed  bool
	globals []string // warnings of no vertex

	stop, stopped chan struct{}
	winch         chan os.Signal
}

var _ display = (*ttyDisplay)(nil)

func newTTYDisplay(w io.Writer) *ttyDisplay {
	d := &ttyDisplay{
		w: w, term: terminalOf(w), start: time.Now(),
		color: os.Getenv("NO_COLOR") == "",
		stop:  make(chan struct{}), stopped: make(chan struct{}),
		winch: make(chan os.Signal, 1),
	}
	d.tracker = newTracker(d)
	signal.Notify(d.winch, unix.SIGWINCH)
	go d.loop()
	return d
}

func (d *ttyDisplay) loop() {
	defer close(d.stopped)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-d.winch:
		case <-d.stop:
			return
		}
		d.tracker.mu.Lock()
		d.draw(false)
		d.tracker.mu.Unlock()
	}
}

// close stops the redraws after a final one showing every vertex, then
// prints the logs of failed steps as BuildKit does.
func (d *ttyDisplay) close() {
	close(d.stop)
	<-d.stopped
	signal.Stop(d.winch)
	d.tracker.showHeld()
	d.tracker.mu.Lock()
	defer d.tracker.mu.Unlock()
	d.draw(true)
	d.closed = true
	printErrorLogs(d.w, d.tracker.vtxs)
	for _, msg := range d.globals {
		fmt.Fprintf(d.w, "WARNING: %s\n", msg)
	}
}

func (d *ttyDisplay) started(*vtx)                  {}
func (d *ttyDisplay) paused(*vtx)                   {}
func (d *ttyDisplay) logged(*vtx, []byte, []string) {}
func (d *ttyDisplay) status(*vtx, *vtxStatus)       {}
func (d *ttyDisplay) finished(*vtx)                 {}

func (d *ttyDisplay) warned(v *vtx, msg string) {
	switch {
	case v != nil:
		v.warnings = append(v.warnings, msg)
	case d.closed:
		fmt.Fprintf(d.w, "WARNING: %s\n", msg)
	default:
		d.globals = append(d.globals, msg)
	}
}

// draw redraws the view; all shows every line (the final draw), else the
// view keeps within the terminal's height.
func (d *ttyDisplay) draw(all bool) {
	width, height := d.term.size()
	var b strings.Builder
	b.WriteString("\x1b[?25l") // hide the cursor while drawing
	old := d.rowsAt(width)
	if old > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", old)
	}
	b.WriteString("\r")
	lines := d.lines(width, time.Now(), all)
	if !all && len(lines) > height-1 {
		lines = fitHeight(lines, height-1)
	}
	d.lens = d.lens[:0]
	for _, l := range lines {
		b.WriteString("\x1b[2K")
		if d.color && l.color != "" {
			b.WriteString(l.color + l.text + colorReset)
		} else {
			b.WriteString(l.text)
		}
		b.WriteString("\n")
		d.lens = append(d.lens, len([]rune(l.text)))
	}
	// Erase the rows of the last draw below this one, line by line (an
	// erase to the end of the screen from its top would push the screen
	// into tmux's history), without scrolling.
	if extra := old - len(lines); extra > 0 {
		for i := range extra {
			b.WriteString("\x1b[2K")
			if i < extra-1 {
				b.WriteString("\x1b[1B")
			}
		}
		if extra > 1 {
			fmt.Fprintf(&b, "\x1b[%dA", extra-1)
		}
		b.WriteString("\r")
	}
	b.WriteString("\x1b[?25h")
	io.WriteString(d.w, b.String())
}

// rowsAt is how many rows the last draw takes at width: a terminal that
// narrowed since has wrapped its longer lines.
func (d *ttyDisplay) rowsAt(width int) int {
	rows := 0
	for _, n := range d.lens {
		rows++
		if n > width && width > 0 {
			rows += (n - 1) / width
		}
	}
	return rows
}

// ttyLine is one line of the view: text fitting the width, and its colour.
type ttyLine struct {
	text, color string
	done        bool // a finished vertex's line (the first to go when short of rows)
}

// fitHeight keeps n lines: finished vertices' lines go first, from the top,
// then the oldest of the rest; the header stays.
func fitHeight(lines []ttyLine, n int) []ttyLine {
	if n < 1 {
		return lines[:1]
	}
	drop := len(lines) - n
	out := []ttyLine{lines[0]}
	for _, l := range lines[1:] {
		if drop > 0 && l.done {
			drop--
			continue
		}
		out = append(out, l)
	}
	if len(out) > n {
		out = append(out[:1], out[len(out)-n+1:]...)
	}
	return out
}
