package store

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"

	"github.com/strata-build/strata/internal/layer"
)

// LayerDir returns the overlay-format directory holding l extracted,
// extracting it once per diff ID. The directory must not be modified.
// Callers in one process share one extraction; processes take a lock per
// diff ID. Extraction goes to a temp dir renamed into place, and the
// uncompressed stream is checked against l's diff ID first.
func (s *Store) LayerDir(ctx context.Context, l v1.Layer) (string, error) {
	diffID, err := l.DiffID()
	if err != nil {
		return "", fmt.Errorf("reading layer diff ID: %w", err)
	}
	dst := s.layerPath(diffID)
	if exists(dst) {
		return dst, nil
	}
	_, err, _ = s.extracting.Do(diffID.String(), func() (any, error) {
		return nil, s.withLayerLock(ctx, diffID, func() error {
			if exists(dst) {
				return nil // another process extracted it
			}
			return s.extract(ctx, l, diffID, dst)
		})
	})
	if err != nil {
		return "", fmt.Errorf("extracting layer %s: %w", diffID, err)
	}
	return dst, nil
}

func (s *Store) extract(ctx context.Context, l v1.Layer, diffID v1.Hash, dst string) error {
	rc, err := uncompressed(l)
	if err != nil {
		return err
	}
	defer rc.Close()
	tmp, err := s.LayerTempDir(ctx)
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // no-op after the rename
	h := sha256.New()
	cr := &countingReader{r: rc}
	r := io.TeeReader(cr, h)
	opts := layer.ExtractOptions{Devices: os.Geteuid() == 0}
	if err := layer.Extract(ctx, r, tmp, opts); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, r); err != nil { // tar padding
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != diffID.Hex {
		return fmt.Errorf("verifying layer: got diff ID sha256:%s", got)
	}
	if _, ok := s.readUsize(diffID); !ok {
		if err := s.writeUsize(diffID, cr.n); err != nil {
			return fmt.Errorf("recording layer size: %w", err)
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// AdoptLayerDir moves dir (an overlay-format tree made by this build, on the
// same filesystem, see TempDir) into the store as the extracted form of
// diffID and returns its new path. If that layer is already extracted, dir
// is removed and the existing directory returned.
func (s *Store) AdoptLayerDir(ctx context.Context, diffID v1.Hash, dir string) (string, error) {
	dst := s.layerPath(diffID)
	err := s.withLayerLock(ctx, diffID, func() error {
		if exists(dst) {
			return os.RemoveAll(dir)
		}
		return os.Rename(dir, dst)
	})
	if err != nil {
		return "", fmt.Errorf("adopting layer dir %s: %w", diffID, err)
	}
	return dst, nil
}

func (s *Store) layerPath(diffID v1.Hash) string {
	return filepath.Join(s.root, "layers", diffID.Hex)
}

func (s *Store) withLayerLock(ctx context.Context, diffID v1.Hash, fn func() error) error {
	return withFileLock(ctx, filepath.Join(s.root, "locks", diffID.Hex), fn)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return !errors.Is(err, os.ErrNotExist)
}

// uncompressed reads a layer's tar, gunzipping with klauspost/compress
// (markedly faster than the standard library ggcr uses) when the blob is
// gzip; anything else goes through the layer's own Uncompressed.
func uncompressed(l v1.Layer) (io.ReadCloser, error) {
	rc, err := l.Compressed()
	if err != nil {
		return l.Uncompressed()
	}
	br := bufio.NewReaderSize(rc, 1<<20)
	if magic, err := br.Peek(2); err != nil || magic[0] != 0x1f || magic[1] != 0x8b {
		rc.Close()
		return l.Uncompressed()
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		rc.Close()
		return nil, err
	}
	return &gzipReadCloser{Reader: zr, zr: zr, rc: rc}, nil
}

type gzipReadCloser struct {
	io.Reader
	zr *gzip.Reader
	rc io.ReadCloser
}

func (g *gzipReadCloser) Close() error {
	g.zr.Close()
	return g.rc.Close()
}
