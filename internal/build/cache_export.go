package build

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/strata-build/strata/internal/plan"
	"github.com/strata-build/strata/internal/registry"
)

// cacheKeepExports bounds what an exported cache keeps of earlier exports:
// a record no build used in this many exports in a row is dropped (with
// it, its layer once no kept record names it). Ten lets a cache shared by
// a few targets or branches that export in turn keep each one's steps,
// while a step that changed (an edited file, a bumped dependency) leaves
// the cache after ten exports instead of growing it forever.
const cacheKeepExports = 10

// Export jobs: existence checks are small requests, many at once; blob
// transfers fewer, as Docker pushes layers.
const (
	cacheCheckJobs = 16
	cacheSendJobs  = 4
)

// cacheTarget is where a --cache-to goes: a registry repository or a local
// OCI layout directory.
type cacheTarget interface {
	// current returns the cache the target holds now, nil when none.
	current(ctx context.Context) (*storedCache, error)
	// has reports whether the target holds blob d.
	has(ctx context.Context, d v1.Descriptor) (bool, error)
	// put sends blob d, read from open, unless the target can mount it
	// from repository from (same registry; "" when none is known): it
	// reports whether it did.
	put(ctx context.Context, d v1.Descriptor, from string, open func() (io.ReadCloser, error)) (mounted bool, err error)
	// putConfig stores the config blob unless prev has it already.
	putConfig(ctx context.Context, img *cacheImage, prev *storedCache) error
	// commit stores the manifest and points the cache at it (after the
	// config and every layer are there); prev is what current returned.
	commit(ctx context.Context, img *cacheImage, prev *storedCache) error
}

// storedCache is a cache a target holds.
type storedCache struct {
	manifest, config v1.Hash
	cfg              cacheConfig
	layers           map[v1.Hash]bool
}

// cacheImage is a cache about to be committed.
type cacheImage struct {
	manifest, config []byte
	layers           []v1.Descriptor
}

// parseStoredCache reads a cache manifest; nil when it is not a strata
// cache or its config cannot be decoded (what is there is then replaced).
// config reads a blob.
func parseStoredCache(raw []byte, config func(v1.Hash) ([]byte, error)) (*storedCache, error) {
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil || m.Config.MediaType != CacheMediaType {
		return nil, nil
	}
	cfgRaw, err := config(m.Config.Digest)
	if err != nil {
		return nil, err
	}
	sc := &storedCache{config: m.Config.Digest, layers: map[v1.Hash]bool{}}
	sc.manifest, _, _ = v1.SHA256(bytes.NewReader(raw))
	if json.Unmarshal(cfgRaw, &sc.cfg) != nil {
		return nil, nil
	}
	for _, l := range m.Layers {
		sc.layers[l.Digest] = true
	}
	return sc, nil
}

// exportCaches writes every --cache-to, each updated incrementally (see
// exportCache), each a step of the progress display ("exporting cache to
// R") that says what it sent.
func (r *run) exportCaches(ctx context.Context) error {
	if len(r.opts.CacheTo) == 0 {
		return nil
	}
	total := &CachePhase{}
	r.imported.stats.Export = total
	for i, spec := range r.opts.CacheTo {
		out, done := r.opts.Progress.Step("cache", i+1, len(r.opts.CacheTo), "exporting cache to "+spec.name())
		ph := &CachePhase{}
		start := time.Now()
		err := r.exportCache(ctx, spec, ph)
		ph.Duration = time.Since(start)
		total.merge(ph)
		if err != nil {
			done(false, err)
			return fmt.Errorf("exporting cache to %s: %w", spec.name(), err)
		}
		fmt.Fprintf(out, "%s; %d records (%d kept from earlier exports, %d dropped)\n", ph.sent(), ph.Records, ph.Kept, ph.Dropped)
		done(false, nil)
	}
	return nil
}

// exportCache updates the cache at spec: its records merged with this
// build's (see mergeRecords), only the layer blobs the target lacks sent
// (checked in parallel, mounted from another repository of the registry
// when an imported cache there has them), then config and manifest, each
// only when it changed. Blob sizes and digests come from the records:
// nothing is read or hashed but what is sent.
func (r *run) exportCache(ctx context.Context, spec CacheSpec, ph *CachePhase) error {
	t, err := r.openCacheTarget(ctx, spec)
	if err != nil {
		return err
	}
	prev, err := t.current(ctx)
	if err != nil {
		return fmt.Errorf("reading the cache there: %w", err)
	}
	exported, used := r.exportedRecords(spec.Mode)
	cfg := mergeRecords(prev, exported, used, ph)
	img, err := cacheImageOf(cfg)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.sendCacheBlobs(gctx, t, img.layers, prev, ph) })
	g.Go(func() error { return t.putConfig(gctx, img, prev) })
	if err := g.Wait(); err != nil {
		return err
	}
	return t.commit(ctx, img, prev)
}

func (r *run) openCacheTarget(ctx context.Context, spec CacheSpec) (cacheTarget, error) {
	if spec.Type == "local" {
		return layoutTarget{dir: spec.Dir}, nil
	}
	if r.b.registry == nil {
		return nil, errors.New("no registry client")
	}
	repo, err := r.b.registry.Repository(ctx, spec.Ref, r.blobMountSources())
	if err != nil {
		return nil, err
	}
	return registryTarget{repo: repo}, nil
}

// exportedRecords are this build's records: with mode "min" those of the
// target stage and the stages it is built FROM. used holds the keys of
// every record this build used, exported or not.
func (r *run) exportedRecords(mode string) (exported map[string]cacheRecord, used map[string]bool) {
	keep := map[int]bool{} // by index: every platform's plan has its own stages
	for s := r.plan.Target; s != nil; {
		keep[s.Index] = true
		if s.Base.Kind != plan.StageRef {
			break
		}
		s = s.Base.Stage
	}
	exported, used = map[string]cacheRecord{}, map[string]bool{}
	r.used.mu.Lock()
	defer r.used.mu.Unlock()
	for key, u := range r.used.recs {
		used[key] = true
		if mode != "min" || keep[u.stage.Index] {
			exported[key] = u.rec
		}
	}
	return exported, used
}

// mergeRecords is the cache an export writes: the records exported (idle
// 0) and those of prev: idle 0 again when this build used them (a
// mode=min export of a build whose builder stage hit a mode=max cache
// keeps the builder's records fresh), else one export idler, and dropped
// when that makes cacheKeepExports or when their layer is not in prev's
// manifest (a damaged cache).
func mergeRecords(prev *storedCache, exported map[string]cacheRecord, used map[string]bool, ph *CachePhase) cacheConfig {
	cfg := cacheConfig{Records: make(map[string]exportedRecord, len(exported))}
	if prev != nil {
		for key, rec := range prev.cfg.Records {
			if _, ok := exported[key]; ok {
				continue
			}
			if used[key] {
				rec.Idle = 0
			} else {
				rec.Idle++
			}
			if rec.Idle >= cacheKeepExports || rec.Layer != nil && !prev.layers[hashOrZero(rec.Layer.Digest)] {
				ph.Dropped++
				continue
			}
			cfg.Records[key] = rec
			ph.Kept++
		}
	}
	for key, rec := range exported {
		cfg.Records[key] = exportedRecord{cacheRecord: rec}
	}
	ph.Records += len(cfg.Records)
	return cfg
}

// hashOrZero parses a digest; the zero hash when it is not one.
func hashOrZero(s string) v1.Hash {
	h, _ := v1.NewHash(s)
	return h
}

// cacheImageOf encodes cfg and the manifest listing the layers its
// records name, sorted by digest.
func cacheImageOf(cfg cacheConfig) (*cacheImage, error) {
	byDigest := map[string]v1.Descriptor{}
	for _, rec := range cfg.Records {
		if rec.Layer == nil {
			continue
		}
		d, err := v1.NewHash(rec.Layer.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading cache record: %w", err)
		}
		byDigest[d.String()] = v1.Descriptor{MediaType: rec.Layer.mediaType(), Size: rec.Layer.Size, Digest: d}
	}
	img := &cacheImage{}
	var err error
	if img.config, err = json.Marshal(cfg); err != nil {
		return nil, err
	}
	cfgHash, cfgSize, err := v1.SHA256(bytes.NewReader(img.config))
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(byDigest))
	for k := range byDigest {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		img.layers = append(img.layers, byDigest[k])
	}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
		Config: v1.Descriptor{MediaType: CacheMediaType, Size: cfgSize, Digest: cfgHash}, Layers: img.layers}
	if img.layers == nil {
		m.Layers = []v1.Descriptor{}
	}
	img.manifest, err = json.Marshal(m)
	return img, err
}

// sendCacheBlobs sends the layers the target lacks: those not in prev's
// manifest are checked (in parallel), the missing ones sent.
func (r *run) sendCacheBlobs(ctx context.Context, t cacheTarget, layers []v1.Descriptor, prev *storedCache, ph *CachePhase) error {
	var check []v1.Descriptor
	for _, d := range layers {
		if prev != nil && prev.layers[d.Digest] {
			ph.Present++
		} else {
			check = append(check, d)
		}
	}
	missing := make([]bool, len(check))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cacheCheckJobs)
	for i, d := range check {
		g.Go(func() error {
			ok, err := t.has(gctx, d)
			missing[i] = !ok
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(cacheSendJobs)
	for i, d := range check {
		if !missing[i] {
			ph.Present++
			continue
		}
		g.Go(func() error { return r.sendCacheBlob(gctx, t, d, ph) })
	}
	return g.Wait()
}

// sendCacheBlob sends one layer blob from the store; an imported layer not
// fetched yet is mounted from its cache's repository when the target is on
// the same registry, else fetched first.
func (r *run) sendCacheBlob(ctx context.Context, t cacheTarget, d v1.Descriptor, ph *CachePhase) error {
	lz, lazy := r.importedLayerOf(d.Digest)
	open := func() (io.ReadCloser, error) {
		if lazy {
			if err := lz.fetch(ctx); err != nil {
				return nil, err
			}
		}
		return r.b.store.OpenBlob(ctx, d.Digest)
	}
	mounted, err := t.put(ctx, d, r.blobMountSource(d.Digest), open)
	if err != nil {
		return err
	}
	ph.mu.Lock()
	defer ph.mu.Unlock()
	if mounted {
		ph.Mounted++
	} else {
		ph.Blobs++
		ph.Bytes += d.Size
	}
	return nil
}

// blobMountSource is a registry repository known to hold blob d: the
// --cache-from whose record named it.
func (r *run) blobMountSource(d v1.Hash) string {
	r.imported.mu.Lock()
	defer r.imported.mu.Unlock()
	for _, ir := range r.imported.recs {
		if ir.src.repo != "" && ir.rec.Layer != nil && ir.rec.Layer.Digest == d.String() {
			return ir.src.repo
		}
	}
	return ""
}

// blobMountSources are the repositories of the registry caches imported.
func (r *run) blobMountSources() []string {
	r.imported.mu.Lock()
	defer r.imported.mu.Unlock()
	var out []string
	for _, ir := range r.imported.recs {
		if ir.src.repo != "" && !slices.Contains(out, ir.src.repo) {
			out = append(out, ir.src.repo)
		}
	}
	return out
}

// registryTarget is a --cache-to type=registry.
type registryTarget struct{ repo *registry.Repository }

func (t registryTarget) current(ctx context.Context) (*storedCache, error) {
	raw, _, err := t.repo.Manifest(ctx)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseStoredCache(raw, func(h v1.Hash) ([]byte, error) { return t.repo.Blob(ctx, h) })
}

func (t registryTarget) has(ctx context.Context, d v1.Descriptor) (bool, error) {
	return t.repo.HasBlob(ctx, d.Digest)
}

func (t registryTarget) put(ctx context.Context, d v1.Descriptor, from string, open func() (io.ReadCloser, error)) (bool, error) {
	return t.repo.PushBlob(ctx, d.Digest, d.Size, from, open)
}

func (t registryTarget) putConfig(ctx context.Context, img *cacheImage, prev *storedCache) error {
	cfgHash, _, _ := v1.SHA256(bytes.NewReader(img.config))
	if prev != nil && prev.config == cfgHash {
		return nil
	}
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(img.config)), nil }
	_, err := t.repo.PushBlob(ctx, cfgHash, int64(len(img.config)), "", open)
	return err
}

func (t registryTarget) commit(ctx context.Context, img *cacheImage, prev *storedCache) error {
	h, _, _ := v1.SHA256(bytes.NewReader(img.manifest))
	if prev != nil && prev.manifest == h {
		return nil
	}
	return t.repo.PutManifest(ctx, img.manifest, types.OCIManifestSchema1)
}
