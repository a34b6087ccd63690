package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/strata-build/strata/internal/build"
)

// ttyProgress is the live view of --progress=auto on a terminal: every step
// with its timer or CACHED mark, and the last output lines of running steps,
// redrawn in place like BuildKit's.
type ttyProgress struct {
	mu      sync.Mutex
	w       io.Writer
	steps   []*ttyStep
	drawn   int // lines drawn last time, to move back over
	start   time.Time
	stop    chan struct{}
	stopped chan struct{}
	width   int
}

type ttyStep struct {
	label   string
	start   time.Time
	took    time.Duration
	done    bool
	cached  bool
	failed  bool
	tail    []string
	partial string
}

var _ build.Progress = (*ttyProgress)(nil)

func newTTYProgress(w io.Writer) *ttyProgress {
	p := &ttyProgress{w: w, start: time.Now(), stop: make(chan struct{}), stopped: make(chan struct{}), width: 120}
	go p.loop()
	return p
}

func (p *ttyProgress) loop() {
	defer close(p.stopped)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			p.draw()
		case <-p.stop:
			p.draw()
			return
		}
	}
}

// Close stops the redraws after a final one.
func (p *ttyProgress) Close() {
	close(p.stop)
	<-p.stopped
}

func (p *ttyProgress) Step(stage string, index, total int, text string) (io.Writer, func(bool, error)) {
	s := &ttyStep{label: fmt.Sprintf("[%s %d/%d] %s", stage, index, total, oneLine(text)), start: time.Now()}
	p.mu.Lock()
	p.steps = append(p.steps, s)
	p.mu.Unlock()
	return &ttyLog{p: p, s: s}, func(cached bool, err error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		s.done, s.cached, s.failed, s.took = true, cached, err != nil, time.Since(s.start)
	}
}

func (p *ttyProgress) Warn(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.steps = append(p.steps, &ttyStep{label: "WARNING: " + msg, done: true})
}

// ttyLog keeps the last lines a step printed.
type ttyLog struct {
	p *ttyProgress
	s *ttyStep
}

func (l *ttyLog) Write(b []byte) (int, error) {
	l.p.mu.Lock()
	defer l.p.mu.Unlock()
	text := l.s.partial + string(b)
	lines := strings.Split(text, "\n")
	l.s.partial = lines[len(lines)-1]
	l.s.tail = append(l.s.tail, lines[:len(lines)-1]...)
	if len(l.s.tail) > 6 {
		l.s.tail = l.s.tail[len(l.s.tail)-6:]
	}
	return len(b), nil
}

func (p *ttyProgress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	lines := []string{fmt.Sprintf("[+] Building %.1fs", time.Since(p.start).Seconds())}
	for _, s := range p.steps {
		lines = append(lines, p.stepLines(s)...)
	}
	for _, l := range lines {
		if len(l) > p.width {
			l = l[:p.width-3] + "..."
		}
		b.WriteString("\x1b[2K" + l + "\n")
	}
	for i := len(lines); i < p.drawn; i++ {
		b.WriteString("\x1b[2K\n")
	}
	if len(lines) < p.drawn {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn-len(lines))
	}
	p.drawn = len(lines)
	io.WriteString(p.w, b.String())
}

func (p *ttyProgress) stepLines(s *ttyStep) []string {
	switch {
	case s.cached:
		return []string{" => CACHED " + s.label}
	case s.failed:
		out := []string{fmt.Sprintf(" => ERROR %s  %.1fs", s.label, s.took.Seconds())}
		for _, l := range s.tail {
			out = append(out, " > "+l)
		}
		return out
	case s.done:
		return []string{fmt.Sprintf(" => %s  %.1fs", s.label, s.took.Seconds())}
	}
	out := []string{fmt.Sprintf(" => %s  %.1fs", s.label, time.Since(s.start).Seconds())}
	for _, l := range s.tail {
		out = append(out, " => > "+l)
	}
	return out
}

// jsonProgress writes one JSON event per line (--progress=rawjson).
type jsonProgress struct {
	mu  sync.Mutex
	enc *json.Encoder
	n   int
}

var _ build.Progress = (*jsonProgress)(nil)

type jsonEvent struct {
	Type     string  `json:"type"`
	ID       int     `json:"id,omitempty"`
	Stage    string  `json:"stage,omitempty"`
	Index    int     `json:"index,omitempty"`
	Total    int     `json:"total,omitempty"`
	Text     string  `json:"text,omitempty"`
	Status   string  `json:"status,omitempty"`
	Seconds  float64 `json:"seconds,omitempty"`
	Data     string  `json:"data,omitempty"`
	Error    string  `json:"error,omitempty"`
	Unixtime float64 `json:"time"`
}

func (p *jsonProgress) emit(e jsonEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e.Unixtime = float64(time.Now().UnixNano()) / 1e9
	p.enc.Encode(e)
}

func (p *jsonProgress) Step(stage string, index, total int, text string) (io.Writer, func(bool, error)) {
	p.mu.Lock()
	p.n++
	id := p.n
	p.mu.Unlock()
	start := time.Now()
	p.emit(jsonEvent{Type: "step", ID: id, Stage: stage, Index: index, Total: total, Text: text, Status: "started"})
	return writerFunc(func(b []byte) (int, error) {
			p.emit(jsonEvent{Type: "log", ID: id, Data: string(b)})
			return len(b), nil
		}), func(cached bool, err error) {
			e := jsonEvent{Type: "step", ID: id, Status: "done", Seconds: time.Since(start).Seconds()}
			switch {
			case err != nil:
				e.Status, e.Error = "error", err.Error()
			case cached:
				e.Status = "cached"
			}
			p.emit(e)
		}
}

func (p *jsonProgress) Warn(msg string) { p.emit(jsonEvent{Type: "warning", Text: msg}) }

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// counting wraps a Progress and counts the steps that make layers (RUN,
// COPY, ADD, WORKDIR) run and cached, for the summary.
type counting struct {
	build.Progress
	mu          sync.Mutex
	ran, cached int
}

var _ build.Progress = (*counting)(nil)

func (c *counting) Step(stage string, index, total int, text string) (io.Writer, func(bool, error)) {
	out, done := c.Progress.Step(stage, index, total, text)
	word, _, _ := strings.Cut(strings.TrimSpace(text), " ")
	switch strings.ToUpper(word) {
	case "RUN", "COPY", "ADD", "WORKDIR":
	default:
		return out, done
	}
	return out, func(cached bool, err error) {
		c.mu.Lock()
		if cached {
			c.cached++
		} else {
			c.ran++
		}
		c.mu.Unlock()
		done(cached, err)
	}
}
