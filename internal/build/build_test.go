package build

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/strata-build/strata/internal/dockerfile"
	"github.com/strata-build/strata/internal/sandbox"
	"github.com/strata-build/strata/internal/store"
	"github.com/strata-build/strata/internal/testenv"
)

// fixture is a store holding busybox:latest and a builder over it.
type fixture struct {
	t     *testing.T
	store *store.Store
	b     *Builder
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, testRunner(t, "builtin"))
}

// forEachIsolation runs fn once per sandbox backend (builtin, and oci when
// runc or crun is installed): the RUN suite must pass under both.
func forEachIsolation(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, iso := range []string{"builtin", "oci"} {
		t.Run(iso, func(t *testing.T) {
			fn(t, newFixtureWith(t, testRunner(t, iso)))
		})
	}
}

func newFixtureWith(t *testing.T, runner sandbox.Runner) *fixture {
	t.Helper()
	testenv.RequireRoot(t)
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h, err := st.WriteImage(ctx, testenv.BusyboxImage(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Tag(ctx, "busybox:latest", h); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, store: st, b: New(st, nil, runner, nil)}
}

// buildCase is one build: a Dockerfile, its context and options.
type buildCase struct {
	dockerfile string
	files      map[string]string // context files; a value "->x" makes a symlink to x
	ignore     []string
	target     string
	args       map[string]string
	allow      []string // entitlements (--allow)
	platforms  []string // --platform
	progress   Progress
}

func (f *fixture) build(c buildCase) (*Result, error) {
	f.t.Helper()
	return f.buildWith(c, nil)
}

// buildWith is build with options changed by opt.
func (f *fixture) buildWith(c buildCase, opt func(*Options)) (*Result, error) {
	f.t.Helper()
	dir := f.t.TempDir()
	for name, body := range c.files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			f.t.Fatal(err)
		}
		if strings.HasPrefix(body, "->") {
			if err := os.Symlink(body[2:], p); err != nil {
				f.t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			f.t.Fatal(err)
		}
	}
	file, err := dockerfile.Parse("Dockerfile", []byte(c.dockerfile))
	if err != nil {
		return nil, err
	}
	opts := Options{
		File: file, ContextDir: dir, Ignore: c.ignore, Target: c.target, BuildArgs: c.args,
		Timestamp: time.Unix(0, 0).UTC(), Allow: c.allow, Platforms: c.platforms, Progress: c.progress,
	}
	if opt != nil {
		opt(&opts)
	}
	res, err := f.b.Build(context.Background(), opts)
	if err == nil {
		if verr := validate.Image(res.Image); verr != nil {
			f.t.Fatalf("validate.Image(result) = %v", verr)
		}
		if res.Index != nil {
			if verr := validate.Index(res.Index); verr != nil {
				f.t.Fatalf("validate.Index(result) = %v", verr)
			}
		}
	}
	return res, err
}

func (f *fixture) mustBuild(c buildCase) *Result {
	f.t.Helper()
	res, err := f.build(c)
	if err != nil {
		f.t.Fatalf("Build() = %v", err)
	}
	return res
}

// entry is a file of a flattened image.
type entry struct {
	typ      byte
	mode     int64
	uid, gid int
	body     string
	link     string
}

// flatten reads the image's filesystem after applying all layers.
func flatten(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	out := map[string]entry{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading flattened image: %v", err)
		}
		b, _ := io.ReadAll(tr)
		name := "/" + strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		out[name] = entry{typ: h.Typeflag, mode: h.Mode & 0o7777, uid: h.Uid, gid: h.Gid, body: string(b), link: h.Linkname}
	}
	return out
}

func config(t *testing.T, img v1.Image) *v1.ConfigFile {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return cf
}

func envOf(cf *v1.ConfigFile, k string) (string, bool) {
	return getEnv(cf.Config.Env, k)
}
