package report

import (
	"archive/tar"
	"bytes"
	"context"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// file is a tar entry of a test layer: "dir/" makes a directory, ".wh."
// names are whiteouts, body "ELF" makes an executable ELF of size bytes.
type file struct {
	name string
	size int
	body string
}

type testLayer struct {
	createdBy string
	files     []file
}

// layerTar makes the tar of one test layer.
func layerTar(t testing.TB, files []file) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: 0o644, Typeflag: tar.TypeReg}
		var body []byte
		switch {
		case strings.HasSuffix(f.name, "/"):
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		case f.body == "ELF":
			h.Mode = 0o755
			body = append([]byte("\x7fELF"), bytes.Repeat([]byte{0}, max(0, f.size-4))...)
		case f.body != "":
			body = []byte(f.body)
		default:
			body = bytes.Repeat([]byte("x"), f.size)
		}
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testImage stacks layers on an empty image, with history.
func testImage(t testing.TB, layers []testLayer) v1.Image {
	t.Helper()
	var adds []mutate.Addendum
	for _, l := range layers {
		b := layerTar(t, l.files)
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.Addendum{Layer: layer, History: v1.History{CreatedBy: l.createdBy}})
	}
	img, err := mutate.Append(empty.Image, adds...)
	if err != nil {
		t.Fatal(err)
	}
	img = roundTrip(t, img)
	if err := validate.Image(img, validate.Fast); err != nil {
		t.Fatalf("validate.Image(test image) = %v", err)
	}
	return img
}

// roundTrip writes img as a docker tar in memory and reads it back: a
// settled image as a store or an archive gives, whose manifest validates.
func roundTrip(t testing.TB, img v1.Image) v1.Image {
	t.Helper()
	var buf bytes.Buffer
	if err := tarball.Write(nil, img, &buf); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	out, err := tarball.Image(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestEfficiency checks the score and waste against figures worked out by
// hand from dive's definition.
func TestEfficiency(t *testing.T) {
	tests := []struct {
		name   string
		layers []testLayer
		score  float64
		wasted int64
		user   int64
	}{{
		name:   "one layer",
		layers: []testLayer{{files: []file{{name: "etc/", size: 0}, {name: "etc/a", size: 100}}}},
		score:  1, wasted: 0, user: 0,
	}, {
		// etc/a: 100+50 (min 50); bin/x: 1000; tmp/big: 500 then a
		// whiteout of a file, weighing 0 (min 0).
		name: "overwrite and delete",
		layers: []testLayer{
			{files: []file{{name: "etc/"}, {name: "etc/a", size: 100}, {name: "bin/x", size: 1000}}},
			{files: []file{{name: "etc/a", size: 50}, {name: "tmp/big", size: 500}}},
			{files: []file{{name: "tmp/.wh.big"}}},
		},
		score: 1050.0 / 1650, wasted: 650, user: 550,
	}, {
		// Deleting a directory: the whiteout weighs the 30 bytes below
		// it, but d was never a leaf before, so nothing counts twice.
		name: "delete a directory",
		layers: []testLayer{
			{files: []file{{name: "d/"}, {name: "d/f1", size: 10}, {name: "d/f2", size: 20}}},
			{files: []file{{name: ".wh.d"}}},
		},
		score: 1, wasted: 0, user: 0,
	}, {
		// An empty directory later deleted with its new contents: d is
		// a leaf in layer 0 (0 bytes) and its whiteout weighs 7.
		name: "empty dir filled then deleted",
		layers: []testLayer{
			{files: []file{{name: "d/"}}},
			{files: []file{{name: "d/f", size: 7}}},
			{files: []file{{name: ".wh.d"}}},
		},
		score: 7.0 / 14, wasted: 7, user: 7,
	}, {
		// An opaque directory: its lower contents are gone and it is a
		// bare node (0 bytes) in the layer that hides them.
		name: "opaque directory",
		layers: []testLayer{
			{files: []file{{name: "d/"}, {name: "d/old", size: 40}}},
			{files: []file{{name: "d/.wh..wh..opq"}, {name: "d/new", size: 10}}},
		},
		score: 1, wasted: 0, user: 10,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Analyze(context.Background(), testImage(t, tt.layers), Options{})
			if err != nil {
				t.Fatal(err)
			}
			ef := rep.Efficiency
			if math.Abs(ef.Score-tt.score) > 1e-9 || ef.WastedBytes != tt.wasted || ef.UserSize != tt.user {
				t.Errorf("Analyze().Efficiency = score %v wasted %d user %d, want score %v wasted %d user %d",
					ef.Score, ef.WastedBytes, ef.UserSize, tt.score, tt.wasted, tt.user)
			}
		})
	}
}

// TestFinalFilesystem checks whiteouts, opaque directories and a directory
// replaced by a file through the largest files and the file count.
func TestFinalFilesystem(t *testing.T) {
	img := testImage(t, []testLayer{
		{files: []file{{name: "d/"}, {name: "d/old", size: 40}, {name: "e/"}, {name: "e/x", size: 5}, {name: "k", size: 3}}},
		{files: []file{{name: "d/.wh..wh..opq"}, {name: "d/new", size: 10}, {name: "e", size: 2}, {name: ".wh.k"}}},
	})
	rep, err := Analyze(context.Background(), img, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range rep.LargestFiles {
		got = append(got, f.Path)
	}
	if strings.Join(got, " ") != "/d/new /e" || rep.Files != 2 {
		t.Errorf("Analyze() files = %v (%d), want [/d/new /e] (2)", got, rep.Files)
	}
	if rep.Layers[1].Deleted != 1 || rep.Layers[0].Files != 3 {
		t.Errorf("Analyze() layers = %+v, want 3 files in layer 0 and 1 deletion in layer 1", rep.Layers)
	}
}

// bloatedLayers is an image with one of everything the bloat finder
// knows, plus a program of its own.
func bloatedLayers() []testLayer {
	pkg := `{"dependencies":{"express":"^4"},"devDependencies":{"jest":"^29","@types/node":"^20","express":"^4"}}`
	return []testLayer{
		{createdBy: "/bin/sh -c #(nop) ADD file:abc in / ", files: []file{
			{name: "bin/sh", size: 100, body: "ELF"},
			{name: "usr/share/doc/libc6/copyright", size: 300},
			{name: "usr/share/man/man1/ls.1.gz", size: 200},
		}},
		{createdBy: "|1 X=1 /bin/sh -c apt-get update && apt-get install -y gcc", files: []file{
			{name: "var/lib/apt/lists/deb.debian.org_dists", size: 5000},
			{name: "var/cache/apt/pkgcache.bin", size: 2000},
			{name: "usr/lib/gcc/x86_64-linux-gnu/12/cc1", size: 9000},
			{name: "usr/bin/x86_64-linux-gnu-gcc-12", size: 800},
			{name: "usr/include/stdio.h", size: 30},
		}},
		{createdBy: "RUN /bin/sh -c go build", files: []file{
			{name: "usr/local/go/bin/go", size: 7000},
			{name: "root/.cache/go-build/00/abc", size: 600},
			{name: "root/go/pkg/mod/golang.org/x/sys@v0.1.0/unix/a.go", size: 400},
			{name: "app/main.go", size: 120},
			{name: "app/server", size: 900, body: "ELF"},
			{name: "root/.npm/_cacache/index", size: 70},
			{name: "root/.cache/pip/http/x", size: 60},
			{name: "root/.m2/repository/a.jar", size: 50},
		}},
		{createdBy: "COPY . /web # buildkit", files: []file{
			{name: "web/package.json", body: pkg},
			{name: "web/node_modules/express/index.js", size: 80},
			{name: "web/node_modules/jest/index.js", size: 90},
			{name: "web/node_modules/@types/node/index.d.ts", size: 25},
			{name: "web/node_modules/node-gyp/lib/x.js", size: 15},
			{name: "opt/java/openjdk/bin/java", size: 40},
			{name: "opt/java/openjdk/bin/javac", size: 20},
			{name: "opt/java/openjdk/jmods/java.base.jmod", size: 300},
		}},
	}
}

// TestGoldenSize renders size reports of test images as table and JSON.
func TestGoldenSize(t *testing.T) {
	tests := []struct {
		name   string
		layers []testLayer
	}{
		{"bloated", bloatedLayers()},
		{"wasteful", []testLayer{
			{createdBy: "ADD rootfs.tar /", files: []file{{name: "etc/"}, {name: "etc/a", size: 100}, {name: "bin/x", size: 1000}}},
			{createdBy: "RUN echo >> /etc/a && dd of=/tmp/big", files: []file{{name: "etc/a", size: 50}, {name: "tmp/big", size: 500}}},
			{createdBy: "RUN rm /tmp/big", files: []file{{name: "tmp/.wh.big"}}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Analyze(context.Background(), testImage(t, tt.layers), Options{Top: 5})
			if err != nil {
				t.Fatal(err)
			}
			rep.Name = tt.name
			var table, js bytes.Buffer
			if err := WriteSizeTable(&table, rep); err != nil {
				t.Fatal(err)
			}
			if err := WriteJSON(&js, rep); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("size", tt.name+".txt"), table.Bytes())
			golden(t, filepath.Join("size", tt.name+".json"), js.Bytes())
		})
	}
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update to accept):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// TestCorruptLayer: a layer whose tar is garbage is a clear error.
func TestCorruptLayer(t *testing.T) {
	b := []byte("this is not a tar archive, not even close; " + strings.Repeat("z", 600))
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Analyze(context.Background(), img, Options{})
	if err == nil || !strings.Contains(err.Error(), "reading layer 0") {
		t.Errorf("Analyze(corrupt layer) = %v, want a reading layer 0 error", err)
	}
}
