package build

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestCachedOnly: a CachedOnly build of what is all in the cache makes the
// same image, every step cached; one step not in the cache ends it with
// ErrNeedsRun naming that step, having run and recorded nothing.
func TestCachedOnly(t *testing.T) {
	c := &cacheCtx{t: t, f: newFixture(t), dir: t.TempDir()}
	c.write("Dockerfile", cacheDockerfile)
	c.write("manifest.txt", "dep v1")
	c.write("src/a.go", "package a")
	first, _ := c.build(Options{})

	again, log := c.build(Options{CachedOnly: true})
	if again.Digest != first.Digest {
		t.Errorf("CachedOnly build = %s, want the first build's %s", again.Digest, first.Digest)
	}
	if len(log.ran) != 0 || len(log.cached) != 5 {
		t.Errorf("CachedOnly no-op ran %q and took %d steps from the cache; want none run, 5 cached", log.ran, len(log.cached))
	}

	c.write("src/a.go", "package a // v2")
	_, err := c.f.b.Build(context.Background(), Options{File: c.parse(), ContextDir: c.dir, Ignore: []string{"ignored/"}, CachedOnly: true})
	if !errors.Is(err, ErrNeedsRun) {
		t.Fatalf("CachedOnly build of a changed source = %v, want ErrNeedsRun", err)
	}
	if want := "Dockerfile:6: COPY src/ /app/src/: not in the build cache"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not name the step that must run (%s)", err, want)
	}
	// The steps run in a build that may run them, which CachedOnly then
	// finds.
	ran, log := c.build(Options{})
	if want := []string{"COPY src/ /app/src/", "RUN echo", "COPY --from=app"}; !sameSteps(log.ran, want) {
		t.Errorf("the build after CachedOnly ran %q, want %q", log.ran, want)
	}
	if ran.Digest == first.Digest {
		t.Errorf("a changed source built the first build's image %s", ran.Digest)
	}
	if again, _ := c.build(Options{CachedOnly: true}); again.Digest != ran.Digest {
		t.Errorf("CachedOnly build = %s, want %s", again.Digest, ran.Digest)
	}
}

// TestCachedOnlyNoPull: a base image missing from the store is not pulled
// by a CachedOnly build given no registry (as the CLI gives it none).
func TestCachedOnlyNoPull(t *testing.T) {
	c := &cacheCtx{t: t, f: newFixture(t), dir: t.TempDir()}
	c.write("Dockerfile", "FROM example.invalid/absent:1\nRUN true\n")
	_, err := c.f.b.Build(context.Background(), Options{File: c.parse(), ContextDir: c.dir, CachedOnly: true})
	if err == nil || !strings.Contains(err.Error(), "not in the store") {
		t.Errorf("CachedOnly build of an absent base = %v, want not in the store", err)
	}
}

// TestCachedOnlyExtractsNothing: under a CachedOnly build's context a
// stage's filesystem is not extracted.
func TestCachedOnlyExtractsNothing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	h, err := f.store.Resolve(ctx, "busybox:latest")
	if err != nil {
		t.Fatal(err)
	}
	img, err := f.store.Image(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	st := &state{}
	for _, l := range layers {
		st.layers = append(st.layers, &layerRef{layer: l})
	}
	if _, err := st.stack(withCachedOnly(ctx), f.store); !errors.Is(err, ErrNeedsRun) {
		t.Errorf("stack under a CachedOnly build = %v, want ErrNeedsRun", err)
	}
	if layerExtracted(f.store, layers[0]) {
		t.Errorf("stack under a CachedOnly build extracted %v", layers[0])
	}
	if _, err := st.stack(ctx, f.store); err != nil || !layerExtracted(f.store, layers[0]) {
		t.Errorf("stack = %v, extracted %v; want the layer extracted", err, layerExtracted(f.store, layers[0]))
	}
}

// TestKeyOwners: the keys of steps reading the context see its files'
// owners through Options.KeyOwners (as an ordinary user's namespace would
// see them): the same view finds the steps in the cache, another does not.
func TestKeyOwners(t *testing.T) {
	c := &cacheCtx{t: t, f: newFixture(t), dir: t.TempDir()}
	c.write("Dockerfile", cacheDockerfile)
	c.write("manifest.txt", "dep v1")
	c.write("src/a.go", "package a")
	first, _ := c.build(Options{})
	same := func(uid, gid uint32) (uint32, uint32) { return uid, gid }
	if again, _ := c.build(Options{CachedOnly: true, KeyOwners: same}); again.Digest != first.Digest {
		t.Errorf("CachedOnly build with the owners as they are = %s, want %s", again.Digest, first.Digest)
	}
	other := func(uid, gid uint32) (uint32, uint32) { return uid + 1, gid }
	_, err := c.f.b.Build(context.Background(), Options{File: c.parse(), ContextDir: c.dir, Ignore: []string{"ignored/"}, CachedOnly: true, KeyOwners: other})
	if want := "Dockerfile:2: COPY manifest.txt /app/: not in the build cache"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("CachedOnly build with other owners = %v, want %s", err, want)
	}
}
