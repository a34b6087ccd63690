package build

import (
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/internal/dockerfile"
	"github.com/strata-build/strata/internal/registry"
	"github.com/strata-build/strata/internal/sandbox"
	"github.com/strata-build/strata/internal/testenv"
)

// ranSteps counts the steps that ran (not from the cache), by text.
type ranSteps struct {
	mu    sync.Mutex
	ran   map[string]int
	warns []string
}

func (p *ranSteps) Step(_ string, _, _ int, text string) (io.Writer, func(bool, error)) {
	return io.Discard, func(cached bool, err error) {
		if cached || err != nil {
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.ran == nil {
			p.ran = map[string]int{}
		}
		p.ran[text]++
	}
}

func (p *ranSteps) Warn(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.warns = append(p.warns, msg)
}

func (p *ranSteps) count(prefix string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for text, c := range p.ran {
		if strings.HasPrefix(text, prefix) {
			n += c
		}
	}
	return n
}

// crossDockerfile is the cross-compiling shape: a build-platform stage that
// reads the target ARGs, a shared step before them, and a scratch result.
const crossDockerfile = `FROM --platform=$BUILDPLATFORM busybox AS build
RUN echo shared > /shared
ARG TARGETPLATFORM TARGETOS TARGETARCH TARGETVARIANT BUILDPLATFORM BUILDARCH
RUN echo "$TARGETPLATFORM $TARGETOS $TARGETARCH [$TARGETVARIANT] $BUILDPLATFORM $BUILDARCH" > /out
FROM scratch
COPY --from=build /shared /out /
`

// TestMultiPlatformIndex: three platforms give an OCI index with one image
// per platform, each with its platform in the descriptor and the config,
// and the TARGET ARGs of its platform; BuildKit's normal forms apply
// (arm64 has no variant, arm is arm/v7).
func TestMultiPlatformIndex(t *testing.T) {
	f := newFixture(t)
	res := f.mustBuild(buildCase{dockerfile: crossDockerfile,
		platforms: []string{"linux/amd64", "linux/arm64/v8", "linux/arm"}})
	if res.Index == nil {
		t.Fatal("Result.Index = nil, want an index of three platforms")
	}
	if mt, _ := res.Index.MediaType(); mt != types.OCIImageIndex {
		t.Errorf("index media type = %s, want %s", mt, types.OCIImageIndex)
	}
	m, err := res.Index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := res.Index.RawManifest(); strings.Contains(string(raw), "artifactType") {
		t.Errorf("index entries carry artifactType, which BuildKit does not write: %s", raw)
	}
	want := []struct {
		plat v1.Platform
		out  string
	}{
		{v1.Platform{OS: "linux", Architecture: "amd64"}, "linux/amd64 linux amd64 [] linux/amd64 amd64\n"},
		{v1.Platform{OS: "linux", Architecture: "arm64"}, "linux/arm64 linux arm64 [] linux/amd64 amd64\n"},
		{v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, "linux/arm/v7 linux arm [v7] linux/amd64 amd64\n"},
	}
	if len(m.Manifests) != len(want) {
		t.Fatalf("index has %d manifests, want %d", len(m.Manifests), len(want))
	}
	for i, w := range want {
		d := m.Manifests[i]
		if d.Platform == nil || !d.Platform.Equals(w.plat) {
			t.Errorf("entry %d platform = %v, want %v", i, d.Platform, w.plat)
		}
		img, err := res.Index.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf := config(t, img)
		if got := (v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}); !got.Equals(w.plat) {
			t.Errorf("%v: config platform = %v", w.plat, got)
		}
		files := flatten(t, img)
		if got := files["/out"].body; got != w.out {
			t.Errorf("%v: /out = %q, want %q", w.plat, got, w.out)
		}
		if got := files["/shared"].body; got != "shared\n" {
			t.Errorf("%v: /shared = %q", w.plat, got)
		}
		if res.Platforms[i].Digest != d.Digest {
			t.Errorf("Platforms[%d].Digest = %s, index entry %s", i, res.Platforms[i].Digest, d.Digest)
		}
	}
	if res.Ref() != res.IndexDigest {
		t.Errorf("Ref() = %s, want the index digest %s", res.Ref(), res.IndexDigest)
	}
	if isIdx, err := f.store.IsIndex(t.Context(), res.IndexDigest); err != nil || !isIdx {
		t.Errorf("the store's %s: IsIndex = %v, %v; want a stored index", res.IndexDigest, isIdx, err)
	}
}

// TestBuildPlatformStageRunsOnce: a step of a FROM --platform=$BUILDPLATFORM
// stage that does not read the TARGET ARGs runs once for every platform;
// the steps that do run once per platform; a rebuild runs nothing and gives
// the same index.
func TestBuildPlatformStageRunsOnce(t *testing.T) {
	f := newFixture(t)
	plats := []string{"linux/amd64", "linux/arm64"}
	p := &ranSteps{}
	first := f.mustBuild(buildCase{dockerfile: crossDockerfile, platforms: plats, progress: p})
	if n := p.count("RUN echo shared"); n != 1 {
		t.Errorf("the shared build-platform step ran %d times, want 1", n)
	}
	if n := p.count(`RUN echo "$TARGETPLATFORM`); n != 2 {
		t.Errorf("the step reading TARGET ARGs ran %d times, want 2 (once per platform)", n)
	}
	p = &ranSteps{}
	again := f.mustBuild(buildCase{dockerfile: crossDockerfile, platforms: plats, progress: p})
	if n := p.count("RUN") + p.count("COPY"); n != 0 {
		t.Errorf("rebuild ran %d steps, want every platform's steps from the cache: %v", n, p.ran)
	}
	if again.IndexDigest != first.IndexDigest {
		t.Errorf("rebuild index %s, first %s: want the same digest", again.IndexDigest, first.IndexDigest)
	}
	// One platform alone is a cache hit of the multi-platform build.
	p = &ranSteps{}
	one := f.mustBuild(buildCase{dockerfile: crossDockerfile, platforms: []string{"linux/arm64"}, progress: p})
	if one.Index != nil || one.Digest != first.Platforms[1].Digest {
		t.Errorf("--platform linux/arm64 alone = %s (index %v), want the multi-platform build's arm64 image %s",
			one.Digest, one.Index != nil, first.Platforms[1].Digest)
	}
	if n := p.count("RUN"); n != 0 {
		t.Errorf("--platform linux/arm64 alone ran %d RUN steps, want cache hits", n)
	}
}

// TestPlatformErrors: a base image the store has for other platforms only,
// with no registry, names both; bad --platform values are refused.
func TestPlatformErrors(t *testing.T) {
	f := newFixture(t)
	_, err := f.build(buildCase{dockerfile: "FROM busybox\nRUN true\n", platforms: []string{"linux/arm64"}})
	want := `Dockerfile:1: resolving base image "busybox": the store's busybox is for linux/amd64, not linux/arm64`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Build(FROM busybox, linux/arm64) = %v, want %q", err, want)
	}
	for _, tt := range []struct{ in, want string }{
		{"windows/amd64", `unsupported platform "windows/amd64": strata builds linux images only`},
		{"linux/sparc", `unsupported platform "linux/sparc"`},
		{"arm64", `invalid platform "arm64": want os/arch[/variant]`},
	} {
		_, err := f.build(buildCase{dockerfile: "FROM scratch\n", platforms: []string{tt.in}})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("--platform %s: %v, want %q", tt.in, err, tt.want)
		}
	}
}

func TestNormalizePlatform(t *testing.T) {
	for in, want := range map[string]string{
		"linux/amd64": "linux/amd64", "linux/x86_64": "linux/amd64", "Linux/AMD64": "linux/amd64",
		"linux/arm64": "linux/arm64", "linux/arm64/v8": "linux/arm64", "linux/aarch64": "linux/arm64",
		"linux/arm": "linux/arm/v7", "linux/arm/7": "linux/arm/v7", "linux/arm/v6": "linux/arm/v6",
		"linux/386": "linux/386", "linux/riscv64": "linux/riscv64", "linux/ppc64le": "linux/ppc64le", "linux/s390x": "linux/s390x",
	} {
		got, err := NormalizePlatform(in)
		if err != nil || got != want {
			t.Errorf("NormalizePlatform(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	got, err := Platforms([]string{"linux/arm64", "linux/aarch64", "linux/amd64"})
	if err != nil || fmt.Sprint(got) != "[linux/arm64 linux/amd64]" {
		t.Errorf("Platforms(dup) = %v, %v; want [linux/arm64 linux/amd64]", got, err)
	}
}

// withArm64Busybox adds Debian's arm64 busybox to the fixture's
// busybox:latest, which becomes an index of both platforms.
func withArm64Busybox(t *testing.T, f *fixture) {
	t.Helper()
	h, err := f.store.WriteImage(t.Context(), testenv.BusyboxImageFor(t, "linux/arm64"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.TagPlatform(t.Context(), "busybox:latest", h); err != nil {
		t.Fatal(err)
	}
}

// TestEmulatedRun: the arm64 image's RUN runs arm64 binaries under QEMU
// (binfmt_misc, registered by emulate.Ensure when missing) in every
// sandbox, beside the native amd64 one, from one base name.
func TestEmulatedRun(t *testing.T) {
	for _, iso := range []string{"builtin", "oci", "chroot"} {
		t.Run(iso, func(t *testing.T) {
			var runner sandbox.Runner
			if iso == "chroot" {
				runner = sandbox.NewChroot(sandbox.Options{TempDir: testenv.NodevTmpfs(t)})
			} else {
				runner = testRunner(t, iso)
			}
			f := newFixtureWith(t, runner)
			withArm64Busybox(t, f)
			res := f.mustBuild(buildCase{
				dockerfile: "FROM busybox\nARG TARGETARCH\nRUN echo \"$(uname -m) $TARGETARCH\" > /m && file=$(readlink -f /bin/sh) && head -c 20 $file | od -An -tx1 | tr -d ' \\n' | cut -c37-40 >> /m\n",
				platforms:  []string{"linux/amd64", "linux/arm64"},
			})
			for i, want := range []string{"x86_64 amd64\n3e00\n", "aarch64 arm64\nb700\n"} {
				img := res.Platforms[i].Image
				if got := flatten(t, img)["/m"].body; got != want {
					t.Errorf("%s: /m = %q, want %q (uname -m, TARGETARCH, ELF machine of /bin/sh)", res.Platforms[i].Platform, got, want)
				}
				if cf := config(t, img); cf.Architecture != strings.Fields(want)[1] {
					t.Errorf("%s: config architecture %q", res.Platforms[i].Platform, cf.Architecture)
				}
			}
		})
	}
}

// TestMultiPlatformBaseFromRegistry: a base image whose registry index has
// both platforms is pulled once per platform, and the store's tag then
// names both (so a rebuild needs no registry); the built index pushed to a
// registry gives each platform's image back by platform.
func TestMultiPlatformBaseFromRegistry(t *testing.T) {
	testenv.RequireRoot(t)
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	base := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: testenv.BusyboxImage(t), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: testenv.BusyboxImageFor(t, "linux/arm64"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}})
	reg := registry.New(registry.Options{Mirrors: []string{host}})
	if err := reg.PushIndex(t.Context(), host+"/library/busybox:1.36", base); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	f.b.registry = reg
	c := buildCase{dockerfile: "FROM busybox:1.36\nRUN uname -m > /m\n", platforms: []string{"linux/amd64", "linux/arm64"}}
	res := f.mustBuild(c)
	for i, want := range []string{"x86_64\n", "aarch64\n"} {
		if got := flatten(t, res.Platforms[i].Image)["/m"].body; got != want {
			t.Errorf("%s: /m = %q, want %q", res.Platforms[i].Platform, got, want)
		}
	}
	h, err := f.store.Resolve(t.Context(), "busybox:1.36")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		if _, err := f.store.ImageFor(t.Context(), h, p); err != nil {
			t.Errorf("the store's busybox:1.36 for %s: %v", p, err)
		}
	}
	srv.Close()
	again := f.mustBuild(c)
	if again.IndexDigest != res.IndexDigest {
		t.Errorf("rebuild without the registry: index %s, want %s", again.IndexDigest, res.IndexDigest)
	}

	out := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer out.Close()
	ref := strings.TrimPrefix(out.URL, "http://") + "/app:multi"
	if err := registry.New(registry.Options{}).PushIndex(t.Context(), ref, res.Index); err != nil {
		t.Fatal(err)
	}
	for i, p := range []string{"linux/amd64", "linux/arm64"} {
		img, err := registry.New(registry.Options{}).PullPlatform(t.Context(), ref, p)
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := img.Digest(); d != res.Platforms[i].Digest {
			t.Errorf("pulled %s for %s, want %s", d, p, res.Platforms[i].Digest)
		}
	}
	if _, err := registry.New(registry.Options{}).PullPlatform(t.Context(), ref, "linux/s390x"); err == nil {
		t.Error("pulling linux/s390x of a two-platform index worked, want an error")
	}
}

// TestInvalidBaseImagePlatform: a registry's single-platform base of
// another architecture is used, with BuildKit's warning.
func TestInvalidBaseImagePlatform(t *testing.T) {
	testenv.RequireRoot(t)
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	if err := registry.New(registry.Options{}).Push(t.Context(), host+"/library/solo:1", testenv.BusyboxImage(t)); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	f.b.registry = registry.New(registry.Options{Mirrors: []string{host}})
	p := &ranSteps{}
	res := f.mustBuild(buildCase{dockerfile: "FROM solo:1\nRUN uname -m > /m\n", platforms: []string{"linux/arm64"}, progress: p})
	want := `InvalidBaseImagePlatform: Base image solo:1 was pulled with platform "linux/amd64", expected "linux/arm64" for current build (Dockerfile:1)`
	if !slices.Contains(p.warns, want) {
		t.Errorf("warnings %q, want %q", p.warns, want)
	}
	if cf := config(t, res.Image); cf.Architecture != "arm64" {
		t.Errorf("config architecture %q, want arm64 (the target platform, as BuildKit)", cf.Architecture)
	}
}

// TestMultiPlatformLayoutContext: an oci-layout:// context holding a
// multi-platform image gives each platform its own image.
func TestMultiPlatformLayoutContext(t *testing.T) {
	f := newFixture(t)
	plats := []string{"linux/amd64", "linux/arm64"}
	base := f.mustBuild(buildCase{dockerfile: crossDockerfile, platforms: plats})
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendIndex(base.Index); err != nil {
		t.Fatal(err)
	}
	file, err := dockerfile.Parse("Dockerfile", []byte("FROM base\nCOPY --from=base /out /copied\n"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.b.Build(t.Context(), Options{File: file, ContextDir: t.TempDir(), Platforms: plats,
		Contexts: map[string]Context{"base": {Layout: dir}}})
	if err != nil {
		t.Fatal(err)
	}
	for i, arch := range []string{"amd64", "arm64"} {
		files := flatten(t, res.Platforms[i].Image)
		if got := files["/copied"].body; !strings.HasPrefix(got, "linux/"+arch+" ") {
			t.Errorf("%s: /copied = %q, want the layout's %s image's /out", res.Platforms[i].Platform, got, arch)
		}
	}
}
