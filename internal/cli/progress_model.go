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
	step      bool       // a Dockerfile step, which may wait (Waiting)
	stage     string     // a step's stage
	runs      []interval // when it ran: one, more when resumed or paused
	completed time.Time  // zero while running (or waiting)
	waits     int        // what the step waits on now: its timer stops
	users     int        // who work on it now: Done by each ends it
	cached    bool
	err       string
	statuses  []*vtxStatus
	warnings  []string
	partial   []byte   // an unfinished output line
	tail      []string // the last output lines
}

// interval is one run of a vertex: stop is zero while it runs.
type interval struct{ start, stop time.Time }

func (v *vtx) done() bool { return !v.completed.IsZero() }

// duration is how long v ran, so far: BuildKit's sum of its intervals.
func (v *vtx) duration(now time.Time) time.Duration {
	var d time.Duration
	for _, r := range v.runs {
		if r.stop.IsZero() {
			d += now.Sub(r.start)
		} else {
			d += r.stop.Sub(r.start)
		}
	}
	return d
}

// run is v's last interval.
func (v *vtx) run() interval { return v.runs[len(v.runs)-1] }

// stop ends v's running interval at t.
func (v *vtx) stop(t time.Time) {
	if r := &v.runs[len(v.runs)-1]; r.stop.IsZero() {
		r.stop = t
	}
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
	started(v *vtx) // also when it starts again
	paused(v *vtx)  // a step waits: its interval ended
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
	held   []loaded                   // reads shown once the base images' metadata is (loads.show)
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
	if !strings.Contains(name, "] load metadata for ") {
		t.showHeld()
	}
	return t.startAt(stage, name, time.Now())
}

// startAt is start at time now.
func (t *tracker) startAt(stage, name string, now time.Time) *vtx {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := name
	if n := t.byName[name]; n > 0 {
		key = fmt.Sprintf("%s\x00%d", name, n)
	}
	t.byName[name]++
	v := &vtx{index: len(t.vtxs) + 1, digest: godigest.FromString(key), name: name, runs: []interval{{start: now}}, users: 1}
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

func (t *tracker) finish(v *vtx, cached bool, err error) { t.finishAt(v, cached, err, time.Now()) }

// finishAt is finish at time now.
func (t *tracker) finishAt(v *vtx, cached bool, err error, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if v.done() {
		return
	}
	if v.users--; v.users > 0 { // another one's work goes on
		return
	}
	if len(v.partial) > 0 {
		line := string(v.partial)
		v.partial = nil
		v.tail = appendTail(v.tail, line)
		t.d.logged(v, nil, []string{line})
	}
	v.completed, v.cached = now, cached
	v.stop(now)
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

// resume starts the finished v again: a new interval, as BuildKit's
// progress controller sends the vertex again with a new start.
func (t *tracker) resume(v *vtx) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if v.done() {
		t.restart(v)
	}
}

// restart starts the finished v again, with one user.
func (t *tracker) restart(v *vtx) {
	v.completed, v.err, v.users = time.Time{}, "", 1
	v.runs = append(v.runs, interval{start: time.Now()})
	t.d.started(v)
}

// Step implements build.Progress.
func (t *tracker) Step(stage string, index, total int, text string) (io.Writer, func(bool, error)) {
	v := t.start(stage, build.StepName(stage, index, total, oneLine(text)))
	t.mu.Lock()
	v.step, v.stage = true, stage
	t.mu.Unlock()
	return &vtxLog{t: t, v: v}, func(cached bool, err error) { t.finish(v, cached, err) }
}

// Waiting implements build.VertexProgress: the running step of stage
// stops its timer (its interval ends, as a SolveStatus shows it) until
// resume starts a new one.
func (t *tracker) Waiting(stage string) (resume func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var v *vtx
	for _, x := range t.vtxs {
		if x.step && x.stage == stage && !x.done() {
			v = x
		}
	}
	if v == nil {
		return func() {}
	}
	if v.waits++; v.waits == 1 {
		v.stop(time.Now())
		t.d.paused(v)
	}
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if v.waits--; v.waits == 0 && !v.done() {
			v.runs = append(v.runs, interval{start: time.Now()})
			t.d.started(v)
		}
	}
}

// Vertex implements build.VertexProgress.
//
// An internal vertex ("[internal] load build context") named as an
// earlier one is that one, started again if it finished: in BuildKit the
// same source is the same vertex (its digest is its definition's).
func (t *tracker) Vertex(name string) build.Vertex {
	inner, stage := vertexStage(name)
	if inner == "internal" || strings.HasSuffix(inner, " internal") {
		if v := t.again(name); v != nil {
			return &trackedVertex{t: t, v: v}
		}
	}
	return &trackedVertex{t: t, v: t.start(stage, name)}
}

// again is the last vertex named name, started again if it finished, with
// one more user, or nil.
func (t *tracker) again(name string) *vtx {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := len(t.vtxs) - 1; i >= 0; i-- {
		if v := t.vtxs[i]; v.name == name {
			if v.done() {
				t.restart(v)
			} else {
				v.users++
			}
			return v
		}
	}
	return nil
}

// vertexStage is what a vertex's name has in brackets, and the stage
// there: "builder" of "[builder 1/5] FROM …", "linux/arm64 builder" of
// "[linux/arm64 builder 1/5] …", "" of "[1/3] …" or "[internal] …".
func vertexStage(name string) (inner, stage string) {
	rest, ok := strings.CutPrefix(name, "[")
	if !ok {
		return "", ""
	}
	inner, _, _ = strings.Cut(rest, "]")
	if i := strings.LastIndexByte(inner, ' '); i > 0 && !strings.HasSuffix(inner, " internal") {
		stage = inner[:i]
	}
	return inner, stage
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
	switch {
	case s == nil:
		s = &vtxStatus{id: id, started: now}
		tv.v.statuses = append(tv.v.statuses, s)
	case !s.completed.IsZero() && !completed: // the same work again (a vertex run again)
		s.started, s.completed = now, time.Time{}
	}
	s.current, s.total, s.timestamp = current, total, now
	if completed && s.completed.IsZero() {
		s.completed = now
	}
	t.d.status(tv.v, s)
}

// Done implements build.Vertex.
func (tv *trackedVertex) Done(cached bool, err error) { tv.t.finish(tv.v, cached, err) }

// Resume implements build.Vertex.
func (tv *trackedVertex) Resume() { tv.t.resume(tv.v) }

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

// Waiting implements build.VertexProgress when the wrapped Progress does.
func (c *counting) Waiting(stage string) func() {
	if vp, ok := c.Progress.(build.VertexProgress); ok {
		return vp.Waiting(stage)
	}
	return func() {}
}

type discardVertex struct{}

func (discardVertex) Status(string, int64, int64, bool) {}
func (discardVertex) Done(bool, error)                  {}
func (discardVertex) Resume()                           {}
