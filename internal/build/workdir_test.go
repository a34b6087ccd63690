package build

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/dockerfile"
	"github.com/strata-build/strata/internal/sandbox"
	"github.com/strata-build/strata/internal/testenv"
)

// deepDir is /a/a/.../a, levels deep: 2*levels bytes, past PATH_MAX (4096)
// from 2,048 levels on.
func deepDir(levels int) string { return strings.Repeat("/a", levels) }

// TestDeepWorkdir makes a WORKDIR 3,000 levels deep, as USER app: longer
// than any path a syscall takes, it must still be in the layer, each
// level a directory 0755 owned by app, and the image's working dir.
func TestDeepWorkdir(t *testing.T) {
	f := newFixture(t)
	wd := deepDir(3000)
	res := f.mustBuild(buildCase{dockerfile: "FROM busybox\nUSER app\nWORKDIR " + wd + "\n"})
	if got := config(t, res.Image).Config.WorkingDir; got != wd {
		t.Errorf("WorkingDir = %d bytes, want %d", len(got), len(wd))
	}
	layers, err := res.Image.Layers()
	if err != nil {
		t.Fatal(err)
	}
	// The top layer only: flatten's whiteout checks are quadratic in depth.
	rc, err := layers[len(layers)-1].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	want := "a/"
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading the WORKDIR layer: %v", err)
		}
		if h.Name != want || h.Typeflag != tar.TypeDir || h.Mode != 0o755 || h.Uid != 1000 || h.Gid != 1000 {
			t.Fatalf("entry at level %d = %d bytes, type %c, mode %o, %d:%d; want the next level, a dir 0755 1000:1000",
				len(want)/2, len(h.Name), h.Typeflag, h.Mode, h.Uid, h.Gid)
		}
		want += "a/"
	}
	if levels := len(want)/2 - 1; levels != 3000 {
		t.Errorf("WORKDIR layer has %d levels, want 3000", levels)
	}
}

// BenchmarkDeepWorkdir builds FROM busybox and one WORKDIR /a/a/... of
// 1,000 and 3,000 levels (cache off).
func BenchmarkDeepWorkdir(b *testing.B) {
	for _, levels := range []int{1000, 3000} {
		b.Run(fmt.Sprint(levels), func(b *testing.B) {
			st := openStore(b, map[string]v1.Image{"busybox:latest": testenv.BusyboxImage(b)})
			file, err := dockerfile.Parse("Dockerfile", []byte("FROM busybox\nWORKDIR "+deepDir(levels)+"\n"))
			if err != nil {
				b.Fatal(err)
			}
			bld := New(st, nil, sandbox.NewBuiltin(sandbox.Options{TempDir: b.TempDir()}), nil)
			opts := Options{File: file, Timestamp: time.Unix(0, 0).UTC(), NoCache: true}
			for b.Loop() {
				if _, err := bld.Build(context.Background(), opts); err != nil {
					b.Fatalf("Build() = %v", err)
				}
			}
		})
	}
}

// TestWorkdirAsWritten: as BuildKit's NormalizeWorkdir, an absolute
// WORKDIR stays as written in the config (a trailing slash, "..") while a
// relative one is joined to the current one and cleaned; the directory
// made is the clean path.
func TestWorkdirAsWritten(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct{ df, want, dir string }{
		{"FROM busybox\nWORKDIR /abs/\n", "/abs/", "/abs"},
		{"FROM busybox\nWORKDIR /a/../b\n", "/a/../b", "/b"},
		{"FROM busybox\nWORKDIR /x/\nWORKDIR y/../z/\n", "/x/z", "/x/z"},
		{"FROM busybox\nWORKDIR rel\n", "/rel", "/rel"},
	} {
		res := f.mustBuild(buildCase{dockerfile: tt.df})
		if got := config(t, res.Image).Config.WorkingDir; got != tt.want {
			t.Errorf("%q: WorkingDir = %q, want %q", tt.df, got, tt.want)
		}
		if e, ok := flatten(t, res.Image)[tt.dir]; !ok || e.typ != '5' {
			t.Errorf("%q: %s is not a directory in the image", tt.df, tt.dir)
		}
	}
}
