package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// blobPath is where blob h lives.
func (s *Store) blobPath(h v1.Hash) string {
	return filepath.Join(s.root, "blobs", h.Algorithm, h.Hex)
}

// HasBlob reports whether blob h is stored.
func (s *Store) HasBlob(ctx context.Context, h v1.Hash) bool {
	_, err := os.Stat(s.blobPath(h))
	return err == nil
}

// WriteBlob stores what fn writes, named by its sha256, and returns digest and size.
func (s *Store) WriteBlob(ctx context.Context, fn func(w io.Writer) error) (v1.Hash, int64, error) {
	h, n, err := s.writeBlob(ctx, fn, nil)
	if err != nil {
		return v1.Hash{}, 0, fmt.Errorf("writing blob: %w", err)
	}
	return h, n, nil
}

// writeBlobVerified stores what fn writes if its digest is want, and fails
// (storing nothing) otherwise.
func (s *Store) writeBlobVerified(ctx context.Context, want v1.Hash, fn func(w io.Writer) error) error {
	_, _, err := s.writeBlob(ctx, fn, &want)
	return err
}

func (s *Store) writeBlob(ctx context.Context, fn func(w io.Writer) error, want *v1.Hash) (v1.Hash, int64, error) {
	f, err := os.CreateTemp(s.tmp, "blob*")
	if err != nil {
		return v1.Hash{}, 0, err
	}
	defer os.Remove(f.Name()) // no-op after the rename
	df := newDirectFile(f)
	defer df.stop()
	hw := &hashWriter{w: df, h: sha256.New(), ctx: ctx}
	err = fn(hw)
	if err == nil {
		err = df.finish()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return v1.Hash{}, 0, err
	}
	got := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(hw.h.Sum(nil))}
	if want != nil && got != *want {
		return v1.Hash{}, 0, fmt.Errorf("verifying blob: got digest %s, want %s", got, *want)
	}
	if err := os.Chmod(f.Name(), 0o400); err != nil {
		return v1.Hash{}, 0, err
	}
	if err := os.Rename(f.Name(), s.blobPath(got)); err != nil {
		return v1.Hash{}, 0, err
	}
	if err := fsyncDir(filepath.Dir(s.blobPath(got))); err != nil {
		return v1.Hash{}, 0, err
	}
	return got, hw.n, nil
}

// OpenBlob opens a stored blob.
func (s *Store) OpenBlob(ctx context.Context, h v1.Hash) (io.ReadCloser, error) {
	f, err := os.Open(s.blobPath(h))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("opening blob %s: %w", h, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("opening blob %s: %w", h, err)
	}
	return f, nil
}

func (s *Store) readBlob(h v1.Hash) ([]byte, error) {
	b, err := os.ReadFile(s.blobPath(h))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading blob %s: %w", h, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading blob %s: %w", h, err)
	}
	return b, nil
}

// hashWriter hashes and counts what it passes on, and stops once ctx is done.
type hashWriter struct {
	w   io.Writer
	h   hash.Hash
	n   int64
	ctx context.Context
}

func (w *hashWriter) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := w.w.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	return n, err
}

// BlobDigest is the sha256 and size of what was written so far: a
// layer writer uses it rather than hashing the blob a second time
// (layer.BlobHasher).
func (w *hashWriter) BlobDigest() (v1.Hash, int64) {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(w.h.Sum(nil))}, w.n
}

// PutBlob stores what fn writes as the blob want, verifying its digest: on a
// mismatch nothing is stored and an error returned.
func (s *Store) PutBlob(ctx context.Context, want v1.Hash, fn func(w io.Writer) error) error {
	if err := s.writeBlobVerified(ctx, want, fn); err != nil {
		return fmt.Errorf("writing blob %s: %w", want, err)
	}
	return nil
}

// BlobSize returns the size of a stored blob, or ErrNotFound.
func (s *Store) BlobSize(ctx context.Context, h v1.Hash) (int64, error) {
	fi, err := os.Stat(s.blobPath(h))
	if err != nil {
		return 0, ErrNotFound
	}
	return fi.Size(), nil
}
