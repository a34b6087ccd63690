package build

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-build/strata/internal/rootfs"
	"github.com/strata-build/strata/internal/store"
)

// state is a stage's state between instructions. It is a value: dispatchers
// take a clone and change that, so earlier states stay valid.
type state struct {
	// img is the image config being built, with history.
	img dockerspec.DockerOCIImage
	// layers are every layer of the image, base layers first.
	layers []*layerRef
	// env is the environment instructions see (BuildKit's state env): the
	// image's Env plus ARG values in scope.
	env []string
	// args are the ARGs declared in this stage (and inherited from a parent stage).
	args []string
	// cmdSet says CMD was set in this stage (ENTRYPOINT then keeps it).
	cmdSet bool
	// workdirSet says WORKDIR was set in this stage.
	workdirSet bool
	// escape is the Dockerfile's escape token.
	escape rune
	// key is the build-cache key of this state: everything that made it.
	key v1.Hash
	// stage is the stage whose steps use this state, as progress names
	// it: the step that waits when its layers are extracted.
	stage string
}

// layerRef is one layer of a state: a blob in the store and, once needed,
// its extracted overlay-format directory.
type layerRef struct {
	layer v1.Layer
	// source is what made the layer in this build ("Dockerfile:12 RUN
	// apt-get install ..."); "" for a base image's layers.
	source string
	// shown reports the layer's extraction (a base image's layer, on
	// its stage's FROM vertex); nil: not shown.
	shown *extraction
	once  sync.Once
	dir   string
	err   error
}

// dirIn returns the layer's extracted directory, extracting it once; an
// extraction is shown on x.
func (l *layerRef) dirIn(ctx context.Context, st *store.Store, x *extracting) (string, error) {
	l.once.Do(func() {
		if l.dir != "" {
			return
		}
		if l.shown != nil && !layerExtracted(st, l.layer) {
			done := x.layer(l.shown, l.layer)
			defer func() { done(l.err) }()
		}
		l.dir, l.err = st.LayerDir(ctx, l.layer)
	})
	return l.dir, l.err
}

// newLayerRef wraps a layer whose directory is already known.
func newLayerRef(l v1.Layer, dir string) *layerRef {
	r := &layerRef{layer: l, dir: dir}
	r.once.Do(func() {})
	return r
}

func (s *state) clone() *state {
	c := *s
	c.img.Config.Env = slices.Clone(s.img.Config.Env)
	c.img.Config.Cmd = slices.Clone(s.img.Config.Cmd)
	c.img.Config.Entrypoint = slices.Clone(s.img.Config.Entrypoint)
	c.img.Config.Labels = maps.Clone(s.img.Config.Labels)
	c.img.Config.ExposedPorts = maps.Clone(s.img.Config.ExposedPorts)
	c.img.Config.Volumes = maps.Clone(s.img.Config.Volumes)
	c.img.Config.OnBuild = slices.Clone(s.img.Config.OnBuild)
	c.img.Config.Shell = slices.Clone(s.img.Config.Shell)
	if s.img.Config.Healthcheck != nil {
		h := *s.img.Config.Healthcheck
		h.Test = slices.Clone(h.Test)
		c.img.Config.Healthcheck = &h
	}
	c.img.History = slices.Clone(s.img.History)
	c.img.RootFS.DiffIDs = slices.Clone(s.img.RootFS.DiffIDs)
	c.layers = slices.Clone(s.layers)
	c.env = slices.Clone(s.env)
	c.args = slices.Clone(s.args)
	return &c
}

// stack returns the state's filesystem as a rootfs.Stack, extracting the
// layers not extracted yet (shown under their FROM while the step waits).
func (s *state) stack(ctx context.Context, st *store.Store) (_ rootfs.Stack, err error) {
	if ctx.Value(cachedOnlyKey{}) != nil {
		// Reached from a step's execution, which a CachedOnly build does
		// not start: a guard for what might reach it otherwise.
		return rootfs.Stack{}, fmt.Errorf("extracting layers: %w", ErrNeedsRun)
	}
	x := &extracting{stage: s.stage}
	defer func() { x.end(err) }()
	dirs := make([]string, 0, len(s.layers))
	for _, l := range s.layers {
		d, err := l.dirIn(ctx, st, x)
		if err != nil {
			return rootfs.Stack{}, err
		}
		dirs = append(dirs, d)
	}
	return rootfs.Stack{Dirs: dirs}, nil
}

// showExtraction shows the extraction of s's layers on e.
func (s *state) showExtraction(e *extraction) {
	for _, l := range s.layers {
		l.shown = e
	}
}

// history appends a history entry.
func (s *state) history(createdBy string, withLayer bool, tm time.Time) {
	t := tm
	s.img.History = append(s.img.History, ocispec.History{
		Created:    &t,
		CreatedBy:  createdBy,
		Comment:    historyComment,
		EmptyLayer: !withLayer,
	})
}

// historyComment marks history entries strata wrote.
const historyComment = "strata.dockerfile.v0"

// withCreated returns a copy of s whose image was created at t (the build
// time: SOURCE_DATE_EPOCH, else the epoch), as BuildKit sets it.
func (s *state) withCreated(t time.Time) *state {
	n := s.clone()
	t = t.UTC()
	n.img.Created = &t
	return n
}

// withLabels returns a copy of s with labels added.
func (s *state) withLabels(labels map[string]string) *state {
	c := s.clone()
	if c.img.Config.Labels == nil {
		c.img.Config.Labels = map[string]string{}
	}
	maps.Copy(c.img.Config.Labels, labels)
	return c
}

// setEnv sets k=v in an environment list, replacing an earlier k.
func setEnv(env []string, k, v string) []string {
	for i, e := range env {
		if key, _, _ := cut(e); key == k {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

// getEnv returns the value of k in env.
func getEnv(env []string, k string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if key, v, _ := cut(env[i]); key == k {
			return v, true
		}
	}
	return "", false
}

func cut(e string) (string, string, bool) {
	for i := 0; i < len(e); i++ {
		if e[i] == '=' {
			return e[:i], e[i+1:], true
		}
	}
	return e, "", false
}
