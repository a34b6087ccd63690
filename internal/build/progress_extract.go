package build

import (
	"os"
	"path/filepath"
	"slices"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/store"
)

// extraction shows a base image's layers being extracted as BuildKit's
// cache refs show it (cache/refs.go): a status "extracting sha256:<blob
// digest>" per layer on the image's FROM vertex, which starts again for
// it, since strata, like BuildKit, extracts a base only when a step first
// needs its files.
type extraction struct {
	v    Vertex
	wait func(stage string) (resume func())

	mu     sync.Mutex
	active int // stack calls extracting now: the vertex runs while > 0
	err    error
}

// acquire starts the vertex again unless it runs.
func (e *extraction) acquire() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.active == 0 {
		e.v.Resume()
		e.err = nil
	}
	e.active++
}

// release ends the vertex when nothing extracts any more.
func (e *extraction) release(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err == nil {
		e.err = err
	}
	e.active--
	if e.active == 0 {
		e.v.Done(false, e.err)
	}
}

// extracting is one stack call's extractions: the FROM vertices started
// again for them and the step that waits meanwhile, all ended together.
type extracting struct {
	stage  string
	held   []*extraction
	resume func()
}

// layer shows l's extraction starting on e, and returns its end.
func (x *extracting) layer(e *extraction, l v1.Layer) (done func(error)) {
	if !slices.Contains(x.held, e) {
		if x.resume == nil {
			x.resume = e.wait(x.stage)
		}
		e.acquire()
		x.held = append(x.held, e)
	}
	id := "extracting "
	if h, err := l.Digest(); err == nil {
		id += h.String()
	}
	e.v.Status(id, 0, 0, false)
	return func(error) { e.v.Status(id, 0, 0, true) }
}

// end ends the FROM vertices and lets the step go on.
func (x *extracting) end(err error) {
	for _, e := range x.held {
		e.release(err)
	}
	if x.resume != nil {
		x.resume()
	}
}

// layerExtracted says whether the store holds l's extracted directory
// (ROOT/layers/<diff ID hex>, see store.LayerDir), so that a layer
// found there is not shown as extracted.
func layerExtracted(st *store.Store, l v1.Layer) bool {
	diffID, err := l.DiffID()
	if err != nil {
		return false
	}
	_, err = os.Lstat(filepath.Join(st.Root(), "layers", diffID.Hex))
	return err == nil
}
