package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/internal/export"
	"github.com/strata-build/strata/internal/plan"
)

// CacheMediaType is the config media type of an exported build cache: an
// OCI image manifest whose config lists cache records and whose layers are
// the layer blobs those records name.
const CacheMediaType types.MediaType = "application/vnd.strata.buildcache.v1+json"

// CacheSpec is one --cache-to or --cache-from: a registry reference or a
// local OCI layout directory. Mode (export only) is "min" (the target
// image's steps) or "max" (every stage's steps, the default).
type CacheSpec struct {
	Type string // "registry" or "local"
	Ref  string // registry reference
	Dir  string // OCI layout directory
	Mode string
}

func (spec CacheSpec) name() string {
	if spec.Type == "local" {
		return spec.Dir
	}
	return spec.Ref
}

// cacheConfig is the config blob of an exported cache.
type cacheConfig struct {
	Records map[string]exportedRecord `json:"records"`
}

// exportedRecord is a record as an exported cache keeps it: Idle counts
// the exports to this cache since a build last used it (see
// cacheKeepExports).
type exportedRecord struct {
	cacheRecord
	Idle int `json:"idle,omitempty"`
}

// cacheSource is one --cache-from that could be read.
type cacheSource struct {
	name string   // as given: a reference or a directory
	img  v1.Image // its manifest and config; layers are read from it on demand
	repo string   // the registry repository ("host/path"), "" for a local layout
	dir  string   // the local layout directory, "" for a registry
}

// importedRecord is a record from --cache-from and where its layer is.
type importedRecord struct {
	rec cacheRecord
	src *cacheSource
}

// importedCaches holds the records of every --cache-from, one lazy layer
// per blob they name (so a blob is fetched once), and the figures of the
// build's cache phases (import and export).
type importedCaches struct {
	mu     sync.Mutex
	recs   map[string]importedRecord
	layers map[v1.Hash]*lazyLayer
	stats  CacheStats
}

// usedKeys remembers every step result of this build, for --cache-to.
type usedKeys struct {
	mu   sync.Mutex
	recs map[string]usedRecord
}

type usedRecord struct {
	rec   cacheRecord
	stage *plan.Stage
}

func (u *usedKeys) add(key v1.Hash, rec *cacheRecord, s *plan.Stage) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.recs == nil {
		u.recs = map[string]usedRecord{}
	}
	u.recs[key.Hex] = usedRecord{rec: *rec, stage: s}
}

// importCaches reads every --cache-from: manifests and configs only; a
// record's layer is fetched when a build reads it (lookupImported). An
// unreachable or broken source is a warning, never a failure.
func (r *run) importCaches(ctx context.Context) {
	if len(r.opts.CacheFrom) == 0 {
		return
	}
	start := time.Now()
	for i, spec := range r.opts.CacheFrom {
		out, done := r.opts.Progress.Step("cache", i+1, len(r.opts.CacheFrom), "importing cache from "+spec.name())
		src, err := r.cacheSource(ctx, spec)
		n := 0
		if err == nil {
			n, err = r.importCache(src)
		}
		if err != nil {
			r.opts.Progress.Warn(fmt.Sprintf("importing cache from %s: %v", spec.name(), err))
		} else {
			fmt.Fprintf(out, "%d records\n", n)
		}
		done(false, nil)
	}
	r.imported.stats.importing().add(time.Since(start))
}

func (r *run) cacheSource(ctx context.Context, spec CacheSpec) (*cacheSource, error) {
	if spec.Type == "local" {
		img, err := export.ReadLayout(spec.Dir, cacheTag)
		return &cacheSource{name: spec.Dir, img: img, dir: spec.Dir}, err
	}
	if r.b.registry == nil {
		return nil, errors.New("no registry client")
	}
	img, err := r.b.registry.Pull(ctx, spec.Ref)
	if err != nil {
		return nil, err
	}
	src := &cacheSource{name: spec.Ref, img: img}
	if ref, err := name.ParseReference(spec.Ref); err == nil {
		src.repo = ref.Context().Name()
	}
	return src, nil
}

// importCache adds src's records; it returns how many src has.
func (r *run) importCache(src *cacheSource) (int, error) {
	m, err := src.img.Manifest()
	if err != nil {
		return 0, err
	}
	if m.Config.MediaType != CacheMediaType {
		return 0, fmt.Errorf("not a strata build cache (config media type %q)", m.Config.MediaType)
	}
	raw, err := src.img.RawConfigFile()
	if err != nil {
		return 0, err
	}
	var cfg cacheConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return 0, fmt.Errorf("decoding cache records: %w", err)
	}
	r.imported.mu.Lock()
	defer r.imported.mu.Unlock()
	if r.imported.recs == nil {
		r.imported.recs = map[string]importedRecord{}
	}
	for key, rec := range cfg.Records {
		if _, ok := r.imported.recs[key]; !ok { // the first --cache-from wins
			r.imported.recs[key] = importedRecord{rec: rec.cacheRecord, src: src}
		}
	}
	return len(cfg.Records), nil
}

// lookupImported finds key in the imported caches. The record is stored
// locally; its layer blob is not fetched here: the returned layer fetches
// it (verified by digest) when its content is first read, and is nil when
// the blob is in the store already. A local source whose blob is missing
// or of the wrong size drops the record with a warning: the step runs.
func (r *run) lookupImported(ctx context.Context, key v1.Hash) (*cacheRecord, v1.Layer, bool) {
	r.imported.mu.Lock()
	ir, ok := r.imported.recs[key.Hex]
	r.imported.mu.Unlock()
	if !ok {
		return nil, nil, false
	}
	rec := ir.rec
	var l v1.Layer
	if rec.Layer != nil {
		var err error
		if l, err = r.importedLayer(ctx, ir); err != nil {
			r.opts.Progress.Warn(fmt.Sprintf("dropping cache record %s: %v", key.Hex[:12], err))
			r.imported.mu.Lock()
			delete(r.imported.recs, key.Hex)
			r.imported.mu.Unlock()
			return nil, nil, false
		}
	}
	if b, err := json.Marshal(rec); err == nil {
		_ = r.b.store.PutCacheRecord(ctx, key, b) // only a later build would miss it
	}
	return &rec, l, true
}

// importedLayer is the lazy layer of an imported record (one per blob),
// or nil when its blob is in the store.
func (r *run) importedLayer(ctx context.Context, ir importedRecord) (v1.Layer, error) {
	rl := ir.rec.Layer
	digest, diffID, err := rl.hashes()
	if err != nil {
		return nil, err
	}
	if size, err := r.b.store.BlobSize(ctx, digest); err == nil && size == rl.Size {
		return nil, nil
	}
	if ir.src.dir != "" {
		p := filepath.Join(ir.src.dir, "blobs", digest.Algorithm, digest.Hex)
		if fi, err := os.Stat(p); err != nil || fi.Size() != rl.Size {
			return nil, fmt.Errorf("blob %s missing or damaged in %s", digest, ir.src.dir)
		}
	}
	r.imported.mu.Lock()
	defer r.imported.mu.Unlock()
	if r.imported.layers == nil {
		r.imported.layers = map[v1.Hash]*lazyLayer{}
	}
	l, ok := r.imported.layers[digest]
	if !ok {
		l = &lazyLayer{st: r.b.store, src: ir.src, digest: digest, diffID: diffID, size: rl.Size,
			mediaType: rl.mediaType(), stats: r.imported.stats.importing()}
		r.imported.layers[digest] = l
	}
	return l, nil
}

// importedLayerOf returns the lazy layer of blob d if an imported record
// names it and it is not fetched yet.
func (r *run) importedLayerOf(d v1.Hash) (*lazyLayer, bool) {
	r.imported.mu.Lock()
	defer r.imported.mu.Unlock()
	l, ok := r.imported.layers[d]
	return l, ok
}

// cacheTag names the cache in a local cache layout (replaced on export).
const cacheTag = "buildcache"
