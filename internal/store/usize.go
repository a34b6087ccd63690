package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Uncompressed sizes: the bytes of a layer's tar, the preimage of its diff
// ID, which `strata images` and `inspect` sum as an image's SIZE. They are
// remembered per diff ID in ROOT/meta/usize/<hex> (a decimal number), written
// when strata learns them for free (a layer it extracts, or one a build
// writes, see RecordUncompressedSize) and otherwise computed once by
// streaming decompression of the blob. A file that is missing or unreadable
// (a crash between write and rename leaves at worst an empty one) is
// recomputed, so the files need no fsync.

// RecordUncompressedSize remembers that the layer with diff ID diffID is n
// bytes uncompressed.
func (s *Store) RecordUncompressedSize(ctx context.Context, diffID v1.Hash, n int64) error {
	if err := s.writeUsize(diffID, n); err != nil {
		return fmt.Errorf("recording size of layer %s: %w", diffID, err)
	}
	return nil
}

// UncompressedSize returns the size of l's tar: remembered, or computed by
// reading the layer through once (then remembered).
func (s *Store) UncompressedSize(ctx context.Context, l v1.Layer) (int64, error) {
	diffID, err := l.DiffID()
	if err != nil {
		return 0, fmt.Errorf("reading layer diff ID: %w", err)
	}
	if n, ok := s.readUsize(diffID); ok {
		return n, nil
	}
	n, err := s.measure(ctx, l)
	if err != nil {
		return 0, fmt.Errorf("measuring layer %s: %w", diffID, err)
	}
	if err := s.writeUsize(diffID, n); err != nil {
		return 0, fmt.Errorf("recording size of layer %s: %w", diffID, err)
	}
	return n, nil
}

// ImageSizes returns img's uncompressed size (the sum of its layers' tars)
// and compressed size (the sum of its layer blobs, as the manifest lists
// them). A layer whose blob is not stored (a foreign layer) and whose size
// was never recorded adds to the compressed size only.
func (s *Store) ImageSizes(ctx context.Context, img v1.Image) (uncompressed, compressed int64, err error) {
	layers, err := img.Layers()
	if err != nil {
		return 0, 0, fmt.Errorf("reading layers: %w", err)
	}
	for _, l := range layers {
		n, err := s.UncompressedSize(ctx, l)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return 0, 0, err
		}
		c, err := l.Size()
		if err != nil {
			return 0, 0, fmt.Errorf("reading layer size: %w", err)
		}
		uncompressed += n
		compressed += c
	}
	return uncompressed, compressed, nil
}

// measure counts the bytes of l's tar.
func (s *Store) measure(ctx context.Context, l v1.Layer) (int64, error) {
	rc, err := uncompressed(l)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.Copy(io.Discard, &ctxReader{ctx: ctx, r: rc})
}

func (s *Store) usizePath(diffID v1.Hash) string {
	return filepath.Join(s.root, "meta", "usize", diffID.Hex)
}

func (s *Store) readUsize(diffID v1.Hash) (int64, bool) {
	b, err := os.ReadFile(s.usizePath(diffID))
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n, err == nil && n >= 0
}

func (s *Store) writeUsize(diffID v1.Hash, n int64) error {
	path := s.usizePath(diffID)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(s.tmp, "usize*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // no-op after the rename
	_, err = f.WriteString(strconv.FormatInt(n, 10) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// pruneUsizes removes the remembered sizes of layers that no blob left in
// the store names (keep: diff IDs by hex), and half-written ones.
func (s *Store) pruneUsizes(keep map[string]bool) error {
	dir := filepath.Join(s.root, "meta", "usize")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing layer sizes: %w", err)
	}
	for _, e := range entries {
		if keep[e.Name()] {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing layer size %s: %w", e.Name(), err)
		}
	}
	return nil
}
