package build

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/strata-build/strata/internal/layer"
	"github.com/strata-build/strata/internal/store"
)

// layerDir makes a fresh, empty layer directory. Its own mode is what the
// root directory gets when overlayfs uses it as the upper dir: 0755.
func (r *run) layerDir(ctx context.Context) (string, error) {
	dir, err := r.b.store.LayerTempDir(ctx)
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("making layer dir: %w", err)
	}
	return dir, nil
}

// commitLayer turns an overlay-format directory into the state's next layer:
// the compressed blob goes to the store and the directory itself is adopted
// as the layer's extracted form. An empty directory adds no layer, only history.
func (r *run) commitLayer(ctx context.Context, st *state, dir, createdBy string) (*state, error) {
	return r.commitUpper(ctx, st, dir, createdBy, nil, time.Time{})
}

// commitUpper commits dir, an overlay upper dir over lower (nil for a
// layer dir made from nothing) that a step started writing at since:
// entries only copied up from lower are left out of the layer, as
// BuildKit's differ leaves them out.
func (r *run) commitUpper(ctx context.Context, st *state, dir, createdBy string, lower layer.LowerFS, since time.Time) (*state, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading layer: %w", err)
	}
	tm := r.opts.Timestamp
	if len(entries) == 0 {
		os.RemoveAll(dir)
		st.history(createdBy, false, tm)
		return st, nil
	}
	var desc layer.Descriptor
	comp := r.opts.Compression.Normalized()
	digest, size, err := r.b.store.WriteBlob(ctx, func(w io.Writer) error {
		var err error
		desc, err = layer.WriteCompressed(ctx, dir, w, layer.WriteOptions{Clamp: &tm, Compression: comp, Lower: lower, Since: since})
		return err
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("writing layer: %w", err)
	}
	adopted, err := r.b.store.AdoptLayerDir(ctx, desc.DiffID, dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("storing layer: %w", err)
	}
	if desc.TarSize > 0 { // best effort: strata images measures it otherwise
		_ = r.b.store.RecordUncompressedSize(ctx, desc.DiffID, desc.TarSize)
	}
	l := &blobLayer{st: r.b.store, digest: digest, diffID: desc.DiffID, size: size, mediaType: desc.MediaType, comp: comp.ID()}
	r.made.add(desc.DiffID)
	if err := r.b.store.PutVariant(ctx, desc.DiffID, comp.ID(), store.Variant{Digest: digest, Size: size, MediaType: desc.MediaType}); err != nil {
		r.opts.Progress.Warn(err.Error())
	}
	st.layers = append(st.layers, newLayerRef(l, adopted))
	st.history(createdBy, true, tm)
	return st, nil
}
