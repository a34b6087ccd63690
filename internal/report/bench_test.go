package report

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// BenchmarkAnalyze100kFiles analyses a synthetic 100,000-file image of five
// layers in memory: a base, then layers that overwrite, delete (whiteouts
// of files and of whole directories) and add files. It measures the
// bookkeeping, not decompression: files are small.
func BenchmarkAnalyze100kFiles(b *testing.B) {
	img := testImage(b, benchLayers(100_000, 5))
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rep, err := Analyze(ctx, img, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Files == 0 {
			b.Fatal("Analyze(100k files).Files = 0")
		}
	}
}

// BenchmarkAnalyzeArchive analyses the docker archive named by
// STRATA_BENCH_SIZE_ARCHIVE (scripts/bench-size.sh makes a 1 GB,
// 100,000-file one); it is skipped without it.
func BenchmarkAnalyzeArchive(b *testing.B) {
	file := os.Getenv("STRATA_BENCH_SIZE_ARCHIVE")
	if file == "" {
		b.Skip("STRATA_BENCH_SIZE_ARCHIVE is not set (scripts/bench-size.sh writes one)")
	}
	img, err := tarball.ImageFromPath(file, nil)
	if err != nil {
		b.Fatalf("tarball.ImageFromPath(%s) = %v", file, err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Analyze(ctx, img, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// benchLayers spreads n files over the given number of layers: the first
// holds most of them in 1,000 directories; each later one overwrites a
// slice of the files below, deletes others and a whole directory, and adds
// new files.
func benchLayers(n, layers int) []testLayer {
	perDir := 100
	base := n * 7 / 10
	out := []testLayer{{createdBy: "/bin/sh -c #(nop) ADD rootfs.tar /"}}
	for i := range base {
		d := fmt.Sprintf("usr/lib/pkg%d", i/perDir)
		if i%perDir == 0 {
			out[0].files = append(out[0].files, file{name: d + "/"})
		}
		out[0].files = append(out[0].files, file{name: fmt.Sprintf("%s/f%d.so", d, i), size: 64 + i%512})
	}
	rest := (n - base) / (layers - 1)
	for l := 1; l < layers; l++ {
		tl := testLayer{createdBy: fmt.Sprintf("/bin/sh -c apt-get install pkg%d", l)}
		for i := range rest / 4 {
			k := (l*7919 + i*31) % base
			tl.files = append(tl.files, file{name: fmt.Sprintf("usr/lib/pkg%d/f%d.so", k/perDir, k), size: 128})
		}
		for i := range rest / 4 {
			k := (l*104729 + i*17) % base
			tl.files = append(tl.files, file{name: fmt.Sprintf("usr/lib/pkg%d/.wh.f%d.so", k/perDir, k)})
		}
		tl.files = append(tl.files, file{name: fmt.Sprintf("usr/lib/.wh.pkg%d", l*37)})
		for i := range rest / 2 {
			tl.files = append(tl.files, file{name: fmt.Sprintf("app/l%d/d%d/f%d.go", l, i/perDir, i), size: 256})
		}
		out = append(out, tl)
	}
	return out
}
