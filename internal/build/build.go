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
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/strata-build/strata/internal/attest"
	"github.com/strata-build/strata/internal/dockerfile"
	"github.com/strata-build/strata/internal/layer"
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
	// Platforms are the target platforms ("linux/arm64"); none is
	// linux/amd64. With more than one the result is an image index.
	Platforms []string
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
	// Compression is how the layers this build's steps make are
	// compressed (the zero value: gzip at level 6, as BuildKit's). Other
	// layers of the target image (base layers, cache hits made at another
	// compression) keep theirs unless a variant in Compression is stored,
	// or ForceCompression converts them. It is not part of any cache key.
	Compression      layer.Compression
	ForceCompression bool
	// Network is the default network of RUN steps: "host" or "none".
	Network string
	// Run are --add-host, --shm-size and --ulimit, for every RUN step.
	Run RunOptions
	// Annotations go on the target image's manifest or the index.
	Annotations []Annotation
	// Allow are the entitlements granted (--allow), as buildx names them:
	// EntitlementInsecure lets RUN --security=insecure run.
	Allow []string
	// Secrets are --secret values by id; SSH maps --ssh ids to agent sockets.
	Secrets map[string]Secret
	SSH     map[string]string
	// Progress receives build events; nil discards them.
	Progress Progress
	// CachedOnly builds from the store's cache alone: the first step that
	// must run ends the build with an error wrapping ErrNeedsRun, before
	// anything is extracted (an ordinary user's try outside its user
	// namespace, which then builds in one). Records imported by CacheFrom
	// are not used. A Builder without a registry does not pull either.
	CachedOnly bool
	// KeyOwners, if set, is how the keys of steps see the owners of the
	// files they read (the build context, heredocs): outside an ordinary
	// user's namespace, as the namespace does (userns.NamespaceOwners),
	// so that a CachedOnly build there makes its keys. Nil: as stat does.
	KeyOwners func(uid, gid uint32) (uint32, uint32)
	// SBOM attaches an SPDX SBOM of each platform's image; Provenance
	// ("min" or "max", "" for none) a SLSA v1 provenance statement. Either
	// makes the result an index with attestation manifests, as BuildKit's.
	SBOM       bool
	Provenance string
	// DockerfilePath is the Dockerfile's path as the user gave it, Names
	// the image's names (-t), ClockTime whether Timestamp is the clock's
	// (--timestamp=now): for provenance and statement subjects.
	DockerfilePath string
	Names          []string
	ClockTime      bool
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
	// Image is the target stage's image, stored in the store under Digest:
	// of the only platform, or of the first of several.
	Image  v1.Image
	Digest v1.Hash
	// Stages are the stages that ran for that platform, in plan order
	// (target last).
	Stages []StageResult
	// Index is the multi-platform image, stored under IndexDigest, when
	// more than one platform was built; nil otherwise.
	Index       v1.ImageIndex
	IndexDigest v1.Hash
	// Platforms are the results per platform, in --platform order.
	Platforms []PlatformResult
	// UnusedBuildArgs are --build-arg names no stage declared.
	UnusedBuildArgs []string
	// Cache is what --cache-from and --cache-to cost (cache_stats.go).
	Cache *CacheStats

	compression LayerCompression  // what the images' layers were made as
	made        map[v1.Hash]bool  // diff IDs of the layers the build's steps made
	names       []string          // Options.Names, for an index made again
	indexAnn    map[string]string // index annotations, for an index made again
}

// Ref is what the build's tags point at: the index of a multi-platform
// build, else the image.
func (r *Result) Ref() v1.Hash {
	if r.Index != nil {
		return r.IndexDigest
	}
	return r.Digest
}

// PlatformResult is one platform's target image and stages.
type PlatformResult struct {
	Platform string // normalised, "linux/arm64"
	Image    v1.Image
	Digest   v1.Hash
	Stages   []StageResult
	// Layers are the target image's layers, bottom first, and what made
	// them.
	Layers []Layer
	// Predicates are the image's attestations (Options.SBOM, Provenance),
	// which Result.Index carries; an output that changes the image's media
	// types makes its index again from them (attest.Index).
	Predicates []attest.Predicate
}

// Layer is a layer of a built image.
type Layer struct {
	DiffID v1.Hash
	// Source is the step that made it ("Dockerfile:12 RUN ..."), or "" for
	// a base image's layer.
	Source string
}

// BaseImage is an image a build read (FROM, COPY --from, a mount, a named
// context), as provenance lists its materials.
type BaseImage struct {
	Ref      string // as written, e.g. "golang:1.26"; "oci-layout://DIR" for a layout
	Platform string
	Digest   v1.Hash // the manifest digest used
	Local    bool    // from an OCI layout context
}

// Build runs the build described by opts: once per target platform, the
// platforms concurrently within Options.Jobs, sharing one cache (a step
// with the same key, as in a FROM --platform=$BUILDPLATFORM stage that does
// not read the TARGET ARGs, runs once and serves every platform).
func (b *Builder) Build(ctx context.Context, opts Options) (*Result, error) {
	plats, err := Platforms(opts.Platforms)
	if err != nil {
		return nil, err
	}
	if opts.Jobs <= 0 {
		opts.Jobs = runtime.NumCPU()
	}
	if opts.Progress == nil {
		opts.Progress = Discard{}
	}
	if opts.CachedOnly {
		ctx = withCachedOnly(ctx)
	}
	if opts.KeyOwners != nil {
		ctx = withKeyOwners(ctx, opts.KeyOwners)
	}
	names := map[string]bool{}
	for n := range opts.Contexts {
		names[n] = true
	}
	ses := &session{stats: loadStatCache(ctx, b.store), sem: make(chan struct{}, opts.Jobs)}
	runs := make([]*run, len(plats))
	for i, pl := range plats {
		p, err := plan.New(opts.File, plan.Options{
			Target:         opts.Target,
			BuildArgs:      opts.BuildArgs,
			TargetPlatform: pl,
			BuildPlatform:  BuildPlatform(),
			Contexts:       names,
		})
		if err != nil {
			return nil, err
		}
		r := &run{session: ses, b: b, opts: opts, plan: p, platform: pl, futures: map[*plan.Stage]*future{}, usedArgs: newArgSet()}
		if len(plats) > 1 {
			r.label = pl
		}
		for _, a := range opts.File.MetaArgs {
			for _, kv := range a.Args {
				r.usedArgs.markDeclared(kv.Key)
			}
		}
		for _, s := range p.Order {
			r.futures[s] = newFuture()
		}
		runs[i] = r
	}
	return execute(ctx, runs)
}

// session is what the runs of one build share: the step and image
// single-flights, the context stat cache, imported and used cache records,
// and the --jobs slots.
type session struct {
	images   singleflight.Group
	steps    singleflight.Group
	stats    *statCache
	imported importedCaches
	used     usedKeys
	sem      chan struct{}
	tagMu    sync.Mutex // adding a pulled platform to a base image's tag
	made     madeLayers // diff IDs of the layers this build's steps made
}

// run is one build in progress for one target platform.
type run struct {
	*session
	b        *Builder
	opts     Options
	plan     *plan.Plan
	platform string // the target platform, normalised
	label    string // the platform in stage names when there are several
	futures  map[*plan.Stage]*future
	usedArgs *argSet

	basesMu sync.Mutex
	bases   []BaseImage // every image this platform's build read, for provenance
	log     provLog
	loads   contextLoads // context keys made before their COPY's vertex
}

// execute runs every platform's stages, then stores the results (an index
// when there are several platforms) and exports the cache.
func execute(ctx context.Context, runs []*run) (*Result, error) {
	started := time.Now()
	first := runs[0]
	first.importCaches(ctx)
	g, gctx := errgroup.WithContext(ctx)
	for _, r := range runs {
		for _, s := range r.plan.Order {
			g.Go(func() error {
				st, err := r.buildStage(gctx, s, r.sem)
				r.futures[s].resolve(st, err)
				return err
			})
		}
	}
	err := g.Wait()
	if serr := first.stats.save(ctx, first.b.store); serr != nil {
		first.opts.Progress.Warn(fmt.Sprintf("saving the context stat cache: %v", serr))
	}
	if err != nil {
		return nil, err
	}
	res := &Result{
		UnusedBuildArgs: first.usedArgs.unused(first.opts.BuildArgs),
		Cache:           first.cacheStats(),
		compression:     first.layerCompression(),
		made:            first.made.snapshot(),
		names:           first.opts.Names,
		indexAnn:        annotations(first.opts.Annotations, AnnotateIndex, ""),
	}
	exp := first.vertex("exporting to image")
	for _, r := range runs {
		pr, err := r.finish(ctx)
		if err != nil {
			exp.Done(false, err)
			return nil, err
		}
		res.Platforms = append(res.Platforms, *pr)
	}
	exported(exp, res.Platforms, first.opts.Names)
	res.Image, res.Digest, res.Stages = res.Platforms[0].Image, res.Platforms[0].Digest, res.Platforms[0].Stages
	if first.opts.SBOM || first.opts.Provenance != "" {
		preds, err := attestations(ctx, runs, res, started)
		if err != nil {
			return nil, err
		}
		for i := range res.Platforms {
			res.Platforms[i].Predicates = preds[i]
		}
	}
	if len(runs) > 1 || first.opts.SBOM || first.opts.Provenance != "" {
		if res.Index, err = IndexOf(res.Platforms, first.opts.Names, attest.FormArtifact); err != nil {
			return nil, fmt.Errorf("assembling the image index: %w", err)
		}
		res.Index = annotateIndex(res.Index, res.indexAnn)
		if res.IndexDigest, err = first.b.store.WriteIndex(ctx, res.Index); err != nil {
			return nil, err
		}
	}
	return res, first.exportCaches(ctx)
}

// finish stores the target image (with --label values) and describes stages.
func (r *run) finish(ctx context.Context) (*PlatformResult, error) {
	res := &PlatformResult{Platform: r.platform}
	for _, s := range r.plan.Order {
		st, _ := r.futures[s].wait(ctx)
		target := s == r.plan.Target
		if target && len(r.opts.Labels) > 0 {
			st = st.withLabels(r.opts.Labels)
		}
		st = st.withCreated(r.opts.Timestamp)
		if target {
			st = st.withTargetPlatform(r.platform, len(r.opts.Platforms) > 0)
			var err error
			if st, err = r.compressed(ctx, st); err != nil {
				return nil, err
			}
		}
		img, err := st.image(r.b.store)
		if err != nil {
			return nil, fmt.Errorf("assembling image of stage %s: %w", r.stageName(s), err)
		}
		if target {
			img = annotateImage(img, annotations(r.opts.Annotations, AnnotateManifest, r.platform))
		}
		h, err := r.storeStageImage(ctx, st, img, target)
		if err != nil {
			return nil, fmt.Errorf("storing image of stage %s: %w", r.stageName(s), err)
		}
		res.Stages = append(res.Stages, StageResult{Index: s.Index, Name: s.Name, Image: img, Digest: h, Target: target})
		if target {
			res.Image, res.Digest = img, h
			if res.Layers, err = layersOf(st); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

// layersOf describes st's layers.
func layersOf(st *state) ([]Layer, error) {
	out := make([]Layer, len(st.layers))
	for i, l := range st.layers {
		d, err := l.layer.DiffID()
		if err != nil {
			return nil, err
		}
		out[i] = Layer{DiffID: d, Source: l.source}
	}
	return out, nil
}

// recordBase notes an image the build read, once per reference and
// platform.
func (r *run) recordBase(ref, platform string, img v1.Image, local bool) {
	h, err := img.Digest()
	if err != nil {
		return
	}
	r.basesMu.Lock()
	defer r.basesMu.Unlock()
	for _, b := range r.bases {
		if b.Ref == ref && b.Platform == platform {
			return
		}
	}
	r.bases = append(r.bases, BaseImage{Ref: ref, Platform: platform, Digest: h, Local: local})
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

// stageName is how progress and errors name s: "build", or "linux/arm64
// build" when several platforms are built.
func (r *run) stageName(s *plan.Stage) string {
	if r.label != "" {
		return r.label + " " + s.DisplayName()
	}
	return s.DisplayName()
}

// progressStage is the stage as progress names it: none for the only,
// unnamed stage of a single-platform build ("[2/3] RUN ..."), as BuildKit.
func (r *run) progressStage(s *plan.Stage) string {
	if r.label == "" && s.Name == "" && len(r.plan.Stages) == 1 {
		return ""
	}
	return r.stageName(s)
}

// StepName is a step's name in progress, as BuildKit writes it:
// "[builder 2/5] RUN go build", or "[2/5] RUN ..." without a stage.
func StepName(stage string, index, total int, text string) string {
	if stage == "" {
		return fmt.Sprintf("[%d/%d] %s", index, total, text)
	}
	return fmt.Sprintf("[%s %d/%d] %s", stage, index, total, text)
}

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
