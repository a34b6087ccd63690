package store

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/klauspost/compress/gzip"
)

// BenchmarkImport measures WriteImage of a ~300 MB image (6 gzip layers of
// mostly random files) into an empty store; b.SetBytes is the
// compressed size, so MB/s is import throughput.
func BenchmarkImport(b *testing.B) {
	const layers, layerSize = 6, 64 << 20
	img, size := benchImage(b, layers, layerSize)
	ctx := context.Background()
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		s, err := Open(ctx, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := s.WriteImage(ctx, img); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
}

func benchImage(b *testing.B, n, size int) (v1.Image, int64) {
	b.Helper()
	img := empty.Image
	var total int64
	for i := range n {
		blob := benchLayer(b, uint64(i), size)
		total += int64(len(blob))
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(blob)), nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			b.Fatal(err)
		}
	}
	return img, total
}

// benchLayer is a gzip tar of 1 MiB files, each three quarters random bytes.
func benchLayer(b *testing.B, seed uint64, size int) []byte {
	b.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	file := make([]byte, 1<<20)
	for i := 0; i < size>>20; i++ {
		for j := 0; j < len(file)*3/4; j += 8 {
			v := rng.Uint64()
			for k := range 8 {
				file[j+k] = byte(v >> (8 * k))
			}
		}
		h := &tar.Header{Name: fmt.Sprintf("f%04d", i), Mode: 0o644, Size: int64(len(file)), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(h); err != nil {
			b.Fatal(err)
		}
		tw.Write(file)
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}
