package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/registry"
	"github.com/strata-build/strata/internal/store"
)

// The layers of a push or pull, as docker shows them: on a terminal a line
// per layer rewritten in place; otherwise a line when a layer starts, one
// per retry and one when it ends, with its size and time. Both go to
// stderr, so stdout keeps only the lines tools read (`Digest: ...`).

// transferWords are the words of one direction.
type transferWords struct {
	active, done, exists string // "Pushing", "Pushed", "Layer already exists"
}

var (
	pushWords = transferWords{active: "Pushing", done: "Pushed", exists: "Layer already exists"}
	pullWords = transferWords{active: "Downloading", done: "Pull complete", exists: "Already exists"}
)

// transferClient is the registry client for a push or pull (platform as
// registryClient's) that moves jobs layers at once (0: the default) and
// shows them on stderr as mode says (auto, tty, plain, quiet); end
// finishes the display.
func (g *globals) transferClient(platform, mode string, jobs int, words transferWords) (c *registry.Client, end func(), err error) {
	p, end, err := newTransferProgress(mode, g.stdio.Err, words)
	if err != nil {
		return nil, nil, usageError{err}
	}
	c = g.registryClient(platform).WithJobs(jobs)
	if p != nil {
		c = c.WithProgress(p)
	}
	return c, end, nil
}

// newTransferProgress returns the display for mode, nil for quiet.
func newTransferProgress(mode string, w io.Writer, words transferWords) (registry.Progress, func(), error) {
	switch mode {
	case "auto", "tty", "":
		if mode == "tty" || isTerminal(w) {
			t := &ttyTransfer{w: w, words: words, now: time.Now, rows: map[v1.Hash]*transferRow{}}
			return t, sync.OnceFunc(t.Close), nil
		}
		return &plainTransfer{w: w, words: words, now: time.Now, start: map[v1.Hash]time.Time{}}, func() {}, nil
	case "plain":
		return &plainTransfer{w: w, words: words, now: time.Now, start: map[v1.Hash]time.Time{}}, func() {}, nil
	case "quiet":
		return nil, func() {}, nil
	}
	return nil, nil, fmt.Errorf("invalid --progress %q: use auto, tty, plain or quiet", mode)
}

// reportStored tells p which layers of imgs the store has already: a pull
// does not fetch them.
func reportStored(ctx context.Context, s *store.Store, p registry.Progress, imgs ...v1.Image) error {
	if p == nil {
		return nil
	}
	for _, img := range imgs {
		m, err := img.Manifest()
		if err != nil {
			return err
		}
		for _, l := range m.Layers {
			if s.HasBlob(ctx, l.Digest) {
				p.Update(registry.Event{Digest: l.Digest, Kind: registry.Exists, Size: l.Size})
			}
		}
	}
	return nil
}

// plainTransfer prints a line per layer start, retry and end.
type plainTransfer struct {
	mu    sync.Mutex
	w     io.Writer
	words transferWords
	now   func() time.Time
	start map[v1.Hash]time.Time
}

func (p *plainTransfer) Update(e registry.Event) {
	if e.Kind == registry.Transferred {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	id := shortID(e.Digest)
	switch e.Kind {
	case registry.Started:
		p.start[e.Digest] = p.now()
		fmt.Fprintf(p.w, "%s: %s %s\n", id, strings.ToLower(p.words.active), humanSize(e.Size))
	case registry.Retrying:
		fmt.Fprintf(p.w, "%s: retrying in %s (attempt %d failed: %s)\n", id, e.Wait, e.Attempt, oneLine(errString(e.Err)))
	case registry.Done:
		fmt.Fprintf(p.w, "%s: %s %s in %.1fs\n", id, strings.ToLower(p.words.done), humanSize(e.Size), p.now().Sub(p.start[e.Digest]).Seconds())
	case registry.Exists:
		fmt.Fprintf(p.w, "%s: %s\n", id, strings.ToLower(p.words.exists))
	case registry.Mounted:
		fmt.Fprintf(p.w, "%s: mounted\n", id)
	}
}

func errString(err error) string {
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

// ttyTransfer keeps a line per layer, in the order they started, and
// redraws them in place: on every change of state, and for bytes at most
// every redrawEvery.
type ttyTransfer struct {
	mu    sync.Mutex
	w     io.Writer
	words transferWords
	now   func() time.Time
	order []v1.Hash
	rows  map[v1.Hash]*transferRow
	drawn int // lines on screen
	last  time.Time
}

const redrawEvery = 100 * time.Millisecond

type transferRow struct {
	e     registry.Event // the last event but bytes
	bytes int64
	start time.Time
	took  time.Duration // start to Done
}

func (t *ttyTransfer) Update(e registry.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.rows[e.Digest]
	if r == nil {
		r = &transferRow{start: t.now()}
		t.rows[e.Digest] = r
		t.order = append(t.order, e.Digest)
	}
	if e.Kind == registry.Transferred {
		r.bytes = e.Bytes
		if r.e.Kind == registry.Retrying { // the next attempt is under way
			r.e.Kind = registry.Started
		}
		if t.now().Sub(t.last) < redrawEvery {
			return
		}
	} else {
		r.e = e
	}
	if e.Kind == registry.Done {
		r.took = t.now().Sub(r.start)
	}
	t.draw()
}

// Close draws the final state.
func (t *ttyTransfer) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.order) > 0 {
		t.draw()
	}
}

func (t *ttyTransfer) draw() {
	var b strings.Builder
	if t.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", t.drawn)
	}
	for _, d := range t.order {
		fmt.Fprintf(&b, "\r\x1b[2K%s: %s\n", shortID(d), t.status(t.rows[d]))
	}
	io.WriteString(t.w, b.String())
	t.drawn = len(t.order)
	t.last = t.now()
}

func (t *ttyTransfer) status(r *transferRow) string {
	e := r.e
	switch e.Kind {
	case registry.Started:
		return fmt.Sprintf("%-12s %s %s/%s", t.words.active, bar(r.bytes, e.Size), humanSize(r.bytes), humanSize(e.Size))
	case registry.Retrying:
		return fmt.Sprintf("Retrying in %s (attempt %d failed: %s)", e.Wait, e.Attempt, oneLine(errString(e.Err)))
	case registry.Done:
		return fmt.Sprintf("%s %s in %.1fs", t.words.done, humanSize(e.Size), r.took.Seconds())
	case registry.Exists:
		return t.words.exists
	case registry.Mounted:
		return "Mounted"
	}
	return "Waiting"
}

// bar draws done/total like docker: [=====>     ].
func bar(done, total int64) string {
	const width = 30
	if total <= 0 {
		return "[" + strings.Repeat(" ", width) + "]"
	}
	n := int(min(done, total) * width / total)
	s := strings.Repeat("=", n)
	if n < width {
		s += ">" + strings.Repeat(" ", width-n-1)
	}
	return "[" + s + "]"
}
