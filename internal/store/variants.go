package store

// Compression variants: the same layer tar (one diff ID) stored as blobs
// of other compressions, so a build that asks for zstd once a layer was
// converted reuses the conversion. ROOT/variants/<diff ID hex>.json maps a
// compression ID ("gzip-6", "zstd-3", "uncompressed") to a blob. The blobs
// are ordinary blobs: roots only through the images and records that
// name them, swept by prune otherwise; a variant whose blob is gone is
// ignored.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Variant is a blob holding a layer's tar in some compression.
type Variant struct {
	Digest    v1.Hash         `json:"digest"`
	Size      int64           `json:"size"`
	MediaType types.MediaType `json:"media_type"`
}

func (s *Store) variantsPath(diffID v1.Hash) string {
	return filepath.Join(s.root, "variants", diffID.Hex+".json")
}

// readVariants reads the variants file of diffID (none: an empty map).
func (s *Store) readVariants(diffID v1.Hash) (map[string]Variant, error) {
	b, err := os.ReadFile(s.variantsPath(diffID))
	if errors.Is(err, os.ErrNotExist) {
		return map[string]Variant{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]Variant{}
	if err := json.Unmarshal(b, &out); err != nil {
		return map[string]Variant{}, nil // damaged: rewritten by the next PutVariant
	}
	return out, nil
}

// Variant returns the stored blob of diffID's tar compressed as id, if
// its blob is in the store, whole.
func (s *Store) Variant(ctx context.Context, diffID v1.Hash, id string) (Variant, bool) {
	vs, err := s.readVariants(diffID)
	if err != nil {
		return Variant{}, false
	}
	v, ok := vs[id]
	if !ok {
		return Variant{}, false
	}
	if size, err := s.BlobSize(ctx, v.Digest); err != nil || size != v.Size {
		return Variant{}, false
	}
	return v, true
}

// PutVariant remembers that blob v holds diffID's tar compressed as id.
// Variants whose blobs are gone are dropped on the way.
func (s *Store) PutVariant(ctx context.Context, diffID v1.Hash, id string, v Variant) error {
	if id == "" || v.Digest.Hex == "" {
		return errors.New("recording a layer variant: no compression or digest")
	}
	lock := filepath.Join(s.root, "locks", "variants-"+diffID.Hex)
	err := withFileLock(ctx, lock, func() error {
		vs, err := s.readVariants(diffID)
		if err != nil {
			return err
		}
		if old, ok := vs[id]; ok && old == v {
			return nil
		}
		for k, old := range vs {
			if !s.HasBlob(ctx, old.Digest) {
				delete(vs, k)
			}
		}
		vs[id] = v
		b, err := json.Marshal(vs)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(s.root, "variants"), 0o700); err != nil {
			return err
		}
		return writeCacheFile(s.tmp, s.variantsPath(diffID), b)
	})
	if err != nil {
		return fmt.Errorf("recording a layer variant: %w", err)
	}
	return nil
}

// writeCacheFile writes data to path through a renamed temp file (0600),
// without fsync: a variants file is a cache, and one a crash damaged
// reads as empty.
func writeCacheFile(tmpDir, path string, data []byte) error {
	f, err := os.CreateTemp(tmpDir, "v*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// pruneVariants removes the variants files all of whose blobs are gone
// (after a sweep of blobs).
func (s *Store) pruneVariants(ctx context.Context) error {
	entries, err := os.ReadDir(filepath.Join(s.root, "variants"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		hex, ok := trimJSON(e.Name())
		if !ok {
			continue
		}
		vs, err := s.readVariants(v1.Hash{Algorithm: "sha256", Hex: hex})
		if err != nil {
			continue
		}
		live := false
		for _, v := range vs {
			live = live || s.HasBlob(ctx, v.Digest)
		}
		if !live {
			if err := os.Remove(filepath.Join(s.root, "variants", e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

func trimJSON(name string) (string, bool) {
	const ext = ".json"
	if len(name) <= len(ext) || name[len(name)-len(ext):] != ext {
		return "", false
	}
	return name[:len(name)-len(ext)], true
}
