package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	godigest "github.com/opencontainers/go-digest"

	"github.com/strata-build/strata/internal/build"
)

// vtx is one vertex of the build as BuildKit's SolveStatus has it: a
// Dockerfile step, a base image's metadata or pull, the export.
type vtx struct {
	index     int // from 1, in the order vertices start (plain's #n)
	digest    godigest.Digest
	inputs    []godigest.Digest
	name      string
	started   time.Time
	completed time.Time // zero while running
	cached    bool
	err       string
	statuses  []*vtxStatus
	warnings  []string
	partial   []byte   // an unfinished output line
	tail      []string // the last output lines
}

func (v *vtx) done() bool { return !v.completed.IsZero() }

// duration is how long v ran, so far.
func (v *vtx) duration(now time.Time) time.Duration {
	if v.done() {
		return v.completed.Sub(v.started)
	}
	return now.Sub(v.started)
}

// vtxStatus is a part of a vertex's work: a layer download.
type vtxStatus struct {
	id                 string
	current, total     int64
	started, completed time.Time
	timestamp          time.Time
}

// display shows what a tracker records. Its methods are called with the
// tracker's lock held.
type display interface {
	started(v *vtx)
	logged(v *vtx, data []byte, lines []string)
	status(v *vtx, s *vtxStatus)
	finished(v *vtx)
	warned(v *vtx, msg string)
}

// tracker turns the build's progress events into vertices, statuses,
// logs and warnings, and tells a display.
type tracker struct {
	mu     sync.Mutex
	d      display
	vtxs   []*vtx
	byName map[string]int
	last   map[string]godigest.Digest // the last vertex of each stage, the next one's input
}

var (
	_ build.Progress       = (*tracker)(nil)
	_ build.VertexProgress = (*tracker)(nil)
)

func newTracker(d display) *tracker {
	return &tracker{d: d, byName: map[string]int{}, last: map[string]godigest.Digest{}}
}

// start adds a vertex; its digest is the digest of its name (a name seen
// before gets its ordinal appended first).
func (t *tracker) start(stage, name string) *vtx {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := name
	if n := t.byName[name]; n > 0 {
		key = fmt.Sprintf("%s\x00%d", name, n)
	}
	t.byName[name]++
	v := &vtx{index: len(t.vtxs) + 1, digest: godigest.FromString(key), name: name, started: time.Now()}
	if stage != "" {
		if in, ok := t.last[stage]; ok {
			v.inputs = []godigest.Digest{in}
		}
		t.last[stage] = v.digest
	}
	t.vtxs = append(t.vtxs, v)
	t.d.started(v)
	return v
}

func (t *tracker) finish(v *vtx, cached bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if v.done() {
		return
	}
	if len(v.partial) > 0 {
		line := string(v.partial)
		v.partial = nil
		v.tail = appendTail(v.tail, line)
		t.d.logged(v, nil, []string{line})
	}
	v.completed, v.cached = time.Now(), cached
	if err != nil {
		v.err = err.Error()
	}
	for _, s := range v.statuses {
		if s.completed.IsZero() {
			s.completed = v.completed
		}
	}
	t.d.finished(v)
}

// Step implements build.Progress.
func (t *tracker) Step(stage string, index, total int, text string) (io.Writer, func(bool, error)) {
	v := t.start(stage, build.StepName(stage, index, total, oneLine(text)))
	return &vtxLog{t: t, v: v}, func(cached bool, err error) { t.finish(v, cached, err) }
}

// Vertex implements build.VertexProgress.
func (t *tracker) Vertex(name string) build.Vertex {
	stage := ""
	if strings.HasPrefix(name, "[") && !strings.HasPrefix(name, "[internal]") {
		stage, _, _ = strings.Cut(strings.TrimPrefix(name, "["), " ")
	}
	return &trackedVertex{t: t, v: t.start(stage, name)}
}

// Warn implements build.Progress: a warning of no vertex.
func (t *tracker) Warn(msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.d.warned(nil, msg)
}

// trackedVertex is a build.Vertex of a tracker.
type trackedVertex struct {
	t *tracker
	v *vtx
}

// Status implements build.Vertex.
func (tv *trackedVertex) Status(id string, current, total int64, completed bool) {
	t := tv.t
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	var s *vtxStatus
	for _, x := range tv.v.statuses {
		if x.id == id {
			s = x
		}
	}
	if s == nil {
		s = &vtxStatus{id: id, started: now}
		tv.v.statuses = append(tv.v.statuses, s)
	}
	s.current, s.total, s.timestamp = current, total, now
	if completed && s.completed.IsZero() {
		s.completed = now
	}
	t.d.status(tv.v, s)
}

// Done implements build.Vertex.
func (tv *trackedVertex) Done(cached bool, err error) { tv.t.finish(tv.v, cached, err) }

// vtxLog is a step's output: whole lines go to the display.
type vtxLog struct {
	t *tracker
	v *vtx
}

func (l *vtxLog) Write(b []byte) (int, error) {
	t := l.t
	t.mu.Lock()
	defer t.mu.Unlock()
	buf := append(l.v.partial, b...)
	var lines []string
	for {
		i := strings.IndexByte(string(buf), '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSuffix(string(buf[:i]), "\r")
		lines = append(lines, line)
		l.v.tail = appendTail(l.v.tail, line)
		buf = buf[i+1:]
	}
	l.v.partial = append([]byte(nil), buf...)
	t.d.logged(l.v, b, lines)
	return len(b), nil
}

// keptLines is how many last output lines a vertex keeps: the tty shows
// ttyLogLines of a running step, and all kept of a failed one.
const keptLines = 30

// appendTail keeps the last keptLines lines.
func appendTail(tail []string, line string) []string {
	tail = append(tail, line)
	if len(tail) > keptLines {
		tail = tail[len(tail)-keptLines:]
	}
	return tail
}

// counting wraps a Progress and counts the steps that make layers (RUN,
// COPY, ADD, WORKDIR) run and cached, for the summary.
type counting struct {
	build.Progress
	mu          sync.Mutex
	ran, cached int
}

var (
	_ build.Progress       = (*counting)(nil)
	_ build.VertexProgress = (*counting)(nil)
)

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

// Vertex implements build.VertexProgress when the wrapped Progress does.
func (c *counting) Vertex(name string) build.Vertex {
	if vp, ok := c.Progress.(build.VertexProgress); ok {
		return vp.Vertex(name)
	}
	return discardVertex{}
}

type discardVertex struct{}

func (discardVertex) Status(string, int64, int64, bool) {}
func (discardVertex) Done(bool, error)                  {}
