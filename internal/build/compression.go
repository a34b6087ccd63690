package build

// Layer compression as BuildKit applies it: the layers this build's steps
// make get the requested compression; layers that already exist (a base
// image's, cache hits made at another compression) keep theirs unless a
// variant in the requested compression is stored, or force-compression
// converts every layer. Conversion decompresses the blob and compresses
// the same tar bytes again, so diff IDs never change.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/strata-build/strata/internal/attest"
	"github.com/strata-build/strata/internal/layer"
	"github.com/strata-build/strata/internal/store"
)

// LayerCompression is how an output wants an image's layers: a
// compression, and whether every layer is converted to it
// (force-compression=true).
type LayerCompression struct {
	Compression layer.Compression
	Force       bool
}

// normalized fills in the compression's defaults.
func (lc LayerCompression) normalized() LayerCompression {
	lc.Compression = lc.Compression.Normalized()
	return lc
}

// madeLayers are the diff IDs of the layers this build's steps made.
type madeLayers struct {
	mu  sync.Mutex
	ids map[v1.Hash]bool
}

func (m *madeLayers) add(h v1.Hash) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ids == nil {
		m.ids = map[v1.Hash]bool{}
	}
	m.ids[h] = true
}

func (m *madeLayers) has(h v1.Hash) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ids[h]
}

// snapshot is a copy of the set.
func (m *madeLayers) snapshot() map[v1.Hash]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[v1.Hash]bool, len(m.ids))
	for h := range m.ids {
		out[h] = true
	}
	return out
}

// converter applies LayerCompression to layers, converting through the
// store's variants.
type converter struct {
	st     *store.Store
	lc     LayerCompression
	made   func(v1.Hash) bool
	flight singleflight.Group // one conversion per diff ID at a time
}

func newConverter(st *store.Store, lc LayerCompression, made func(v1.Hash) bool) *converter {
	return &converter{st: st, lc: lc.normalized(), made: made}
}

// layers applies layer to each of ls, several at once (decompressing a
// blob takes one core; compressing takes them all, so two overlap well).
func (c *converter) layers(ctx context.Context, ls []v1.Layer) ([]v1.Layer, error) {
	out := make([]v1.Layer, len(ls))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, l := range ls {
		g.Go(func() error {
			var err error
			out[i], err = c.layer(gctx, l)
			return err
		})
	}
	return out, g.Wait()
}

// layer returns l as the rule says: unchanged, a stored variant, or a
// new conversion (stored, and remembered as a variant).
func (c *converter) layer(ctx context.Context, l v1.Layer) (v1.Layer, error) {
	want := c.lc.Compression
	if bl, ok := l.(*blobLayer); ok && bl.comp == want.ID() {
		return l, nil
	}
	diffID, err := l.DiffID()
	if err != nil {
		return nil, err
	}
	mt, err := l.MediaType()
	if err != nil {
		return nil, err
	}
	kind, known := layer.KindOf(mt)
	fresh := c.made(diffID)
	if !known || kind == want.Kind && !fresh && !c.lc.Force {
		return l, nil // foreign and unknown layers are never converted
	}
	if v, ok := c.st.Variant(ctx, diffID, want.ID()); ok {
		return c.variantLayer(diffID, v), nil
	}
	if !fresh && !c.lc.Force {
		return l, nil
	}
	v, err, _ := c.flight.Do(diffID.Hex, func() (any, error) {
		if v, ok := c.st.Variant(ctx, diffID, want.ID()); ok {
			return c.variantLayer(diffID, v), nil // converted meanwhile
		}
		return c.convert(ctx, l, diffID)
	})
	if err != nil {
		return nil, err
	}
	return v.(v1.Layer), nil
}

func (c *converter) variantLayer(diffID v1.Hash, v store.Variant) *blobLayer {
	return &blobLayer{st: c.st, digest: v.Digest, diffID: diffID, size: v.Size, mediaType: v.MediaType, comp: c.lc.Compression.ID()}
}

// convert compresses l's tar again as wanted and remembers the variant.
func (c *converter) convert(ctx context.Context, l v1.Layer, diffID v1.Hash) (v1.Layer, error) {
	want := c.lc.Compression
	rc, err := l.Compressed()
	if err != nil {
		return nil, fmt.Errorf("converting layer %s to %s: %w", diffID, want.ID(), err)
	}
	defer rc.Close()
	var desc layer.Descriptor
	digest, size, err := c.st.WriteBlob(ctx, func(w io.Writer) error {
		var err error
		desc, err = layer.Recompress(rc, w, want)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("converting layer %s to %s: %w", diffID, want.ID(), err)
	}
	if desc.DiffID != diffID {
		return nil, fmt.Errorf("converting layer %s to %s: its tar has diff ID %s", diffID, want.ID(), desc.DiffID)
	}
	v := store.Variant{Digest: digest, Size: size, MediaType: desc.MediaType}
	if err := c.st.PutVariant(ctx, diffID, want.ID(), v); err != nil {
		return nil, err
	}
	return c.variantLayer(diffID, v), nil
}

// compressed returns st with its layers as the build's compression
// says (the target image's: Options.Compression, ForceCompression).
func (r *run) compressed(ctx context.Context, st *state) (*state, error) {
	c := newConverter(r.b.store, r.layerCompression(), r.made.has)
	in := make([]v1.Layer, len(st.layers))
	for i, ref := range st.layers {
		in[i] = ref.layer
	}
	ls, err := c.layers(ctx, in)
	if err != nil {
		return nil, err
	}
	next := st.clone()
	next.layers = make([]*layerRef, len(st.layers))
	for i, ref := range st.layers {
		next.layers[i] = ref
		if ls[i] != ref.layer {
			next.layers[i] = &layerRef{layer: ls[i], source: ref.source}
		}
	}
	return next, nil
}

// layerCompression is the build's own.
func (r *run) layerCompression() LayerCompression {
	return LayerCompression{Compression: r.opts.Compression, Force: r.opts.ForceCompression}.normalized()
}

// Recompressed returns res as an output asking lc gets it: res itself when
// lc is the build's own, else its images (and index, made again with its
// attestations) with layers converted as the rule says. Converted blobs
// are stored and remembered as variants; the images are not stored.
func Recompressed(ctx context.Context, st *store.Store, res *Result, lc LayerCompression) (*Result, error) {
	lc = lc.normalized()
	if lc == res.compression {
		return res, nil
	}
	made := func(h v1.Hash) bool { return res.made[h] }
	c := newConverter(st, lc, made)
	out := *res
	out.Platforms = make([]PlatformResult, len(res.Platforms))
	for i, pr := range res.Platforms {
		img, err := c.image(ctx, pr.Image)
		if err != nil {
			return nil, err
		}
		if pr.Digest, err = img.Digest(); err != nil {
			return nil, err
		}
		pr.Image = img
		out.Platforms[i] = pr
	}
	out.Image, out.Digest = out.Platforms[0].Image, out.Platforms[0].Digest
	out.compression = lc
	if res.Index == nil {
		return &out, nil
	}
	idx, err := IndexOf(out.Platforms, res.names, attest.FormArtifact)
	if err != nil {
		return nil, fmt.Errorf("assembling the image index: %w", err)
	}
	out.Index = annotateIndex(idx, res.indexAnn)
	if out.IndexDigest, err = out.Index.Digest(); err != nil {
		return nil, err
	}
	return &out, nil
}

// image returns img with its layers converted; config and everything else
// of the manifest stay.
func (c *converter) image(ctx context.Context, img v1.Image) (v1.Image, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	converted, err := c.layers(ctx, layers)
	if err != nil {
		return nil, err
	}
	out := *m
	out.Layers = make([]v1.Descriptor, len(m.Layers))
	byDigest := map[v1.Hash]v1.Layer{}
	for i, nl := range converted {
		d, err := partial.Descriptor(nl)
		if err != nil {
			return nil, fmt.Errorf("describing layer: %w", err)
		}
		desc := m.Layers[i]
		desc.MediaType, desc.Digest, desc.Size = ociMediaType(d.MediaType), d.Digest, d.Size
		out.Layers[i] = desc
		byDigest[d.Digest] = nl
	}
	rawCfg, err := img.RawConfigFile()
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encoding manifest: %w", err)
	}
	if bytes.Equal(raw, mustRaw(img)) {
		return img, nil
	}
	return partial.CompressedToImage(&builtImage{config: rawCfg, manifest: raw, layers: byDigest})
}

// mustRaw is img's raw manifest, nil when it cannot be read.
func mustRaw(img v1.Image) []byte {
	b, _ := img.RawManifest()
	return b
}
