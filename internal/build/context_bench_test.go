package build

import (
	"context"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/strata-build/strata/internal/dockerfile"
	"github.com/strata-build/strata/internal/rootfs"
	"github.com/strata-build/strata/internal/store"
	"github.com/strata-build/strata/internal/testenv"
)

// The big context of issue 16: 100,000 files, 1 GiB, half text and half
// random, in 2,700 directories of six kinds. It is made once per machine
// (about 10 s) under $STRATA_BENCH_CONTEXT, default
// /var/tmp/strata-bench-context, and reused: a benchmark never edits it
// (the edit benchmark edits a file of its own beside it).
const (
	bigContextFiles = 100_000
	bigContextBytes = 1 << 30
)

// bigContext returns the big context's directory, making it when missing.
func bigContext(b *testing.B) string {
	b.Helper()
	base := os.Getenv("STRATA_BENCH_CONTEXT")
	if base == "" {
		base = "/var/tmp/strata-bench-context"
	}
	dir := filepath.Join(base, fmt.Sprintf("%d-%d", bigContextFiles, bigContextBytes>>20))
	done := filepath.Join(base, filepath.Base(dir)+".done")
	if _, err := os.Stat(done); err == nil {
		return dir
	}
	if err := os.RemoveAll(dir); err != nil {
		b.Fatal(err)
	}
	if err := writeBigContext(dir, bigContextFiles, bigContextBytes); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(done, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}

// writeBigContext writes n files of about total bytes in all under dir,
// sizes log-normal as in a source tree with assets; deterministic.
func writeBigContext(dir string, n int, total int64) error {
	rnd := rand.New(rand.NewPCG(42, 16))
	sizes := make([]float64, n)
	var sum float64
	for i := range sizes {
		sizes[i] = float64(expNorm(rnd, 8.5, 1.6))
		sum += sizes[i]
	}
	noise := make([]byte, 64<<20)
	for i := range noise {
		noise[i] = byte(rnd.Uint32())
	}
	var text []byte
	for i := 0; len(text) < 16<<20; i++ {
		text = append(text, "line "+strconv.Itoa(i)+" of some compressible text, the same words again and again\n"...)
	}
	kinds := []string{"src/pkg%d", "node_modules/dep%d/lib", "docs/section%d", "assets/img%d", "vendor/mod%d/sub", "data/set%d/part"}
	for i, s := range sizes {
		size := int(s * float64(total) / sum)
		d := filepath.Join(dir, fmt.Sprintf(kinds[i%len(kinds)], i/61%300))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		src := text
		if i%2 == 1 {
			src = noise
		}
		size = min(size, len(src))
		off := rnd.IntN(len(src) - size + 1)
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%d.dat", i)), src[off:off+size], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// expNorm is a log-normal variate.
func expNorm(rnd *rand.Rand, mu, sigma float64) float64 {
	return math.Exp(mu + sigma*rnd.NormFloat64())
}

// bigContextBuild is a store and a Dockerfile over the big context.
type bigContextBuild struct {
	f    *fixture
	opts Options
}

func newBigContextBuild(b *testing.B, df string, ignore []string) *bigContextBuild {
	b.Helper()
	f := bigContextFixture(b)
	dir := bigContext(b)
	file, err := dockerfile.Parse("Dockerfile", []byte(df))
	if err != nil {
		b.Fatal(err)
	}
	bc := &bigContextBuild{f: f, opts: Options{File: file, ContextDir: dir, Ignore: ignore}}
	start := time.Now()
	bc.build(b)
	b.Logf("cold build: %v", time.Since(start).Round(time.Millisecond))
	return bc
}

// bigContextFixture is benchFixture, or, when $STRATA_BENCH_STORE names
// a directory, a fixture on the store kept there: its first build is the
// cold one, later runs of the benchmark start warm (the cold build of the
// big context takes some 40 s), so that two builds of strata can be
// compared run after run.
func bigContextFixture(b *testing.B) *fixture {
	b.Helper()
	dir := os.Getenv("STRATA_BENCH_STORE")
	if dir == "" {
		return benchFixture(b)
	}
	testenv.RequireRoot(b)
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	return &fixture{store: st, b: New(st, nil, benchRunner(b), nil)}
}

// build builds and returns how many steps ran.
func (bc *bigContextBuild) build(b *testing.B) int {
	b.Helper()
	var ran ranSteps
	opts := bc.opts
	opts.Progress = &ran
	if _, err := bc.f.b.Build(context.Background(), opts); err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, c := range ran.ran {
		n += c
	}
	return n
}

// bigIgnore is the .dockerignore of the benchmarks "dockerignore" cases.
var bigIgnore = []string{"**/*.tmp", "docs/section1*", "!docs/section10", ".git"}

// BenchmarkNoopRebuild100kFiles: `COPY . /app` of the big context, nothing
// changed (goal: under 100 ms a build, the stat cache loaded and the whole
// context walked each time). The cold build comes first, once (about 20
// s): a benchmark with a sub-benchmark runs once.
func BenchmarkNoopRebuild100kFiles(b *testing.B) { benchNoop(b, nil) }

// BenchmarkNoopRebuild100kFilesDockerignore: the same with a .dockerignore.
func BenchmarkNoopRebuild100kFilesDockerignore(b *testing.B) { benchNoop(b, bigIgnore) }

func benchNoop(b *testing.B, ignore []string) {
	bc := newBigContextBuild(b, "FROM scratch\nCOPY . /app\n", ignore)
	b.Run("noop", func(b *testing.B) {
		cpu := cpuTime(b)
		for i := 0; i < b.N; i++ {
			if n := bc.build(b); n != 0 {
				b.Fatalf("no-op rebuild ran %d steps", n)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/build")
		b.ReportMetric(float64((cpuTime(b)-cpu).Microseconds())/1e3/float64(b.N), "cpu-ms/build")
	})
}

// BenchmarkContextKey100kFiles is the part of a no-op rebuild that scales
// with the context: the content key of the whole big context, stat cache
// warm and loaded from the store each time as a build does.
func BenchmarkContextKey100kFiles(b *testing.B) {
	ctx := context.Background()
	dir := bigContext(b)
	for _, c := range []struct {
		name   string
		ignore []string
	}{
		{"plain", nil},
		{"dockerignore", bigIgnore},
	} {
		var (
			st   *store.Store
			want string
		)
		parent := b
		b.Run(c.name, func(b *testing.B) {
			if st == nil { // the first of the runs of this benchmark
				st, want = warmKeyStore(parent, dir, c.ignore)
				b.ResetTimer()
			}
			cpu := cpuTime(b)
			for i := 0; i < b.N; i++ {
				sc := loadStatCache(ctx, st)
				got, err := contentKey(ctx, rootfs.NewDir(dir, c.ignore), []string{"."}, sc)
				if err != nil || got != want {
					b.Fatalf("contentKey() = %s, %v, want %s", got, err, want)
				}
				if err := sc.save(ctx, st); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/key")
			b.ReportMetric(float64((cpuTime(b)-cpu).Microseconds())/1e3/float64(b.N), "cpu-ms/key")
		})
	}
}

// warmKeyStore returns a store whose stat cache knows the big context,
// removed when b ends, and the key of the context with ignore.
func warmKeyStore(b *testing.B, dir string, ignore []string) (*store.Store, string) {
	b.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	sc := loadStatCache(ctx, st)
	want, err := contentKey(ctx, rootfs.NewDir(dir, ignore), []string{"."}, sc)
	if err != nil {
		b.Fatal(err)
	}
	if err := sc.save(ctx, st); err != nil {
		b.Fatal(err)
	}
	return st, want
}

// cpuTime is the CPU time (user and system) the process has used: on a
// shared machine it varies less than the time a build takes, and half of
// it is what the build would take on two idle cores.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkStatFloor100kFiles is what any correct walk of the big context
// pays however it is written: an lstat of every entry, relative to its
// directory's descriptor, on every core, and nothing else (the names
// listed beforehand, NUL-terminated, no result kept). The no-op rebuild's
// figures are best read as a ratio to this one's, measured in the same
// run.
func BenchmarkStatFloor100kFiles(b *testing.B) {
	dirs := statFloorDirs(b, bigContext(b))
	workers := runtime.NumCPU()
	b.ResetTimer()
	cpu := cpuTime(b)
	for i := 0; i < b.N; i++ {
		var (
			next  atomic.Int64
			wg    sync.WaitGroup
			stats atomic.Int64
		)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var st unix.Stat_t
				n := 0
				for j := int(next.Add(1) - 1); j < len(dirs); j = int(next.Add(1) - 1) {
					d := &dirs[j]
					fd, err := unix.Open(d.path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
					if err != nil {
						b.Error(err)
						return
					}
					for _, name := range d.names {
						_, _, errno := unix.RawSyscall6(unix.SYS_NEWFSTATAT, uintptr(fd), uintptr(unsafe.Pointer(&name[0])), uintptr(unsafe.Pointer(&st)), unix.AT_SYMLINK_NOFOLLOW, 0, 0)
						if errno != 0 {
							b.Error(errno)
						}
						n++
					}
					unix.Close(fd)
				}
				stats.Add(int64(n))
			}()
		}
		wg.Wait()
		if n := stats.Load(); n < bigContextFiles {
			b.Fatalf("stat'ed %d entries, want at least %d", n, bigContextFiles)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/walk")
	b.ReportMetric(float64((cpuTime(b)-cpu).Microseconds())/1e3/float64(b.N), "cpu-ms/walk")
}

// floorDir is a directory of the big context and its entries' names,
// each NUL-terminated.
type floorDir struct {
	path  string
	names [][]byte
}

// statFloorDirs lists dir and every directory below it.
func statFloorDirs(b *testing.B, dir string) []floorDir {
	b.Helper()
	var dirs []floorDir
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.IsDir() {
			return err
		}
		names, err := os.ReadDir(p)
		if err != nil {
			return err
		}
		d := floorDir{path: p}
		for _, n := range names {
			d.names = append(d.names, append([]byte(n.Name()), 0))
		}
		dirs = append(dirs, d)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return dirs
}
