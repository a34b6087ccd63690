package build

import (
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/strata-build/strata/internal/registry"
)

const remoteDockerfile = "FROM busybox AS build\nCOPY src /src\nRUN cat /src > /built && echo made\nFROM busybox\nCOPY --from=build /built /app\nRUN cp /app /app2\n"

// TestRegistryCacheTwoMachines: a second store, empty but for the base
// image, gets every step from the cache another store exported.
func TestRegistryCacheTwoMachines(t *testing.T) {
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/cache/app:buildcache"
	reg := registry.New(registry.Options{})
	spec := CacheSpec{Type: "registry", Ref: ref, Mode: "max"}

	one := &cacheCtx{t: t, f: newFixture(t), dir: t.TempDir()}
	one.f.b.registry = reg
	one.write("Dockerfile", remoteDockerfile)
	one.write("src", "source v1")
	first, _ := one.build(Options{CacheTo: []CacheSpec{spec}})

	two := &cacheCtx{t: t, f: newFixture(t), dir: t.TempDir()}
	two.f.b.registry = reg
	two.write("Dockerfile", remoteDockerfile)
	two.write("src", "source v1")
	res, log := two.build(Options{CacheFrom: []CacheSpec{spec}})
	if len(log.ran) != 0 {
		t.Errorf("second machine ran %q, want every step from the cache", log.ran)
	}
	if res.Digest != first.Digest {
		t.Errorf("second machine built %s, want %s", res.Digest, first.Digest)
	}

	// An edit: only the steps after the changed COPY run.
	two.write("src", "source v2")
	_, log = two.build(Options{CacheFrom: []CacheSpec{spec}})
	if !sameSteps(log.ran, []string{"COPY src", "RUN cat", "COPY --from=build", "RUN cp"}) {
		t.Errorf("after an edit the second machine ran %q", log.ran)
	}
}

func TestCacheModeMin(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	one := &cacheCtx{t: t, f: newFixture(t), dir: t.TempDir()}
	one.write("Dockerfile", remoteDockerfile)
	one.write("src", "x")
	one.build(Options{CacheTo: []CacheSpec{{Type: "local", Dir: dir, Mode: "min"}}})

	two := &cacheCtx{t: t, f: newFixture(t), dir: t.TempDir()}
	two.write("Dockerfile", remoteDockerfile)
	two.write("src", "x")
	_, log := two.build(Options{CacheFrom: []CacheSpec{{Type: "local", Dir: dir}}})
	// mode=min exports the final stage's steps only: the build stage runs,
	// and the final stage's steps hit (its COPY --from sees the same content).
	if !sameSteps(log.ran, []string{"COPY src", "RUN cat"}) {
		t.Errorf("with a mode=min cache the second build ran %q, want only the build stage", log.ran)
	}
}

// warnings is a Progress that keeps warnings.
type warnings struct {
	stepLog
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Warn(m string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, m)
}

func TestCacheFromBadSources(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	one := &cacheCtx{t: t, f: newFixture(t), dir: t.TempDir()}
	one.write("Dockerfile", remoteDockerfile)
	one.write("src", "x")
	one.build(Options{CacheTo: []CacheSpec{{Type: "local", Dir: dir}}})
	// Corrupt every layer blob of the exported cache.
	blobs, _ := filepath.Glob(filepath.Join(dir, "blobs/sha256/*"))
	corrupted := 0
	for _, b := range blobs {
		if fi, err := os.Stat(b); err == nil && fi.Size() > 1000 {
			continue // not a small layer: skip manifests and configs below
		}
		data, _ := os.ReadFile(b)
		if len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b { // gzip: a layer
			os.Chmod(b, 0o644)
			os.WriteFile(b, append(data, 0), 0o644)
			corrupted++
		}
	}
	if corrupted == 0 {
		t.Fatal("found no layer blob to corrupt")
	}
	two := &cacheCtx{t: t, f: newFixture(t), dir: t.TempDir()}
	two.f.b.registry = registry.New(registry.Options{})
	two.write("Dockerfile", remoteDockerfile)
	two.write("src", "x")
	w := &warnings{}
	file := two.parse()
	res, err := two.f.b.Build(t.Context(), Options{File: file, ContextDir: two.dir, Progress: w, CacheFrom: []CacheSpec{
		{Type: "local", Dir: dir},
		{Type: "registry", Ref: "127.0.0.1:1/nothing/here:cache"},
	}})
	if err != nil {
		t.Fatalf("Build() with broken caches = %v, want success (warnings only)", err)
	}
	if len(w.ran) == 0 {
		t.Errorf("no step ran: corrupted cache blobs were used")
	}
	joined := strings.Join(w.msgs, "\n")
	if !strings.Contains(joined, "127.0.0.1:1") || !strings.Contains(joined, "dropping cache record") {
		t.Errorf("warnings = %q, want one for the unreachable registry and one for the corrupted blob", joined)
	}
	if res == nil {
		t.Fatal("no result")
	}
}

func TestLocalCacheExportReplaces(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	c := &cacheCtx{t: t, f: newFixture(t), dir: t.TempDir()}
	c.write("Dockerfile", remoteDockerfile)
	c.write("src", "v1")
	c.build(Options{CacheTo: []CacheSpec{{Type: "local", Dir: dir}}})
	c.write("src", "v2")
	c.build(Options{CacheTo: []CacheSpec{{Type: "local", Dir: dir}}})
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 {
		t.Errorf("local cache layout holds %d manifests after two exports, want 1 (replaced)", len(m.Manifests))
	}
}
