package build

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/partial"
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

// cacheConfig is the config blob of an exported cache.
type cacheConfig struct {
	Records map[string]cacheRecord `json:"records"`
}

// importedRecord is a record from --cache-from with the layer to fetch on a hit.
type importedRecord struct {
	rec   cacheRecord
	layer v1.Layer
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

// importCaches reads every --cache-from. An unreachable or broken source is
// a warning, never a failure.
func (r *run) importCaches(ctx context.Context) {
	for _, spec := range r.opts.CacheFrom {
		img, err := r.cacheImage(ctx, spec)
		if err == nil {
			err = r.importCache(img)
		}
		if err != nil {
			r.opts.Progress.Warn(fmt.Sprintf("importing cache from %s: %v", spec.name(), err))
		}
	}
}

func (spec CacheSpec) name() string {
	if spec.Type == "local" {
		return spec.Dir
	}
	return spec.Ref
}

func (r *run) cacheImage(ctx context.Context, spec CacheSpec) (v1.Image, error) {
	if spec.Type == "local" {
		return export.ReadLayout(spec.Dir, cacheTag)
	}
	if r.b.registry == nil {
		return nil, errors.New("no registry client")
	}
	return r.b.registry.Pull(ctx, spec.Ref)
}

func (r *run) importCache(img v1.Image) error {
	raw, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	var cfg cacheConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("decoding cache records: %w", err)
	}
	r.imported.mu.Lock()
	defer r.imported.mu.Unlock()
	if r.imported.recs == nil {
		r.imported.recs = map[string]importedRecord{}
	}
	for key, rec := range cfg.Records {
		ir := importedRecord{rec: rec}
		if rec.Layer != nil {
			h, err := v1.NewHash(rec.Layer.Digest)
			if err != nil {
				continue
			}
			if ir.layer, err = img.LayerByDigest(h); err != nil {
				continue
			}
		}
		r.imported.recs[key] = ir
	}
	return nil
}

// importedCaches holds the records of every --cache-from.
type importedCaches struct {
	mu   sync.Mutex
	recs map[string]importedRecord
}

// lookupImported finds key in the imported caches and makes it local: the
// layer blob is fetched (verified by digest) and the record stored. A blob
// that fails verification drops the record: the step runs instead.
func (r *run) lookupImported(ctx context.Context, key v1.Hash) (*cacheRecord, bool) {
	r.imported.mu.Lock()
	ir, ok := r.imported.recs[key.Hex]
	r.imported.mu.Unlock()
	if !ok {
		return nil, false
	}
	if ir.rec.Layer != nil {
		h, err := v1.NewHash(ir.rec.Layer.Digest)
		if err != nil {
			return nil, false
		}
		if !r.b.store.HasBlob(ctx, h) {
			err := r.b.store.PutBlob(ctx, h, func(w io.Writer) error {
				rc, err := ir.layer.Compressed()
				if err != nil {
					return err
				}
				defer rc.Close()
				_, err = io.Copy(w, rc)
				return err
			})
			if err != nil {
				r.opts.Progress.Warn(fmt.Sprintf("dropping cache record %s: %v", key.Hex[:12], err))
				r.imported.mu.Lock()
				delete(r.imported.recs, key.Hex)
				r.imported.mu.Unlock()
				return nil, false
			}
		}
	}
	if b, err := json.Marshal(ir.rec); err == nil {
		_ = r.b.store.PutCacheRecord(ctx, key, b) // only a later build would miss it
	}
	rec := ir.rec
	return &rec, true
}

// exportCaches writes every --cache-to.
func (r *run) exportCaches(ctx context.Context) error {
	for _, spec := range r.opts.CacheTo {
		img, err := r.cacheManifest(spec.Mode)
		if err != nil {
			return fmt.Errorf("exporting cache: %w", err)
		}
		switch spec.Type {
		case "local":
			err = writeCacheLayout(spec.Dir, img)
		default:
			if r.b.registry == nil {
				err = errors.New("no registry client")
			} else {
				err = r.b.registry.Push(ctx, spec.Ref, img)
			}
		}
		if err != nil {
			return fmt.Errorf("exporting cache to %s: %w", spec.name(), err)
		}
	}
	return nil
}

// cacheManifest builds the cache image of this build's steps: with mode
// "min" those of the target stage and the stages it is built FROM.
func (r *run) cacheManifest(mode string) (v1.Image, error) {
	keep := map[int]bool{} // by index: every platform's plan has its own stages
	for s := r.plan.Target; s != nil; {
		keep[s.Index] = true
		if s.Base.Kind != plan.StageRef {
			break
		}
		s = s.Base.Stage
	}
	cfg := cacheConfig{Records: map[string]cacheRecord{}}
	layers := map[v1.Hash]v1.Layer{}
	r.used.mu.Lock()
	for key, u := range r.used.recs {
		if mode == "min" && !keep[u.stage.Index] {
			continue
		}
		cfg.Records[key] = u.rec
		if u.rec.Layer == nil {
			continue
		}
		digest, err1 := v1.NewHash(u.rec.Layer.Digest)
		diffID, err2 := v1.NewHash(u.rec.Layer.DiffID)
		if err := errors.Join(err1, err2); err != nil {
			r.used.mu.Unlock()
			return nil, err
		}
		layers[digest] = &blobLayer{st: r.b.store, digest: digest, diffID: diffID, size: u.rec.Layer.Size}
	}
	r.used.mu.Unlock()
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cfgHash, cfgSize, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
		Config: v1.Descriptor{MediaType: CacheMediaType, Size: cfgSize, Digest: cfgHash}}
	digests := make([]v1.Hash, 0, len(layers))
	for d := range layers {
		digests = append(digests, d)
	}
	sort.Slice(digests, func(i, j int) bool { return digests[i].String() < digests[j].String() })
	for _, d := range digests {
		size, _ := layers[d].Size()
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: types.OCILayer, Size: size, Digest: d})
	}
	rawManifest, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&builtImage{config: raw, manifest: rawManifest, layers: layers})
}

func writeCacheLayout(dir string, img v1.Image) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return err
		}
	}
	ann := map[string]string{export.RefNameAnnotation: cacheTag}
	return p.ReplaceImage(img, match.Annotation(export.RefNameAnnotation, cacheTag), layout.WithAnnotations(ann))
}

// cacheTag names the cache in a local cache layout (replaced on export).
const cacheTag = "buildcache"
