package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/internal/plan"
)

// cacheRecord is what the build cache keeps for one layer-making
// instruction: the layer it made (none when nothing changed) and its
// history text. Everything else of the next state follows from the
// instruction itself.
type cacheRecord struct {
	Layer     *recordLayer `json:"layer,omitempty"`
	CreatedBy string       `json:"created_by"`
}

type recordLayer struct {
	Digest string `json:"digest"`
	DiffID string `json:"diff_id"`
	Size   int64  `json:"size"`
	// MediaType is the blob's OCI layer media type (gzip or zstd); empty
	// in records written before records had one.
	MediaType types.MediaType `json:"media_type,omitempty"`
}

// mediaType is the layer's media type, gzip when the record predates them.
func (l *recordLayer) mediaType() types.MediaType {
	if l.MediaType == "" {
		return types.OCILayer
	}
	return l.MediaType
}

// ErrNeedsRun is what a CachedOnly build ends with at the first step it
// does not find in the store's cache: the step must run.
var ErrNeedsRun = errors.New("not in the build cache: the step must run")

// cachedOnlyKey marks the context of a CachedOnly build.
type cachedOnlyKey struct{}

// withCachedOnly marks ctx as a CachedOnly build's: state.stack extracts
// nothing under it.
func withCachedOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, cachedOnlyKey{}, true)
}

// keyOwnersKey is the context key of Options.KeyOwners.
type keyOwnersKey struct{}

// withKeyOwners has the keys made under ctx see file owners through f.
func withKeyOwners(ctx context.Context, f func(uid, gid uint32) (uint32, uint32)) context.Context {
	return context.WithValue(ctx, keyOwnersKey{}, f)
}

// keyOwners is how keys made under ctx see a file's owner, and a name of
// that view for memos of keys ("" as stat sees them).
func keyOwners(ctx context.Context) (func(uid, gid uint32) (uint32, uint32), string) {
	if f, ok := ctx.Value(keyOwnersKey{}).(func(uid, gid uint32) (uint32, uint32)); ok {
		return f, "\x00key-owners"
	}
	return func(uid, gid uint32) (uint32, uint32) { return uid, gid }, ""
}

// useCache reports whether lookups are allowed for stage s (--no-cache,
// --no-cache-filter).
func (r *run) useCache(s *plan.Stage) bool {
	if r.opts.NoCache {
		return false
	}
	for _, n := range r.opts.NoCacheFilter {
		if s.Name != "" && s.Name == n || s.DisplayName() == n {
			return false
		}
	}
	return true
}

// cached returns the state after a layer-making instruction: from the cache
// when a record for key exists (and its blob is in the store), else by
// running exec on a copy of st. Identical work in concurrent stages (the same
// key) runs once. The bool says whether the result came from the cache.
func (r *run) cached(ctx context.Context, stp step, st *state, key v1.Hash, exec func(*state) (*state, error)) (*state, bool, error) {
	if r.useCache(stp.stage) {
		rec, ok := r.lookup(ctx, key)
		var l v1.Layer // the record's layer when not (yet) in the store
		if ok {
			_ = r.b.store.TouchCacheRecord(ctx, key) // best effort: LRU order for prune
		} else if !r.opts.CachedOnly { // an imported record's layer is fetched
			rec, l, ok = r.lookupImported(ctx, key)
		}
		if ok {
			r.used.add(key, rec, stp.stage)
			next, err := r.apply(st, rec, l, key, stp)
			return next, err == nil, err
		}
	}
	if r.opts.CachedOnly {
		// Nothing runs, so nothing is extracted either (state.stack is
		// reached from exec alone).
		return nil, false, fmt.Errorf("%s: %w", commandText(stp.cmd), ErrNeedsRun)
	}
	ran := false
	v, err, _ := r.steps.Do(key.Hex, func() (any, error) {
		ran = true
		next, err := exec(st.clone())
		if err != nil {
			return nil, err
		}
		rec, err := recordOf(next, len(st.layers))
		if err != nil {
			return nil, err
		}
		if b, err := json.Marshal(rec); err == nil {
			if err := r.b.store.PutCacheRecord(ctx, key, b); err != nil {
				r.opts.Progress.Warn(fmt.Sprintf("not caching a step: %v", err))
			}
		}
		return rec, nil
	})
	if err != nil {
		return nil, false, err
	}
	r.used.add(key, v.(*cacheRecord), stp.stage)
	next, err := r.apply(st, v.(*cacheRecord), nil, key, stp)
	return next, !ran && err == nil, err
}

// lookup reads a usable record: its layer blob must still be in the store.
func (r *run) lookup(ctx context.Context, key v1.Hash) (*cacheRecord, bool) {
	b, err := r.b.store.CacheRecord(ctx, key)
	if err != nil {
		return nil, false
	}
	var rec cacheRecord
	if json.Unmarshal(b, &rec) != nil {
		return nil, false
	}
	if rec.Layer != nil {
		// The blob must be there, whole: a truncated or missing blob makes
		// the record useless, and the step runs again.
		h, err := v1.NewHash(rec.Layer.Digest)
		if err != nil {
			return nil, false
		}
		if size, err := r.b.store.BlobSize(ctx, h); err != nil || size != rec.Layer.Size {
			return nil, false
		}
	}
	return &rec, true
}

// apply adds a record's layer and history to st; the layer remembers the
// step that made it. l is the layer when it is not in the store (an
// imported record's, fetched when read); nil: the record's blob, stored.
func (r *run) apply(st *state, rec *cacheRecord, l v1.Layer, key v1.Hash, stp step) (*state, error) {
	next := st.clone()
	next.key = key
	if rec.Layer == nil {
		next.history(rec.CreatedBy, false, r.opts.Timestamp)
		return next, nil
	}
	if l == nil {
		digest, diffID, err := rec.Layer.hashes()
		if err != nil {
			return nil, fmt.Errorf("reading cache record: %w", err)
		}
		l = &blobLayer{st: r.b.store, digest: digest, diffID: diffID, size: rec.Layer.Size, mediaType: rec.Layer.MediaType}
	}
	next.layers = append(next.layers, &layerRef{layer: l, source: r.stepSource(stp)})
	next.history(rec.CreatedBy, true, r.opts.Timestamp)
	return next, nil
}

// hashes parses the layer's digest and diff ID.
func (l *recordLayer) hashes() (digest, diffID v1.Hash, err error) {
	if digest, err = v1.NewHash(l.Digest); err != nil {
		return digest, diffID, err
	}
	diffID, err = v1.NewHash(l.DiffID)
	return digest, diffID, err
}

// recordOf describes what an executed instruction added to a state that
// had base layers.
func recordOf(next *state, base int) (*cacheRecord, error) {
	if len(next.img.History) == 0 {
		return nil, errors.New("recording a step: no history")
	}
	h := next.img.History[len(next.img.History)-1]
	rec := &cacheRecord{CreatedBy: h.CreatedBy}
	if len(next.layers) == base {
		return rec, nil
	}
	l := next.layers[len(next.layers)-1].layer
	digest, err := l.Digest()
	if err != nil {
		return nil, err
	}
	diffID, err := l.DiffID()
	if err != nil {
		return nil, err
	}
	size, err := l.Size()
	if err != nil {
		return nil, err
	}
	mt, err := l.MediaType()
	if err != nil {
		return nil, err
	}
	rec.Layer = &recordLayer{Digest: digest.String(), DiffID: diffID.String(), Size: size, MediaType: ociMediaType(mt)}
	return rec, nil
}

// baseKey is the cache key of a stage's starting state.
func baseKey(kind string, ids ...string) v1.Hash {
	return newKeyer("base").add(kind).add(slices.Clone(ids)...).sum()
}

// stepSource names a step as an SBOM or provenance shows it:
// "Dockerfile:12 RUN apt-get install -y curl".
func (r *run) stepSource(stp step) string {
	return fmt.Sprintf("%s:%d %s", r.plan.File.Name, stp.line, commandText(stp.cmd))
}
