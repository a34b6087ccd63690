package store

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestVariants: a recorded variant is found while its blob is stored; a
// prune that sweeps the blob (nothing names it) makes it unknown, and the
// variants file of a layer none of whose blobs is left goes too.
func TestVariants(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	put := func(body string) Variant {
		h, n, err := s.WriteBlob(ctx, func(w io.Writer) error {
			_, err := io.Copy(w, strings.NewReader(body))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return Variant{Digest: h, Size: n, MediaType: types.OCILayerZStd}
	}
	diffID := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("d", 64)}
	zstd3, gzip1 := put("zstd bytes"), put("gzip bytes")
	if err := s.PutVariant(ctx, diffID, "zstd-3", zstd3); err != nil {
		t.Fatal(err)
	}
	if err := s.PutVariant(ctx, diffID, "gzip-1", gzip1); err != nil {
		t.Fatal(err)
	}
	if v, ok := s.Variant(ctx, diffID, "zstd-3"); !ok || v != zstd3 {
		t.Errorf("Variant(zstd-3) = %+v, %v; want %+v", v, ok, zstd3)
	}
	if _, ok := s.Variant(ctx, diffID, "zstd-19"); ok {
		t.Error("Variant(zstd-19) found, want none recorded")
	}
	if fi, err := os.Stat(s.variantsPath(diffID)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("variants file: %v, %v; want mode 0600", fi, err)
	}
	if _, err := s.Prune(ctx, PruneOptions{All: true}); err != nil {
		t.Fatal(err)
	}
	if v, ok := s.Variant(ctx, diffID, "zstd-3"); ok {
		t.Errorf("Variant(zstd-3) after its blob was swept = %+v, want none", v)
	}
	if err := s.pruneVariants(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.variantsPath(diffID)); !os.IsNotExist(err) {
		t.Errorf("variants file after every blob was swept: %v, want it removed", err)
	}
}
