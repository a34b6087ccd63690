package build

import (
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/registry"
)

// VertexProgress is an optional extension of Progress for the work of a
// build that is not a Dockerfile instruction, shown by BuildKit as
// vertices of their own: resolving a base image ("[internal] load
// metadata for docker.io/library/golang:1.26"), fetching it ("[builder
// 1/5] FROM docker.io/library/golang:1.26@sha256:…") with a status per
// layer, exporting. A Progress without it is told nothing of this.
type VertexProgress interface {
	// Vertex starts a piece of work named as BuildKit names it.
	Vertex(name string) Vertex
	// Waiting says the running step of stage waits for work shown on
	// another vertex (its base's layers extracted, under the FROM): the
	// step's timer stops until resume is called.
	Waiting(stage string) (resume func())
}

// Vertex is one piece of work in progress.
type Vertex interface {
	// Status reports a part of the work (a layer download, by digest):
	// current of total bytes (total 0: unknown), completed at the end.
	Status(id string, current, total int64, completed bool)
	// Done ends the vertex: cached when nothing had to be done.
	Done(cached bool, err error)
	// Resume starts a finished vertex again for more of its work (a
	// base's layers extracted when a step first needs them), as
	// BuildKit's progress controller restarts a vertex; Done ends it.
	Resume()
}

// vertex starts a vertex on the build's progress, or a no-op one.
func (r *run) vertex(name string) Vertex {
	if vp, ok := r.opts.Progress.(VertexProgress); ok {
		return vp.Vertex(name)
	}
	return noVertex{}
}

// waiting stops the timer of stage's running step until resume is called.
func (r *run) waiting(stage string) (resume func()) {
	if vp, ok := r.opts.Progress.(VertexProgress); ok {
		return vp.Waiting(stage)
	}
	return func() {}
}

type noVertex struct{}

func (noVertex) Status(string, int64, int64, bool) {}
func (noVertex) Done(bool, error)                  {}
func (noVertex) Resume()                           {}

// layerStatus reports a pull's layer events to a vertex as statuses
// "sha256:…" with bytes; it remembers whether anything moved.
type layerStatus struct {
	mu sync.Mutex
	v  Vertex
}

// attach sends the events from now on to v.
func (l *layerStatus) attach(v Vertex) {
	l.mu.Lock()
	l.v = v
	l.mu.Unlock()
}

var _ registry.Progress = (*layerStatus)(nil)

// Update implements registry.Progress.
func (l *layerStatus) Update(e registry.Event) {
	l.mu.Lock()
	v := l.v
	l.mu.Unlock()
	if v == nil {
		return
	}
	switch e.Kind {
	case registry.Started:
		v.Status(e.Digest.String(), 0, e.Size, false)
	case registry.Transferred:
		v.Status(e.Digest.String(), e.Bytes, e.Size, false)
	case registry.Done, registry.Exists, registry.Mounted:
		v.Status(e.Digest.String(), e.Size, e.Size, true)
	}
}

// stageFrom is a stage's FROM vertex: how it is named for the image
// reference "ref@digest" whose config has onbuild ONBUILD triggers (nil:
// a --from image's "FROM ref@digest"), and, once started, the vertex (its
// layers are shown extracted on it later).
type stageFrom struct {
	name func(ref string, onbuild int) string
	v    Vertex
}

// fromVertex starts the vertex of fetching img, a stage's FROM, or
// "FROM ref@digest" for an image a --from names (no from.name).
func (r *run) fromVertex(from *stageFrom, ref string, img v1.Image) Vertex {
	name := canonicalRef(ref)
	if h, err := img.Digest(); err == nil && !strings.Contains(name, "@") {
		name += "@" + h.String()
	}
	if from.name == nil {
		from.v = r.vertex("FROM " + name)
		return from.v
	}
	onbuild := 0
	if cfg, err := img.ConfigFile(); err == nil {
		onbuild = len(cfg.Config.OnBuild)
	}
	from.v = r.vertex(from.name(name, onbuild))
	return from.v
}

// canonicalRef is ref as BuildKit shows it: docker.io/library/golang:1.26.
func canonicalRef(ref string) string {
	r, err := name.ParseReference(ref)
	if err != nil {
		return ref
	}
	s := r.Name()
	if rest, ok := strings.CutPrefix(s, name.DefaultRegistry+"/"); ok {
		return "docker.io/" + rest
	}
	return s
}

// fromVertexName is BuildKit's name of a stage's FROM: "[builder 1/5]
// FROM docker.io/library/golang:1.26@sha256:…" (steps count from 2).
func fromVertexName(stage string, total int, ref string) string {
	return StepName(stage, 1, total, "FROM "+ref)
}

// exported ends the "exporting to image" vertex with BuildKit's statuses:
// "writing image sha256:…" per platform and "naming to …" per name.
func exported(v Vertex, platforms []PlatformResult, names []string) {
	for _, p := range platforms {
		v.Status("writing image "+p.Digest.String(), 0, 0, true)
	}
	for _, n := range names {
		v.Status("naming to "+canonicalRef(n), 0, 0, true)
	}
	v.Done(false, nil)
}

// internalPrefix is BuildKit's "[internal]" of a vertex for platform:
// "[linux/arm64 internal]" when the build has several platforms.
func (r *run) internalPrefix(platform string) string {
	if r.label == "" {
		return "[internal]"
	}
	return "[" + platform + " internal]"
}
