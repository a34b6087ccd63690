package store

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// DefaultWriteJobs bounds how many layers WriteImage copies at once, as
// go-containerregistry's remote package bounds its transfers.
const DefaultWriteJobs = 4

// WriteOption changes how WriteImage writes.
type WriteOption func(*writeOptions)

type writeOptions struct{ jobs int }

// WithJobs makes WriteImage copy up to n layers at once (n < 1: the default).
func WithJobs(n int) WriteOption {
	return func(o *writeOptions) {
		if n > 0 {
			o.jobs = n
		}
	}
}

// WriteImage stores img (every blob not yet present, config, manifest) and
// returns its manifest digest. Layers are streamed, DefaultWriteJobs at once
// (see WithJobs), and their digests verified; the manifest is written last,
// so a stored manifest implies its blobs are stored.
func (s *Store) WriteImage(ctx context.Context, img v1.Image, opts ...WriteOption) (v1.Hash, error) {
	o := writeOptions{jobs: DefaultWriteJobs}
	for _, opt := range opts {
		opt(&o)
	}
	h, err := s.writeImageJobs(ctx, img, o.jobs)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("writing image: %w", err)
	}
	return h, nil
}

func (s *Store) writeImage(ctx context.Context, img v1.Image) (v1.Hash, error) {
	return s.writeImageJobs(ctx, img, DefaultWriteJobs)
}

func (s *Store) writeImageJobs(ctx context.Context, img v1.Image, jobs int) (v1.Hash, error) {
	h, err := img.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	if s.HasBlob(ctx, h) {
		return h, nil // manifests are written last: its blobs are here
	}
	layers, err := img.Layers()
	if err != nil {
		return v1.Hash{}, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for _, l := range layers {
		g.Go(func() error { return s.writeLayer(gctx, l) })
	}
	if err := g.Wait(); err != nil {
		return v1.Hash{}, err
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return v1.Hash{}, err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return v1.Hash{}, err
	}
	if err := s.writeBytes(ctx, cfgName, cfg); err != nil {
		return v1.Hash{}, fmt.Errorf("writing config: %w", err)
	}
	m, err := img.RawManifest()
	if err != nil {
		return v1.Hash{}, err
	}
	if err := s.writeBytes(ctx, h, m); err != nil {
		return v1.Hash{}, fmt.Errorf("writing manifest: %w", err)
	}
	return h, nil
}

func (s *Store) writeLayer(ctx context.Context, l v1.Layer) error {
	d, err := l.Digest()
	if err != nil {
		return fmt.Errorf("reading layer digest: %w", err)
	}
	if s.HasBlob(ctx, d) {
		return nil
	}
	err = s.writeBlobVerified(ctx, d, func(w io.Writer) error {
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = io.Copy(w, rc)
		return err
	})
	if err != nil {
		return fmt.Errorf("writing layer %s: %w", d, err)
	}
	return nil
}

func (s *Store) writeBytes(ctx context.Context, h v1.Hash, b []byte) error {
	if s.HasBlob(ctx, h) {
		return nil
	}
	return s.writeBlobVerified(ctx, h, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// Image returns the stored image with manifest digest h. Its blobs are read
// from the store when asked for.
func (s *Store) Image(ctx context.Context, h v1.Hash) (v1.Image, error) {
	raw, err := s.readBlob(h)
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", h, err)
	}
	var m struct {
		MediaType types.MediaType `json:"mediaType"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("reading image %s: %w", h, err)
	}
	if m.MediaType == "" {
		m.MediaType = types.OCIManifestSchema1
	}
	if !m.MediaType.IsImage() {
		return nil, fmt.Errorf("reading image %s: media type %s is not an image manifest", h, m.MediaType)
	}
	img, err := partial.CompressedToImage(&storeImage{s: s, raw: raw, mt: m.MediaType})
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", h, err)
	}
	return img, nil
}

// storeImage is an image whose blobs are in the store.
type storeImage struct {
	s   *Store
	raw []byte
	mt  types.MediaType

	diffIDsOnce sync.Once
	diffIDs     []v1.Hash // from the config, read once
}

var _ partial.CompressedImageCore = (*storeImage)(nil)

func (i *storeImage) MediaType() (types.MediaType, error) { return i.mt, nil }
func (i *storeImage) RawManifest() ([]byte, error)        { return i.raw, nil }

func (i *storeImage) RawConfigFile() ([]byte, error) {
	m, err := partial.Manifest(i)
	if err != nil {
		return nil, err
	}
	return i.s.readBlob(m.Config.Digest)
}

func (i *storeImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	m, err := partial.Manifest(i)
	if err != nil {
		return nil, err
	}
	if h == m.Config.Digest {
		return &storeBlob{s: i.s, desc: m.Config}, nil
	}
	for n, d := range m.Layers {
		if d.Digest == h {
			return i.layer(n, d), nil
		}
	}
	return nil, fmt.Errorf("finding layer %s in manifest: %w", h, ErrNotFound)
}

// layer returns the n-th layer, with its diff ID from the config when the
// config lists one, so that nobody decompresses a layer to learn it.
func (i *storeImage) layer(n int, d v1.Descriptor) partial.CompressedLayer {
	b := &storeBlob{s: i.s, desc: d}
	i.diffIDsOnce.Do(func() {
		raw, err := i.RawConfigFile()
		if err != nil {
			return
		}
		var cfg struct {
			RootFS struct {
				DiffIDs []v1.Hash `json:"diff_ids"`
			} `json:"rootfs"`
		}
		if json.Unmarshal(raw, &cfg) == nil {
			i.diffIDs = cfg.RootFS.DiffIDs
		}
	})
	if n >= len(i.diffIDs) {
		return b
	}
	return &storeLayer{storeBlob: b, diffID: i.diffIDs[n]}
}

// storeLayer is a stored layer blob whose diff ID the config gives.
type storeLayer struct {
	*storeBlob
	diffID v1.Hash
}

// DiffID implements partial.WithDiffID.
func (l *storeLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }

// storeBlob is a stored blob described by a manifest descriptor.
type storeBlob struct {
	s    *Store
	desc v1.Descriptor
}

func (b *storeBlob) Digest() (v1.Hash, error)            { return b.desc.Digest, nil }
func (b *storeBlob) Size() (int64, error)                { return b.desc.Size, nil }
func (b *storeBlob) MediaType() (types.MediaType, error) { return b.desc.MediaType, nil }
func (b *storeBlob) Descriptor() (*v1.Descriptor, error) {
	d := b.desc
	return &d, nil
}

func (b *storeBlob) Compressed() (io.ReadCloser, error) {
	return b.s.OpenBlob(context.Background(), b.desc.Digest)
}
