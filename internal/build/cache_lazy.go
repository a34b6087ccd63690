package build

import (
	"context"
	"fmt"
	"io"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/internal/store"
)

// lazyLayer is the layer of an imported cache record whose blob is not in
// the store yet. Describing it (digest, diff ID, size, media type) costs
// nothing; the first read of its content (Compressed, Uncompressed: a RUN
// or COPY over it extracting its directory, the target image written to
// the store, an export that cannot mount it) fetches the blob from its
// cache source into the store, verified by digest, once however many
// readers ask at the same time; later reads are the store's. A builder
// stage whose steps all hit and whose output the target reads through
// cache hits too is therefore never fetched.
type lazyLayer struct {
	st        *store.Store
	src       *cacheSource
	digest    v1.Hash
	diffID    v1.Hash
	size      int64
	mediaType types.MediaType
	stats     *CachePhase // counts the fetch

	mu      sync.Mutex
	fetched bool
}

var _ v1.Layer = (*lazyLayer)(nil)

func (l *lazyLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *lazyLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *lazyLayer) Size() (int64, error)                { return l.size, nil }
func (l *lazyLayer) MediaType() (types.MediaType, error) { return l.mediaType, nil }

// Compressed fetches the blob if needed and reads it from the store.
func (l *lazyLayer) Compressed() (io.ReadCloser, error) {
	if err := l.fetch(context.Background()); err != nil {
		return nil, err
	}
	return l.stored().Compressed()
}

// Uncompressed fetches the blob if needed and decompresses it from the store.
func (l *lazyLayer) Uncompressed() (io.ReadCloser, error) {
	if err := l.fetch(context.Background()); err != nil {
		return nil, err
	}
	return l.stored().Uncompressed()
}

// isFetched reports whether the blob is in the store through this layer.
func (l *lazyLayer) isFetched() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fetched
}

// stored is the layer as a store blob (once fetched).
func (l *lazyLayer) stored() *blobLayer {
	return &blobLayer{st: l.st, digest: l.digest, diffID: l.diffID, size: l.size, mediaType: l.mediaType}
}

// fetch copies the blob from the cache source into the store; concurrent
// callers wait for the one fetch. A failed fetch is tried again by the
// next reader.
func (l *lazyLayer) fetch(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fetched {
		return nil
	}
	if size, err := l.st.BlobSize(ctx, l.digest); err == nil && size == l.size {
		l.fetched = true // stored meanwhile by another path (a step that made the same layer)
		return nil
	}
	done := l.stats.begin()
	var n int64
	err := l.st.PutBlob(ctx, l.digest, func(w io.Writer) error {
		cl, err := l.src.img.LayerByDigest(l.digest)
		if err != nil {
			return err
		}
		rc, err := cl.Compressed()
		if err != nil {
			return err
		}
		defer rc.Close()
		n, err = io.Copy(w, rc)
		return err
	})
	done(n, err == nil)
	if err != nil {
		return fmt.Errorf("fetching cache layer %s from %s: %w", l.digest, l.src.name, err)
	}
	l.fetched = true
	return nil
}

// storeStageImage stores the image of a stage in the store, as finish does
// for every stage, except a stage other than the target that has imported
// layers not fetched: its image is only described (its manifest digest), so
// that a builder stage whose steps all hit the cache, and whose output the
// target read through cache hits too, costs no download.
func (r *run) storeStageImage(ctx context.Context, st *state, img v1.Image, target bool, opts ...store.WriteOption) (v1.Hash, error) {
	if !target && st.hasUnfetched() {
		return img.Digest()
	}
	return r.b.store.WriteImage(ctx, img, opts...)
}

// hasUnfetched reports whether a layer of s is an imported layer whose
// blob is not in the store.
func (s *state) hasUnfetched() bool {
	for _, l := range s.layers {
		if lz, ok := l.layer.(*lazyLayer); ok && !lz.isFetched() {
			return true
		}
	}
	return false
}
