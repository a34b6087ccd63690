package store_test

import (
	"context"
	"io"
	"os"
	"testing"

	"github.com/strata-build/strata/internal/layer"
	"github.com/strata-build/strata/internal/store"
)

// BenchmarkCommitLayer measures what a build does after a RUN: the tree
// $STRATA_BENCH_TREE (such as bench-big's 900 MB upper dir) written as a
// compressed layer blob into a store (tar, compression, both digests,
// the blob file, its fsync and rename; the same blob each time, renamed
// over itself). MB/s are of the tree's bytes.
// Without the variable it is skipped. The store is under $TMPDIR.
func BenchmarkCommitLayer(b *testing.B) {
	dir := os.Getenv("STRATA_BENCH_TREE")
	if dir == "" {
		b.Skip("STRATA_BENCH_TREE names no tree")
	}
	for _, c := range []layer.Compression{{Kind: layer.Gzip}, {Kind: layer.Zstd}, {Kind: layer.Uncompressed}} {
		b.Run(c.ID(), func(b *testing.B) {
			ctx := context.Background()
			s, err := store.Open(ctx, b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var d layer.Descriptor
			for b.Loop() {
				_, _, err := s.WriteBlob(ctx, func(w io.Writer) error {
					var err error
					d, err = layer.WriteCompressed(ctx, dir, w, layer.WriteOptions{Compression: c})
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(d.TarSize)
			b.ReportMetric(float64(d.Size)/float64(d.TarSize), "ratio")
		})
	}
}
