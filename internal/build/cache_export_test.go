package build

import (
	"bytes"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/registry"
	"github.com/strata-build/strata/internal/testenv"
)

// repoRegistry is ggcr's in-process registry made to keep blobs per
// repository as Docker's does (a blob pushed to one repository is unknown
// to the others until mounted or pushed there; ggcr's registry shares
// them), answering cross-repository mounts, and logging every request.
type repoRegistry struct {
	next  http.Handler
	mu    sync.Mutex
	blobs map[string]bool // "repo@digest"
	log   []string        // "METHOD path", query dropped but for mount
}

func newRepoRegistry(t *testing.T) (*repoRegistry, string) {
	rr := &repoRegistry{next: ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))), blobs: map[string]bool{}}
	srv := httptest.NewServer(rr)
	t.Cleanup(srv.Close)
	return rr, strings.TrimPrefix(srv.URL, "http://")
}

func (rr *repoRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	repo, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v2/"), "/blobs/")
	entry := r.Method + " " + r.URL.Path
	mount := r.URL.Query().Get("mount")
	if mount != "" {
		entry += " mount"
	}
	rr.mu.Lock()
	rr.log = append(rr.log, entry)
	rr.mu.Unlock()
	if rest == "" || !strings.Contains(r.URL.Path, "/blobs/") {
		rr.next.ServeHTTP(w, r)
		return
	}
	switch {
	case r.Method == http.MethodPost && mount != "":
		if rr.has(r.URL.Query().Get("from"), mount) {
			rr.add(repo, mount)
			w.Header().Set("Docker-Content-Digest", mount)
			w.WriteHeader(http.StatusCreated)
			return
		}
	case r.Method == http.MethodPut && strings.HasPrefix(rest, "uploads/"):
		rec := &codeRecorder{ResponseWriter: w}
		rr.next.ServeHTTP(rec, r)
		if rec.code == http.StatusCreated {
			rr.add(repo, r.URL.Query().Get("digest"))
		}
		return
	case (r.Method == http.MethodHead || r.Method == http.MethodGet) && !strings.HasPrefix(rest, "uploads"):
		if !rr.has(repo, rest) {
			w.WriteHeader(http.StatusNotFound)
			return
		}
	}
	rr.next.ServeHTTP(w, r)
}

func (rr *repoRegistry) has(repo, d string) bool {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return rr.blobs[repo+"@"+d]
}

func (rr *repoRegistry) add(repo, d string) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	rr.blobs[repo+"@"+d] = true
}

// requests returns the logged requests matching prefix and contains, and
// clears the log when reset.
func (rr *repoRegistry) requests(method, contains string) []string {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	var out []string
	for _, e := range rr.log {
		if strings.HasPrefix(e, method+" ") && strings.Contains(e, contains) {
			out = append(out, e)
		}
	}
	return out
}

func (rr *repoRegistry) reset() {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	rr.log = nil
}

type codeRecorder struct {
	http.ResponseWriter
	code int
}

func (c *codeRecorder) WriteHeader(code int) {
	c.code = code
	c.ResponseWriter.WriteHeader(code)
}

// newRegistryCtx is a build context whose builder reaches the test registry.
func newRegistryCtx(t *testing.T) *cacheCtx {
	c := &cacheCtx{t: t, f: newFixture(t), dir: t.TempDir()}
	c.f.b.registry = registry.New(registry.Options{})
	return c
}

// newRemoteCtx is a registry build context holding remoteDockerfile and
// its source "x".
func newRemoteCtx(t *testing.T) *cacheCtx {
	c := newRegistryCtx(t)
	c.write("Dockerfile", remoteDockerfile)
	c.write("src", "x")
	return c
}

const incrementalDockerfile = "FROM busybox\nCOPY a /a\nRUN cat /a > /a2\nCOPY b /b\n"

// TestCacheExportIncremental: a second export to the same ref checks and
// sends only the blob the first did not, and keeps the first's records.
func TestCacheExportIncremental(t *testing.T) {
	rr, host := newRepoRegistry(t)
	spec := CacheSpec{Type: "registry", Ref: host + "/cache/app:buildcache", Mode: "max"}
	c := newRegistryCtx(t)
	c.write("Dockerfile", incrementalDockerfile)
	c.write("a", "a")
	c.write("b", "b v1")
	c.build(Options{CacheTo: []CacheSpec{spec}})
	if ups := rr.requests("PUT", "/blobs/uploads/"); len(ups) != 4 { // 3 layers and the config
		t.Errorf("first export uploaded %d blobs, want 4 (3 layers, config): %q", len(ups), ups)
	}

	rr.reset()
	c.write("b", "b v2")
	c.build(Options{CacheTo: []CacheSpec{spec}})
	if heads := rr.requests("HEAD", "/blobs/"); len(heads) != 1 {
		t.Errorf("second export checked %d blobs, want 1 (the new COPY b layer): %q", len(heads), heads)
	}
	if ups := rr.requests("PUT", "/blobs/uploads/"); len(ups) != 2 {
		t.Errorf("second export uploaded %d blobs, want 2 (the new layer, the config): %q", len(ups), ups)
	}
	if puts := rr.requests("PUT", "/manifests/"); len(puts) != 1 {
		t.Errorf("second export put %d manifests, want 1", len(puts))
	}

	// Both versions of COPY b are importable: a fresh store builds v1
	// and v2 with every step from the cache.
	for _, b := range []string{"b v1", "b v2"} {
		two := newRegistryCtx(t)
		two.write("Dockerfile", incrementalDockerfile)
		two.write("a", "a")
		two.write("b", b)
		if _, log := two.build(Options{CacheFrom: []CacheSpec{spec}}); len(log.ran) != 0 {
			t.Errorf("with b = %q a fresh store ran %q, want every step from the merged cache", b, log.ran)
		}
	}
}

// TestCacheExportMergesTargets: two targets exported in turn to one ref
// are both importable.
func TestCacheExportMergesTargets(t *testing.T) {
	_, host := newRepoRegistry(t)
	spec := CacheSpec{Type: "registry", Ref: host + "/cache/app:buildcache", Mode: "max"}
	const df = "FROM busybox AS test\nCOPY a /a\nRUN cat /a > /tested\nFROM busybox AS app\nCOPY b /b\nRUN cat /b > /built\n"
	one := newRegistryCtx(t)
	one.write("Dockerfile", df)
	one.write("a", "a")
	one.write("b", "b")
	one.build(Options{Target: "test", CacheTo: []CacheSpec{spec}})
	one.build(Options{Target: "app", CacheTo: []CacheSpec{spec}})
	for _, target := range []string{"test", "app"} {
		two := newRegistryCtx(t)
		two.write("Dockerfile", df)
		two.write("a", "a")
		two.write("b", "b")
		if _, log := two.build(Options{Target: target, CacheFrom: []CacheSpec{spec}}); len(log.ran) != 0 {
			t.Errorf("--target %s from the merged cache ran %q, want every step from the cache", target, log.ran)
		}
	}
}

// TestCacheRecordsExpire: a record no build used in cacheKeepExports
// exports leaves the cache, its layer with it.
func TestCacheRecordsExpire(t *testing.T) {
	prev := &storedCache{cfg: cacheConfig{Records: map[string]exportedRecord{
		"old":   {cacheRecord: cacheRecord{Layer: &recordLayer{Digest: "sha256:" + strings.Repeat("a", 64), Size: 1}}, Idle: cacheKeepExports - 1},
		"young": {cacheRecord: cacheRecord{Layer: &recordLayer{Digest: "sha256:" + strings.Repeat("b", 64), Size: 1}}, Idle: 2},
		"used":  {cacheRecord: cacheRecord{CreatedBy: "ENV"}, Idle: 5},
		"min":   {cacheRecord: cacheRecord{CreatedBy: "RUN"}, Idle: cacheKeepExports - 1}, // used, not exported (mode=min)
	}}, layers: map[v1.Hash]bool{hashOrZero("sha256:" + strings.Repeat("a", 64)): true, hashOrZero("sha256:" + strings.Repeat("b", 64)): true}}
	ph := &CachePhase{}
	cfg := mergeRecords(prev, map[string]cacheRecord{"used": {CreatedBy: "ENV"}}, map[string]bool{"used": true, "min": true}, ph)
	var keys []string
	for k, rec := range cfg.Records {
		keys = append(keys, k)
		if want := map[string]int{"young": 3, "used": 0, "min": 0}[k]; rec.Idle != want {
			t.Errorf("record %s idle = %d, want %d", k, rec.Idle, want)
		}
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"min", "used", "young"}) || ph.Dropped != 1 || ph.Kept != 2 {
		t.Errorf("merged records = %q (kept %d, dropped %d), want [min used young] (kept 2, dropped 1)", keys, ph.Kept, ph.Dropped)
	}
	img, err := cacheImageOf(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(img.layers) != 1 || img.layers[0].Digest.Hex != strings.Repeat("b", 64) {
		t.Errorf("cache layers = %v, want the young record's only", img.layers)
	}
}

// TestCacheExportMounts: a build that got its steps from one repository's
// cache exports to another repository of the same registry by mounting
// the layer blobs: nothing is uploaded but the new config.
func TestCacheExportMounts(t *testing.T) {
	rr, host := newRepoRegistry(t)
	main := CacheSpec{Type: "registry", Ref: host + "/cache/main:buildcache"}
	branch := CacheSpec{Type: "registry", Ref: host + "/cache/branch:buildcache"}
	one := newRemoteCtx(t)
	one.build(Options{CacheTo: []CacheSpec{main}})

	rr.reset()
	two := newRemoteCtx(t)
	_, log := two.build(Options{CacheFrom: []CacheSpec{main}, CacheTo: []CacheSpec{branch}})
	if len(log.ran) != 0 {
		t.Fatalf("ran %q, want every step from the cache", log.ran)
	}
	mounts := rr.requests("POST", "/cache/branch/blobs/uploads/ mount")
	ups := rr.requests("PUT", "/cache/branch/blobs/uploads/")
	if len(mounts) != 4 || len(ups) != 1 {
		t.Errorf("export to the branch cache: %d mounts, %d uploads; want 4 layers mounted and only the config uploaded\n%q", len(mounts), len(ups), rr.log)
	}
}

// TestLazyCacheImport: a second store rebuilds a multi-stage Dockerfile
// from a registry cache running no step, and fetches only the blobs of the
// target image's layers, not those of the builder stage.
func TestLazyCacheImport(t *testing.T) {
	rr, host := newRepoRegistry(t)
	spec := CacheSpec{Type: "registry", Ref: host + "/cache/app:buildcache"}
	one := newRemoteCtx(t)
	first, _ := one.build(Options{CacheTo: []CacheSpec{spec}})
	builder := stageLayers(t, first, "build", 1)
	target := stageLayers(t, first, "", 1)

	rr.reset()
	two := newRemoteCtx(t)
	res, log := two.build(Options{CacheFrom: []CacheSpec{spec}})
	if len(log.ran) != 0 {
		t.Errorf("second store ran %q, want every step from the cache", log.ran)
	}
	if res.Digest != first.Digest {
		t.Errorf("second store built %s, want %s", res.Digest, first.Digest)
	}
	for _, d := range target {
		if gets := rr.requests("GET", "/blobs/"+d.String()); len(gets) != 1 {
			t.Errorf("target layer %s fetched %d times, want once", d, len(gets))
		}
	}
	t.Run("builder not fetched", func(t *testing.T) {
		if got := rr.requests("GET", "/blobs/"+builder[0].String()); len(got) > 0 {
			t.Errorf("builder layer fetched %d times; a stage read only through cache hits must not be", len(got))
		}
	})
}

// stageLayers returns the digests of the last n layers of a stage's image
// ("" for the target).
func stageLayers(t *testing.T, res *Result, name string, n int) []v1.Hash {
	t.Helper()
	for _, s := range res.Stages {
		if s.Name == name && !s.Target || name == "" && s.Target {
			ls, err := s.Image.Layers()
			if err != nil {
				t.Fatal(err)
			}
			var out []v1.Hash
			for _, l := range ls[len(ls)-n:] {
				d, _ := l.Digest()
				out = append(out, d)
			}
			return out
		}
	}
	t.Fatalf("no stage %q", name)
	return nil
}

// TestCacheFromNotACache: a --cache-from naming an ordinary image is a
// warning, and the build runs its steps.
func TestCacheFromNotACache(t *testing.T) {
	_, host := newRepoRegistry(t)
	ref := host + "/images/busybox:latest"
	if err := registry.New(registry.Options{}).Push(t.Context(), ref, testenv.BusyboxImage(t)); err != nil {
		t.Fatal(err)
	}
	c := newRemoteCtx(t)
	w := &warnings{}
	if _, err := c.f.b.Build(t.Context(), Options{File: c.parse(), ContextDir: c.dir, Progress: w,
		CacheFrom: []CacheSpec{{Type: "registry", Ref: ref}}}); err != nil {
		t.Fatalf("Build() = %v, want success with a warning", err)
	}
	if len(w.msgs) != 1 || !strings.Contains(w.msgs[0], "not a strata build cache") {
		t.Errorf("warnings = %q, want one saying %s is not a build cache", w.msgs, ref)
	}
	if len(w.ran) == 0 {
		t.Error("no step ran")
	}
}

// TestLocalCacheExportIncremental: a second export to a directory writes
// only the blobs it lacks, removes those the cache no longer names, and
// leaves a valid layout whose every blob matches its descriptor.
func TestLocalCacheExportIncremental(t *testing.T) {
	c, dir, spec := exportedLocalCache(t, "b v1")
	before := blobFiles(t, dir)
	checkCacheLayout(t, dir)

	c.write("b", "b v2")
	c.build(Options{CacheTo: []CacheSpec{spec}})
	after := blobFiles(t, dir)
	checkCacheLayout(t, dir)
	rewritten, added := 0, 0
	for name, fi := range after {
		if old, ok := before[name]; !ok {
			added++
		} else if !os.SameFile(old, fi) {
			rewritten++
		}
	}
	if rewritten != 0 || added != 3 { // the new COPY b layer, config, manifest
		t.Errorf("second export rewrote %d blobs and added %d, want 0 and 3 (layer, config, manifest)", rewritten, added)
	}
	// Both records of COPY b are kept: 4 layers; with config and manifest, 6 blobs.
	if len(after) != 6 {
		t.Errorf("cache holds %d blobs, want 6 (4 layers, config, manifest: the old ones removed)", len(after))
	}
}

func blobFiles(t *testing.T, dir string) map[string]os.FileInfo {
	t.Helper()
	out := map[string]os.FileInfo{}
	ents, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = fi
	}
	return out
}

// checkCacheLayout checks that the layout's index names one cache
// manifest and that every blob it reaches has the digest and size its
// descriptor says.
func checkCacheLayout(t *testing.T, dir string) {
	t.Helper()
	var idx v1.IndexManifest
	readJSON(t, filepath.Join(dir, "index.json"), &idx)
	if len(idx.Manifests) != 1 || !isCacheEntry(idx.Manifests[0]) {
		t.Fatalf("index = %+v, want one cache manifest", idx.Manifests)
	}
	check := func(d v1.Descriptor) []byte {
		b, err := os.ReadFile(filepath.Join(dir, "blobs", d.Digest.Algorithm, d.Digest.Hex))
		if err != nil {
			t.Fatalf("blob %s: %v", d.Digest, err)
		}
		if h, n, _ := v1.SHA256(bytes.NewReader(b)); h != d.Digest || n != d.Size {
			t.Errorf("blob %s: digest %s, size %d; descriptor says size %d", d.Digest, h, n, d.Size)
		}
		return b
	}
	var m v1.Manifest
	if err := json.Unmarshal(check(idx.Manifests[0]), &m); err != nil {
		t.Fatal(err)
	}
	check(m.Config)
	for _, l := range m.Layers {
		check(l)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// TestCacheExportAcrossRegistries: a build that imported a cache from one
// registry exports it to another: every layer the new cache names is
// there afterwards, those the build never read fetched from the first
// registry on the way (a mount cannot cross registries).
func TestCacheExportAcrossRegistries(t *testing.T) {
	_, hostA := newRepoRegistry(t)
	rrB, hostB := newRepoRegistry(t)
	from := CacheSpec{Type: "registry", Ref: hostA + "/cache/app:buildcache"}
	to := CacheSpec{Type: "registry", Ref: hostB + "/cache/app:buildcache"}
	one := newRemoteCtx(t)
	one.build(Options{CacheTo: []CacheSpec{from}})

	two := newRemoteCtx(t)
	if _, log := two.build(Options{CacheFrom: []CacheSpec{from}, CacheTo: []CacheSpec{to}}); len(log.ran) != 0 {
		t.Fatalf("ran %q, want every step from the cache", log.ran)
	}
	raw, _, err := mustRepository(t, two, to.Ref).Manifest(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 4 {
		t.Errorf("exported cache names %d layers, want 4", len(m.Layers))
	}
	for _, l := range m.Layers {
		if !rrB.has("cache/app", l.Digest.String()) {
			t.Errorf("layer %s is not in the second registry", l.Digest)
		}
	}
}

func mustRepository(t *testing.T, c *cacheCtx, ref string) *registry.Repository {
	t.Helper()
	repo, err := c.f.b.registry.Repository(t.Context(), ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// TestLazyCacheBlobGone: a cache blob that cannot be fetched when the
// build reads it fails the build with an error naming the blob and the
// cache (the step that made it is past: it cannot run instead).
func TestLazyCacheBlobGone(t *testing.T) {
	rr, host := newRepoRegistry(t)
	spec := CacheSpec{Type: "registry", Ref: host + "/cache/app:buildcache"}
	one := newRemoteCtx(t)
	first, _ := one.build(Options{CacheTo: []CacheSpec{spec}})
	gone := stageLayers(t, first, "", 1)[0]
	rr.mu.Lock()
	delete(rr.blobs, "cache/app@"+gone.String())
	rr.mu.Unlock()

	two := newRemoteCtx(t)
	_, err := two.f.b.Build(t.Context(), Options{File: two.parse(), ContextDir: two.dir, CacheFrom: []CacheSpec{spec}})
	if err == nil || !strings.Contains(err.Error(), "fetching cache layer "+gone.String()+" from "+spec.Ref) {
		t.Errorf("Build() with a cache blob gone = %v, want an error fetching %s from %s", err, gone, spec.Ref)
	}
}

// TestCacheSameRef: CI's usual --cache-from R --cache-to R from a fresh
// store: every step hits, and the export checks and sends nothing: the
// layers are in R's manifest, and the records, all used, are unchanged.
func TestCacheSameRef(t *testing.T) {
	rr, host := newRepoRegistry(t)
	spec := CacheSpec{Type: "registry", Ref: host + "/cache/app:buildcache"}
	one := newRemoteCtx(t)
	one.build(Options{CacheTo: []CacheSpec{spec}})

	rr.reset()
	two := newRemoteCtx(t)
	if _, log := two.build(Options{CacheFrom: []CacheSpec{spec}, CacheTo: []CacheSpec{spec}}); len(log.ran) != 0 {
		t.Fatalf("ran %q, want every step from the cache", log.ran)
	}
	heads, ups, puts := rr.requests("HEAD", "/blobs/"), rr.requests("PUT", "/blobs/uploads/"), rr.requests("PUT", "/manifests/")
	if len(heads)+len(ups)+len(puts) != 0 {
		t.Errorf("export to the imported ref: %d blobs checked, %d uploaded, %d manifests put; want none", len(heads), len(ups), len(puts))
	}
}

// TestLocalCacheExportOverDamaged: a cache whose config is not readable
// any more is replaced by the next export, not an error.
func TestLocalCacheExportOverDamaged(t *testing.T) {
	c, dir, spec := exportedLocalCache(t, "b")
	var idx v1.IndexManifest
	readJSON(t, filepath.Join(dir, "index.json"), &idx)
	var m v1.Manifest
	readJSON(t, filepath.Join(dir, "blobs", "sha256", idx.Manifests[0].Digest.Hex), &m)
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", m.Config.Digest.Hex), []byte("not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.write("b", "b v2")
	c.build(Options{CacheTo: []CacheSpec{spec}})
	checkCacheLayout(t, dir)
}

// exportedLocalCache builds incrementalDockerfile (b holding b) with its
// cache exported to a local directory, and returns the context, the
// directory and the cache spec.
func exportedLocalCache(t *testing.T, b string) (*cacheCtx, string, CacheSpec) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "cache")
	spec := CacheSpec{Type: "local", Dir: dir}
	c := newRegistryCtx(t)
	c.write("Dockerfile", incrementalDockerfile)
	c.write("a", "a")
	c.write("b", b)
	c.build(Options{CacheTo: []CacheSpec{spec}})
	return c, dir, spec
}
