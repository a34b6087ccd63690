package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-build/strata/internal/dockerfile"
	"github.com/strata-build/strata/internal/store"
	"github.com/strata-build/strata/internal/testenv"
)

// benchFixture is a store with busybox and a builder, for benchmarks.
func benchFixture(b *testing.B) *fixture {
	b.Helper()
	testenv.RequireRoot(b)
	ctx := context.Background()
	st, err := store.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	h, err := st.WriteImage(ctx, testenv.BusyboxImage(b))
	if err != nil {
		b.Fatal(err)
	}
	if err := st.Tag(ctx, "busybox:latest", h); err != nil {
		b.Fatal(err)
	}
	return &fixture{store: st, b: New(st, nil, benchRunner(b), nil)}
}

const goLikeDockerfile = `FROM busybox AS build
WORKDIR /src
COPY go.mod ./
RUN echo "download deps for $(cat go.mod)" > /deps
COPY . .
RUN find . -name '*.go' | wc -l > /count && cat /deps >> /count
FROM scratch
COPY --from=build /count /count
`

// goLikeContext writes a context of 2,000 source files in 40 packages.
func goLikeContext(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	write := func(name, body string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	write("Dockerfile", goLikeDockerfile)
	write("go.mod", "module example.com/app\n")
	for i := 0; i < 2000; i++ {
		write(fmt.Sprintf("pkg%02d/file%04d.go", i%40, i), fmt.Sprintf("package pkg%02d\n\nconst C%d = %d\n", i%40, i, i))
	}
	return dir
}

func cacheBenchBuild(b *testing.B, f *fixture, dir string, opts Options) *Result {
	b.Helper()
	src, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil {
		b.Fatal(err)
	}
	file, err := dockerfile.Parse("Dockerfile", src)
	if err != nil {
		b.Fatal(err)
	}
	opts.File, opts.ContextDir = file, dir
	res, err := f.b.Build(context.Background(), opts)
	if err != nil {
		b.Fatal(err)
	}
	return res
}

// BenchmarkNoopRebuild2000Files: everything cached, a 2,000-file context
// (goal: under 100 ms).
func BenchmarkNoopRebuild2000Files(b *testing.B) {
	f := benchFixture(b)
	dir := goLikeContext(b)
	cacheBenchBuild(b, f, dir, Options{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cacheBenchBuild(b, f, dir, Options{})
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/build")
}

// BenchmarkEditRebuild2000Files: one source file changed; the steps from
// the second COPY on run again, the rest is cached.
func BenchmarkEditRebuild2000Files(b *testing.B) {
	f := benchFixture(b)
	dir := goLikeContext(b)
	cacheBenchBuild(b, f, dir, Options{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := filepath.Join(dir, "pkg07/file0007.go")
		if err := os.WriteFile(p, []byte(fmt.Sprintf("package pkg07\n\nconst Edit = %d\n", i)), 0o644); err != nil {
			b.Fatal(err)
		}
		cacheBenchBuild(b, f, dir, Options{})
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/build")
}

// BenchmarkParallelStages: four independent stages sleeping 2 s and a final
// stage; about 2 s with --jobs 4, 8 s with --jobs 1.
func BenchmarkParallelStages(b *testing.B) {
	var df string
	for i := 0; i < 4; i++ {
		df += fmt.Sprintf("FROM busybox AS s%d\nRUN sleep 2 && echo %d > /out\n", i, i)
	}
	df += "FROM scratch\n"
	for i := 0; i < 4; i++ {
		df += fmt.Sprintf("COPY --from=s%d /out /out%d\n", i, i)
	}
	for _, jobs := range []int{1, 4} {
		b.Run(fmt.Sprintf("jobs=%d", jobs), func(b *testing.B) {
			f := benchFixture(b)
			dir := b.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			for i := 0; i < b.N; i++ {
				cacheBenchBuild(b, f, dir, Options{Jobs: jobs, NoCache: true})
			}
			b.ReportMetric(time.Since(start).Seconds()/float64(b.N), "s/build")
		})
	}
}
