package build

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/internal/export"
)

// layoutTarget is a --cache-to type=local: an OCI image layout whose index
// names the cache manifest with the ref name "buildcache". Blobs are
// written through a temporary file renamed into place, so a blob that is
// there is whole; the index is replaced the same way, last.
type layoutTarget struct{ dir string }

func (t layoutTarget) blobPath(h v1.Hash) string {
	return filepath.Join(t.dir, "blobs", h.Algorithm, h.Hex)
}

// index reads index.json; an empty index when there is none.
func (t layoutTarget) index() (*v1.IndexManifest, error) {
	b, err := os.ReadFile(filepath.Join(t.dir, "index.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}, nil
	}
	if err != nil {
		return nil, err
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(t.dir, "index.json"), err)
	}
	return &idx, nil
}

func isCacheEntry(d v1.Descriptor) bool {
	return d.Annotations[export.RefNameAnnotation] == cacheTag
}

func (t layoutTarget) current(ctx context.Context) (*storedCache, error) {
	idx, err := t.index()
	if err != nil {
		return nil, err
	}
	for _, d := range idx.Manifests {
		if !isCacheEntry(d) {
			continue
		}
		raw, err := os.ReadFile(t.blobPath(d.Digest))
		if err != nil {
			return nil, nil // a damaged layout: written anew
		}
		return parseStoredCache(raw, func(h v1.Hash) ([]byte, error) { return os.ReadFile(t.blobPath(h)) })
	}
	return nil, nil
}

func (t layoutTarget) has(ctx context.Context, d v1.Descriptor) (bool, error) {
	fi, err := os.Stat(t.blobPath(d.Digest))
	return err == nil && fi.Size() == d.Size, nil
}

func (t layoutTarget) put(ctx context.Context, d v1.Descriptor, from string, open func() (io.ReadCloser, error)) (bool, error) {
	rc, err := open()
	if err != nil {
		return false, err
	}
	defer rc.Close()
	return false, t.writeFile(t.blobPath(d.Digest), func(w io.Writer) error {
		_, err := io.Copy(w, rc)
		return err
	})
}

// writeFile writes path through a temporary file in its directory.
func (t layoutTarget) writeFile(path string, fn func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // no-op after the rename
	if err := fn(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func (t layoutTarget) writeBytes(path string, b []byte) error {
	return t.writeFile(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

func (t layoutTarget) putConfig(ctx context.Context, img *cacheImage, prev *storedCache) error {
	cfgHash, _, _ := v1.SHA256(bytes.NewReader(img.config))
	return t.writeBytes(t.blobPath(cfgHash), img.config)
}

// commit writes the manifest, then the index naming it (replacing the
// earlier cache entry). In a layout that holds nothing but the cache, the
// blobs of the earlier cache the new one no longer names are removed.
func (t layoutTarget) commit(ctx context.Context, img *cacheImage, prev *storedCache) error {
	cfgHash, _, _ := v1.SHA256(bytes.NewReader(img.config))
	mHash, mSize, _ := v1.SHA256(bytes.NewReader(img.manifest))
	if err := t.writeBytes(t.blobPath(mHash), img.manifest); err != nil {
		return err
	}
	if err := t.writeBytes(filepath.Join(t.dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	idx, err := t.index()
	if err != nil {
		return err
	}
	entry := v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: mSize, Digest: mHash,
		Annotations: map[string]string{export.RefNameAnnotation: cacheTag}}
	others := idx.Manifests[:0:0]
	for _, d := range idx.Manifests {
		if !isCacheEntry(d) {
			others = append(others, d)
		}
	}
	idx.Manifests = append(others, entry)
	raw, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	if err := t.writeBytes(filepath.Join(t.dir, "index.json"), raw); err != nil {
		return err
	}
	if prev != nil && len(others) == 0 {
		t.removeStale(img, prev, cfgHash, mHash)
	}
	return nil
}

// removeStale removes the earlier cache's manifest, config and layers that
// the new cache does not name (best effort: a leftover blob only wastes
// space).
func (t layoutTarget) removeStale(img *cacheImage, prev *storedCache, cfg, manifest v1.Hash) {
	keep := map[v1.Hash]bool{cfg: true, manifest: true}
	for _, d := range img.layers {
		keep[d.Digest] = true
	}
	stale := []v1.Hash{prev.manifest, prev.config}
	for d := range prev.layers {
		stale = append(stale, d)
	}
	for _, h := range stale {
		if !keep[h] {
			os.Remove(t.blobPath(h))
		}
	}
}
