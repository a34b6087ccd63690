package layer

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// benchTree returns a ~500 MB tree: 24000 small text-like files (1-16 KiB)
// in 240 dirs plus two large compressible and two large random files. It is
// made once and kept in the temp dir.
func benchTree(b *testing.B) (string, int64) {
	dir := filepath.Join(os.TempDir(), "strata-layer-bench-v1")
	if size, ok := treeSize(dir); ok {
		return dir, size
	}
	os.RemoveAll(dir)
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	words := []string{"lib", "usr", "share", "func", "return", "error", "package", "import", "the", "data", "0x1f", "{", "}", "\n", "\t", "config", "value", "string", "int", "nil"}
	text := func(n int) []byte {
		out := make([]byte, 0, n+16)
		for len(out) < n {
			out = append(out, words[rng.IntN(len(words))]...)
			out = append(out, ' ')
		}
		return out[:n]
	}
	random := func(n int) []byte {
		out := make([]byte, n)
		for i := 0; i+8 <= n; i += 8 {
			v := rng.Uint64()
			for j := range 8 {
				out[i+j] = byte(v >> (8 * j))
			}
		}
		return out
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	for d := range 240 {
		sub := filepath.Join(tmp, fmt.Sprintf("pkg%03d", d))
		os.MkdirAll(sub, 0o755)
		for f := range 100 {
			write(b, filepath.Join(sub, fmt.Sprintf("file%03d.go", f)), text(1024+rng.IntN(15*1024)))
		}
	}
	for i := range 2 {
		write(b, filepath.Join(tmp, fmt.Sprintf("big/text%d", i)), text(80<<20))
		write(b, filepath.Join(tmp, fmt.Sprintf("big/random%d.bin", i)), random(80<<20))
	}
	if err := os.Rename(tmp, dir); err != nil {
		b.Fatal(err)
	}
	size, _ := treeSize(dir)
	return dir, size
}

func write(b *testing.B, p string, data []byte) {
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		b.Fatal(err)
	}
}

func treeSize(dir string) (int64, bool) {
	var size int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if info, err := d.Info(); err == nil && info.Mode().IsRegular() {
			size += info.Size()
		}
		return nil
	})
	return size, err == nil && size > 0
}

// BenchmarkWriteCompressed writes the mixed random and text tree of
// benchTree (or the tree $STRATA_BENCH_TREE names, such as a 900 MB one
// of 400 MB random and 500 MB seq output) as a gzip, zstd and
// uncompressed layer; MB/s are of the files' bytes.
func BenchmarkWriteCompressed(b *testing.B) {
	for _, c := range []Compression{{Kind: Gzip}, {Kind: Gzip, Level: 1}, {Kind: Zstd}, {Kind: Uncompressed}} {
		b.Run(c.ID(), func(b *testing.B) {
			dir, size := benchTree(b)
			if env := os.Getenv("STRATA_BENCH_TREE"); env != "" {
				dir = env
				size, _ = treeSize(dir)
			}
			ctx := context.Background()
			b.SetBytes(size)
			b.ResetTimer()
			var d Descriptor
			for b.Loop() {
				var err error
				d, err = WriteCompressed(ctx, dir, io.Discard, WriteOptions{Compression: c})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(d.Size)/float64(size), "ratio")
		})
	}
}

func BenchmarkWrite(b *testing.B) {
	dir, size := benchTree(b)
	ctx := context.Background()
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		if _, err := Write(ctx, dir, io.Discard, WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
