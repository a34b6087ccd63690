package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The build cache index maps a cache key (a digest of an instruction and
// everything it depends on) to a small record the build engine defines:
// ROOT/cache/<key hex>. Records are written atomically; the layer blobs they
// name are ordinary blobs.

func (s *Store) cachePath(key v1.Hash) string {
	return filepath.Join(s.root, "cache", key.Hex)
}

// CacheRecord returns the build-cache record for key, or ErrNotFound.
func (s *Store) CacheRecord(ctx context.Context, key v1.Hash) ([]byte, error) {
	b, err := os.ReadFile(s.cachePath(key))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading cache record %s: %w", key, err)
	}
	return b, nil
}

// PutCacheRecord stores the build-cache record for key.
func (s *Store) PutCacheRecord(ctx context.Context, key v1.Hash, data []byte) error {
	if err := os.MkdirAll(filepath.Join(s.root, "cache"), 0o700); err != nil {
		return fmt.Errorf("writing cache record %s: %w", key, err)
	}
	if err := writeFileAtomic(s.tmp, s.cachePath(key), data, false); err != nil {
		return fmt.Errorf("writing cache record %s: %w", key, err)
	}
	return nil
}

// CacheKeys lists the keys of every build-cache record.
func (s *Store) CacheKeys(ctx context.Context) ([]v1.Hash, error) {
	entries, err := os.ReadDir(filepath.Join(s.root, "cache"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("listing cache records: %w", err)
	}
	var keys []v1.Hash
	for _, e := range entries {
		if h, err := v1.NewHash("sha256:" + e.Name()); err == nil {
			keys = append(keys, h)
		}
	}
	return keys, nil
}

// Meta returns a small metadata file the build keeps in the store
// (ROOT/meta/NAME), or ErrNotFound.
func (s *Store) Meta(ctx context.Context, name string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(s.root, "meta", filepath.Base(name)))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return b, nil
}

// PutMeta writes a metadata file atomically.
func (s *Store) PutMeta(ctx context.Context, name string, data []byte) error {
	dir := filepath.Join(s.root, "meta")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := writeFileAtomic(s.tmp, filepath.Join(dir, filepath.Base(name)), data, false); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}
