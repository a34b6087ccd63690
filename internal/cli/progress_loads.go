package cli

import (
	"io"
	"os"
	"path/filepath"
	"time"
)

// loads are what the CLI reads before a build starts, shown as BuildKit's
// frontend shows them: "[internal] load build definition from
// Dockerfile" with "transferring dockerfile: 1.23kB", and after the
// metadata of the base images "[internal] load .dockerignore" with
// "transferring context: 52B", each with the time the read took.
type loads struct {
	done []loaded
}

// loaded is one read: a vertex with one status.
type loaded struct {
	name, status string
	size         int64
	start, end   time.Time
	err          error
}

// dockerfile is readDockerfile, timed.
func (l *loads) dockerfile(stdin io.Reader, file, contextDir string) ([]byte, string, error) {
	start := time.Now()
	b, p, err := readDockerfile(stdin, file, contextDir)
	name := "Dockerfile"
	if p != "" {
		name = filepath.Base(p)
	} else if file != "" && file != "-" {
		name = filepath.Base(file)
	}
	l.done = append(l.done, loaded{name: "[internal] load build definition from " + name,
		status: "transferring dockerfile:", size: int64(len(b)), start: start, end: time.Now(), err: err})
	return b, p, err
}

// dockerignore is readIgnore, timed; its size is the file's that
// readIgnore reads (the Dockerfile's own, else the context's).
func (l *loads) dockerignore(dfPath, contextDir string) ([]string, error) {
	if contextDir == "" {
		return readIgnore(dfPath, contextDir)
	}
	start := time.Now()
	pats, err := readIgnore(dfPath, contextDir)
	var size int64
	for _, p := range []string{dfPath + ".dockerignore", filepath.Join(contextDir, ".dockerignore")} {
		if fi, err := os.Stat(p); err == nil {
			size = fi.Size()
			break
		}
	}
	l.done = append(l.done, loaded{name: "[internal] load .dockerignore",
		status: "transferring context:", size: size, start: start, end: time.Now(), err: err})
	return pats, err
}

// show puts the reads on p's display, with the times they happened, in
// BuildKit's order: the Dockerfile first, the .dockerignore once the base
// images' metadata is loaded (the frontend reads it then).
func (l *loads) show(p *counting) {
	t, ok := p.Progress.(*tracker)
	if !ok || len(l.done) == 0 {
		return
	}
	t.past(l.done[0])
	t.mu.Lock()
	t.held = append(t.held, l.done[1:]...)
	t.mu.Unlock()
}

// showHeld shows the reads held back.
func (t *tracker) showHeld() {
	t.mu.Lock()
	held := t.held
	t.held = nil
	t.mu.Unlock()
	for _, ld := range held {
		t.past(ld)
	}
}

// past adds a vertex that ran before the display began, from start to
// end, with its one status.
func (t *tracker) past(ld loaded) {
	v := t.startAt("", ld.name, ld.start)
	t.mu.Lock()
	s := &vtxStatus{id: ld.status, current: ld.size, started: ld.start, completed: ld.end, timestamp: ld.end}
	v.statuses = append(v.statuses, s)
	t.d.status(v, s)
	t.mu.Unlock()
	t.finishAt(v, false, ld.err, ld.end)
}
