// Package build executes a plan: one future per stage, stages that do not
// depend on each other run concurrently (bounded by Options.Jobs), and each
// instruction is dispatched against an immutable stage state, producing
// layers in the store and, at the end, the target stage's image.
package build

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/strata-build/strata/internal/dockerfile"
	"github.com/strata-build/strata/internal/plan"
	"github.com/strata-build/strata/internal/registry"
	"github.com/strata-build/strata/internal/sandbox"
	"github.com/strata-build/strata/internal/store"
)

// Context is a named build context (--build-context NAME=...): exactly one
// of Dir, Image (a reference) or Layout (an OCI layout directory) is set.
type Context struct {
	Dir    string
	Image  string
	Layout string
}

// Options are the inputs of one build.
type Options struct {
	// File is the parsed Dockerfile.
	File *dockerfile.File
	// ContextDir is the main build context; Ignore its .dockerignore
	// patterns (nil when there are none).
	ContextDir string
	Ignore     []string
	// Contexts are the named build contexts.
	Contexts map[string]Context
	Target   string
	// BuildArgs are --build-arg values.
	BuildArgs map[string]string
	// Labels are --label values, set on the final image.
	Labels map[string]string
	// Platform is the target platform, "linux/amd64".
	Platform string
	// Pull re-resolves base images from their registries.
	Pull bool
	// NoCache runs every step; NoCacheFilter does so for the named stages.
	// Results are cached either way.
	NoCache       bool
	NoCacheFilter []string
	// CacheFrom are caches exported by other builds to use; CacheTo where
	// to export this build's cache.
	CacheFrom []CacheSpec
	CacheTo   []CacheSpec
	// Jobs bounds how many stages run at once (default: number of CPUs).
	Jobs int
	// Timestamp is the build time: image "created", history, and the clamp
	// for file times in new layers.
	Timestamp time.Time
	// CompressionLevel is the gzip level of new layers (1-9; 0: the default,
	// 6, as BuildKit's, so layers are as small as Docker's).
	CompressionLevel int
	// Network is the default network of RUN steps: "host" or "none".
	Network string
	// Allow are the entitlements granted (--allow), as buildx names them:
	// EntitlementInsecure lets RUN --security=insecure run.
	Allow []string
	// Secrets are --secret values by id; SSH maps --ssh ids to agent sockets.
	Secrets map[string]Secret
	SSH     map[string]string
	// Progress receives build events; nil discards them.
	Progress Progress
}

// Builder runs builds against a store, a registry client and a sandbox.
type Builder struct {
	store    *store.Store
	registry *registry.Client
	runner   sandbox.Runner
	http     *http.Client
}

// New returns a Builder. runner may be nil: then RUN fails with a clear error.
func New(st *store.Store, reg *registry.Client, runner sandbox.Runner, hc *http.Client) *Builder {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Builder{store: st, registry: reg, runner: runner, http: hc}
}

// StageResult describes one built stage.
type StageResult struct {
	Index  int
	Name   string
	Image  v1.Image
	Digest v1.Hash
	Target bool
}

// Result is the outcome of a build.
type Result struct {
	// Image is the target stage's image, stored in the store under Digest.
	Image  v1.Image
	Digest v1.Hash
	// Stages are the stages that ran, in plan order (target last).
	Stages []StageResult
	// UnusedBuildArgs are --build-arg names no stage declared.
	UnusedBuildArgs []string
}

// Build runs the build described by opts.
func (b *Builder) Build(ctx context.Context, opts Options) (*Result, error) {
	if opts.Platform == "" {
		opts.Platform = "linux/amd64"
	}
	if opts.Platform != "linux/amd64" {
		return nil, fmt.Errorf("unsupported platform %q: strata builds linux/amd64 only", opts.Platform)
	}
	if opts.Jobs <= 0 {
		opts.Jobs = runtime.NumCPU()
	}
	if opts.Progress == nil {
		opts.Progress = Discard{}
	}
	names := map[string]bool{}
	for n := range opts.Contexts {
		names[n] = true
	}
	p, err := plan.New(opts.File, plan.Options{
		Target:         opts.Target,
		BuildArgs:      opts.BuildArgs,
		TargetPlatform: opts.Platform,
		BuildPlatform:  "linux/" + runtime.GOARCH,
		Contexts:       names,
	})
	if err != nil {
		return nil, err
	}
	r := &run{b: b, opts: opts, plan: p, futures: map[*plan.Stage]*future{}, usedArgs: newArgSet(),
		stats: loadStatCache(ctx, b.store)}
	for _, a := range opts.File.MetaArgs {
		for _, kv := range a.Args {
			r.usedArgs.markDeclared(kv.Key)
		}
	}
	for _, s := range p.Order {
		r.futures[s] = newFuture()
	}
	return r.execute(ctx)
}

// run is one build in progress.
type run struct {
	b        *Builder
	opts     Options
	plan     *plan.Plan
	futures  map[*plan.Stage]*future
	images   singleflight.Group
	steps    singleflight.Group
	stats    *statCache
	imported importedCaches
	used     usedKeys
	usedArgs *argSet
}

func (r *run) execute(ctx context.Context) (*Result, error) {
	r.importCaches(ctx)
	g, gctx := errgroup.WithContext(ctx)
	sem := make(chan struct{}, r.opts.Jobs)
	for _, s := range r.plan.Order {
		g.Go(func() error {
			st, err := r.buildStage(gctx, s, sem)
			r.futures[s].resolve(st, err)
			return err
		})
	}
	err := g.Wait()
	if serr := r.stats.save(ctx, r.b.store); serr != nil {
		r.opts.Progress.Warn(fmt.Sprintf("saving the context stat cache: %v", serr))
	}
	if err != nil {
		return nil, err
	}
	res, err := r.finish(ctx)
	if err != nil {
		return nil, err
	}
	return res, r.exportCaches(ctx)
}

// finish stores the target image (with --label values) and describes stages.
func (r *run) finish(ctx context.Context) (*Result, error) {
	res := &Result{UnusedBuildArgs: r.usedArgs.unused(r.opts.BuildArgs)}
	for _, s := range r.plan.Order {
		st, _ := r.futures[s].wait(ctx)
		target := s == r.plan.Target
		if target && len(r.opts.Labels) > 0 {
			st = st.withLabels(r.opts.Labels)
		}
		img, err := st.image(r.b.store)
		if err != nil {
			return nil, fmt.Errorf("assembling image of stage %s: %w", stageName(s), err)
		}
		h, err := r.b.store.WriteImage(ctx, img)
		if err != nil {
			return nil, fmt.Errorf("storing image of stage %s: %w", stageName(s), err)
		}
		res.Stages = append(res.Stages, StageResult{Index: s.Index, Name: s.Name, Image: img, Digest: h, Target: target})
		if target {
			res.Image, res.Digest = img, h
		}
	}
	return res, nil
}

// buildStage waits for what s builds on, then dispatches its instructions.
func (r *run) buildStage(ctx context.Context, s *plan.Stage, sem chan struct{}) (*state, error) {
	base, err := r.baseState(ctx, s)
	if err != nil {
		return nil, err
	}
	for _, e := range s.Edges {
		if e.From.Kind == plan.StageRef {
			if _, err := r.futures[e.From.Stage].wait(ctx); err != nil {
				return nil, err
			}
		}
	}
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-sem }()
	if s.Replaced() {
		return base, nil
	}
	return r.dispatchStage(ctx, s, base)
}

func stageName(s *plan.Stage) string { return s.DisplayName() }

// future is a stage's result, resolved once.
type future struct {
	done chan struct{}
	st   *state
	err  error
}

func newFuture() *future { return &future{done: make(chan struct{})} }

func (f *future) resolve(st *state, err error) {
	f.st, f.err = st, err
	close(f.done)
}

func (f *future) wait(ctx context.Context) (*state, error) {
	select {
	case <-f.done:
		return f.st, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Progress receives build events.
type Progress interface {
	// Step is called when an instruction starts; the returned func is called
	// with its error when it ends. Output of RUN steps goes to out.
	Step(stage string, index, total int, text string) (out io.Writer, done func(cached bool, err error))
	// Warn reports a non-fatal problem.
	Warn(msg string)
}

// Discard is a Progress that shows nothing.
type Discard struct{}

// Step implements Progress.
func (Discard) Step(string, int, int, string) (io.Writer, func(bool, error)) {
	return io.Discard, func(bool, error) {}
}

// Warn implements Progress.
func (Discard) Warn(string) {}

var _ Progress = Discard{}
