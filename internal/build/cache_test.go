package build

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/strata-build/strata/internal/dockerfile"
)

// stepLog is a Progress recording which steps ran and which were cached.
type stepLog struct {
	mu     sync.Mutex
	ran    []string
	cached []string
}

func (l *stepLog) Step(stage string, i, n int, text string) (io.Writer, func(bool, error)) {
	return io.Discard, func(cached bool, err error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if cached {
			l.cached = append(l.cached, text)
		} else if isLayerStep(text) {
			l.ran = append(l.ran, text)
		}
	}
}

func (l *stepLog) Warn(string) {}

func isLayerStep(text string) bool {
	for _, p := range []string{"RUN", "COPY", "ADD", "WORKDIR"} {
		if strings.HasPrefix(text, p) {
			return true
		}
	}
	return false
}

// cacheCtx is a build context on disk that a test changes between builds.
type cacheCtx struct {
	t   *testing.T
	f   *fixture
	dir string
}

func (c *cacheCtx) write(name, body string) {
	c.t.Helper()
	p := filepath.Join(c.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cacheCtx) parse() *dockerfile.File {
	c.t.Helper()
	src, err := os.ReadFile(filepath.Join(c.dir, "Dockerfile"))
	if err != nil {
		c.t.Fatal(err)
	}
	file, err := dockerfile.Parse("Dockerfile", src)
	if err != nil {
		c.t.Fatal(err)
	}
	return file
}

// build builds the context's Dockerfile and returns which layer steps ran.
func (c *cacheCtx) build(opts Options) (*Result, *stepLog) {
	c.t.Helper()
	file := c.parse()
	log := &stepLog{}
	opts.File, opts.ContextDir, opts.Progress = file, c.dir, log
	if opts.Ignore == nil {
		opts.Ignore = []string{"ignored/"}
	}
	res, err := c.f.b.Build(context.Background(), opts)
	if err != nil {
		c.t.Fatalf("Build() = %v", err)
	}
	return res, log
}

const cacheDockerfile = `FROM busybox AS deps
COPY manifest.txt /app/
RUN cat /app/manifest.txt > /app/deps && echo deps-built
FROM deps AS app
ARG MODE=dev
COPY src/ /app/src/
RUN echo "$MODE" > /app/mode && ls /app/src > /app/files
FROM scratch
COPY --from=app /app /app
`

// TestCacheInvalidation holds Docker's rules for what invalidates what: one
// table row per rule, each a change after a first build and the layer steps
// that must run again (all others come from the cache).
func TestCacheInvalidation(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *cacheCtx)
		opts   Options
		ran    []string
	}{
		{"nothing changed", func(c *cacheCtx) {}, Options{}, nil},
		{"mtime only", func(c *cacheCtx) {
			later := time.Now().Add(time.Hour)
			os.Chtimes(filepath.Join(c.dir, "src/a.go"), later, later)
		}, Options{}, nil},
		{"ignored file", func(c *cacheCtx) { c.write("ignored/x", "changed") }, Options{}, nil},
		{"source file", func(c *cacheCtx) { c.write("src/a.go", "package a // v2") },
			Options{}, []string{"COPY src/ /app/src/", "RUN echo", "COPY --from=app"}},
		{"new source file", func(c *cacheCtx) { c.write("src/b.go", "package a") },
			Options{}, []string{"COPY src/ /app/src/", "RUN echo", "COPY --from=app"}},
		{"dependency manifest", func(c *cacheCtx) { c.write("manifest.txt", "dep v2") },
			Options{}, []string{"COPY manifest.txt", "RUN cat", "COPY src/", "RUN echo", "COPY --from=app"}},
		{"build arg: from its first use", func(c *cacheCtx) {},
			Options{BuildArgs: map[string]string{"MODE": "prod"}}, []string{"RUN echo", "COPY --from=app"}},
		{"--no-cache", func(c *cacheCtx) {},
			Options{NoCache: true}, []string{"COPY manifest.txt", "RUN cat", "COPY src/", "RUN echo", "COPY --from=app"}},
		{"--no-cache-filter app", func(c *cacheCtx) {},
			Options{NoCacheFilter: []string{"app"}}, []string{"COPY src/", "RUN echo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &cacheCtx{t: t, f: newFixture(t), dir: t.TempDir()}
			c.write("Dockerfile", cacheDockerfile)
			c.write("manifest.txt", "dep v1")
			c.write("src/a.go", "package a")
			c.write("ignored/x", "x")
			first, log := c.build(Options{})
			if len(log.cached) != 0 {
				t.Fatalf("first build had cached steps %q", log.cached)
			}
			tt.change(c)
			res, log := c.build(tt.opts)
			if !sameSteps(log.ran, tt.ran) {
				t.Errorf("steps run = %q, want %q", log.ran, tt.ran)
			}
			if len(tt.ran) == 0 && res.Digest != first.Digest {
				t.Errorf("digest %s after a fully cached build, want %s", res.Digest, first.Digest)
			}
		})
	}
}

// sameSteps compares step texts by prefix.
func sameSteps(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !strings.HasPrefix(got[i], want[i]) {
			return false
		}
	}
	return true
}

func TestCacheSurvivesProcesses(t *testing.T) {
	// The cache lives in the store: a new Builder on the same store hits.
	c := &cacheCtx{t: t, f: newFixture(t), dir: t.TempDir()}
	c.write("Dockerfile", "FROM busybox\nCOPY a /a\nRUN cp /a /b\n")
	c.write("a", "1")
	first, _ := c.build(Options{})
	c.f.b = New(c.f.store, nil, testRunner(t, "builtin"), nil)
	res, log := c.build(Options{})
	if len(log.ran) != 0 || res.Digest != first.Digest {
		t.Errorf("rebuild with a new builder ran %q (digest %s, want %s)", log.ran, res.Digest, first.Digest)
	}
}

func TestCacheDeduplicatesIdenticalStages(t *testing.T) {
	c := &cacheCtx{t: t, f: newFixture(t), dir: t.TempDir()}
	c.write("Dockerfile", "FROM busybox AS a\nRUN echo same > /x\nFROM busybox AS b\nRUN echo same > /x\nFROM scratch\nCOPY --from=a /x /a\nCOPY --from=b /x /b\n")
	_, log := c.build(Options{})
	runs := 0
	for _, s := range log.ran {
		if strings.HasPrefix(s, "RUN") {
			runs++
		}
	}
	if runs != 1 {
		t.Errorf("identical RUN in two stages ran %d times, want once (steps run %q, cached %q)", runs, log.ran, log.cached)
	}
}

func TestConcurrentBuildsShareAStore(t *testing.T) {
	c := &cacheCtx{t: t, f: newFixture(t), dir: t.TempDir()}
	c.write("Dockerfile", cacheDockerfile)
	c.write("manifest.txt", "dep v1")
	c.write("src/a.go", "package a")
	file := c.parse()
	var wg sync.WaitGroup
	results := make([]*Result, 2)
	errs := make([]error, 2)
	for i := range results {
		b := New(c.f.store, nil, testRunner(t, "builtin"), nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = b.Build(context.Background(), Options{File: file, ContextDir: c.dir})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("build %d = %v", i, err)
		}
	}
	if results[0].Digest != results[1].Digest {
		t.Errorf("concurrent builds gave %s and %s, want one digest", results[0].Digest, results[1].Digest)
	}
	fs := flatten(t, results[1].Image)
	if fs["/app/files"].body != "a.go\n" || fs["/app/deps"].body != "dep v1" {
		t.Errorf("concurrent build result: /app/files %q, /app/deps %q", fs["/app/files"].body, fs["/app/deps"].body)
	}
}

// TestCacheChangedBaseInvalidates: when the base reference points at another
// image (as after --pull of a new digest), every step runs again.
func TestCacheChangedBaseInvalidates(t *testing.T) {
	c := &cacheCtx{t: t, f: newFixture(t), dir: t.TempDir()}
	c.write("Dockerfile", "FROM busybox\nCOPY a /a\nRUN cp /a /b\n")
	c.write("a", "1")
	c.build(Options{})
	ctx := context.Background()
	base, err := c.f.store.Resolve(ctx, "busybox:latest")
	if err != nil {
		t.Fatal(err)
	}
	img, err := c.f.store.Image(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	newer, err := mutate.Config(img, v1.Config{Env: []string{"PATH=/bin", "NEW=1"}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := c.f.store.WriteImage(ctx, newer)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.f.store.Tag(ctx, "busybox:latest", h); err != nil {
		t.Fatal(err)
	}
	_, log := c.build(Options{})
	if !sameSteps(log.ran, []string{"COPY a", "RUN cp"}) {
		t.Errorf("after the base changed, steps run = %q, want all", log.ran)
	}
}
