package build

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/internal/layer"
	"github.com/strata-build/strata/internal/store"
)

// image assembles the state's OCI image: config and manifest are written
// here deterministically; layer blobs are read from the store.
func (s *state) image(st *store.Store) (v1.Image, error) {
	cfg := s.img
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = cfg.RootFS.DiffIDs[:0:0]
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Layers:        make([]v1.Descriptor, 0, len(s.layers)),
	}
	byDigest := map[v1.Hash]v1.Layer{}
	for _, l := range s.layers {
		d, err := partial.Descriptor(l.layer)
		if err != nil {
			return nil, fmt.Errorf("describing layer: %w", err)
		}
		diffID, err := l.layer.DiffID()
		if err != nil {
			return nil, fmt.Errorf("describing layer: %w", err)
		}
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: ociMediaType(d.MediaType), Size: d.Size, Digest: d.Digest})
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, digestOf(diffID))
		byDigest[d.Digest] = l.layer
	}
	rawCfg, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encoding image config: %w", err)
	}
	cfgHash, cfgSize, err := v1.SHA256(bytes.NewReader(rawCfg))
	if err != nil {
		return nil, err
	}
	m.Config = v1.Descriptor{MediaType: types.OCIConfigJSON, Size: cfgSize, Digest: cfgHash}
	rawManifest, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding manifest: %w", err)
	}
	return partial.CompressedToImage(&builtImage{config: rawCfg, manifest: rawManifest, layers: byDigest})
}

// ociMediaType maps Docker layer media types to their OCI equivalents (the
// bytes are the same).
func ociMediaType(mt types.MediaType) types.MediaType {
	switch mt {
	case types.DockerLayer:
		return types.OCILayer
	case types.DockerUncompressedLayer:
		return types.OCIUncompressedLayer
	case types.DockerForeignLayer:
		return types.OCIRestrictedLayer
	case layer.DockerZstdLayer:
		return types.OCILayerZStd
	}
	return mt
}

// builtImage is a v1 image core over precomputed config and manifest bytes.
type builtImage struct {
	config, manifest []byte
	layers           map[v1.Hash]v1.Layer
}

var _ partial.CompressedImageCore = (*builtImage)(nil)

func (b *builtImage) RawConfigFile() ([]byte, error)      { return b.config, nil }
func (b *builtImage) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (b *builtImage) RawManifest() ([]byte, error)        { return b.manifest, nil }

func (b *builtImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if l, ok := b.layers[h]; ok {
		return l, nil
	}
	cfg, _, _ := v1.SHA256(bytes.NewReader(b.config))
	if h == cfg {
		return partial.ConfigLayer(b)
	}
	return nil, fmt.Errorf("layer %s not in image", h)
}

// blobLayer is a layer blob kept in the store: gzip, zstd or a plain tar.
// mediaType, when empty (a cache record written before records had one),
// is told from the blob's first bytes; comp is the compression ID
// ("gzip-6") when known, for blobs this strata compressed.
type blobLayer struct {
	st        *store.Store
	digest    v1.Hash
	diffID    v1.Hash
	size      int64
	mediaType types.MediaType
	comp      string

	sniffOnce sync.Once
	sniffed   types.MediaType
}

var _ v1.Layer = (*blobLayer)(nil)

func (l *blobLayer) Digest() (v1.Hash, error) { return l.digest, nil }
func (l *blobLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }
func (l *blobLayer) Size() (int64, error)     { return l.size, nil }

// MediaType is the OCI layer type of the blob's compression.
func (l *blobLayer) MediaType() (types.MediaType, error) {
	if l.mediaType != "" {
		return l.mediaType, nil
	}
	l.sniffOnce.Do(func() { l.sniffed = sniffMediaType(l.st, l.digest) })
	return l.sniffed, nil
}

// sniffMediaType tells a stored layer blob's compression by its magic
// number (gzip when it cannot be read: the open fails later anyway).
func sniffMediaType(st *store.Store, h v1.Hash) types.MediaType {
	rc, err := st.OpenBlob(context.Background(), h)
	if err != nil {
		return types.OCILayer
	}
	defer rc.Close()
	var head [4]byte
	n, _ := io.ReadFull(rc, head[:])
	switch {
	case n >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		return types.OCILayer
	case n == 4 && head == [4]byte{0x28, 0xb5, 0x2f, 0xfd}:
		return types.OCILayerZStd
	}
	return types.OCIUncompressedLayer
}

func (l *blobLayer) Compressed() (io.ReadCloser, error) {
	return l.st.OpenBlob(context.Background(), l.digest)
}

func (l *blobLayer) Uncompressed() (io.ReadCloser, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	tr, err := layer.Decompress(rc)
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("reading layer %s: %w", l.digest, err)
	}
	return &readCloser{Reader: tr, close: func() error { tr.Close(); return rc.Close() }}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }
