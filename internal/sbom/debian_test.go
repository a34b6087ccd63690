package sbom_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"

	"github.com/strata-build/strata/internal/layer"
	"github.com/strata-build/strata/internal/sbom"
	"github.com/strata-build/strata/internal/store"
	"github.com/strata-build/strata/internal/testenv"
)

func openStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// debianLayer is the test Debian image's one layer, extracted in st.
func debianLayer(t testing.TB, st *store.Store) (v1.Image, sbom.Layer) {
	t.Helper()
	img := testenv.DebianImage(t)
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := st.LayerDir(context.Background(), ls[0])
	if err != nil {
		t.Fatal(err)
	}
	diffID, err := ls[0].DiffID()
	if err != nil {
		t.Fatal(err)
	}
	return img, sbom.Layer{DiffID: diffID, Dir: dir, Source: "debootstrap"}
}

// TestScanImageDebian: every installed package of a debootstrapped
// bookworm, with Debian's purls and the licences of the DEP-5 copyright
// files; a warm ScanImage extracts nothing.
func TestScanImageDebian(t *testing.T) {
	st := openStore(t)
	img, l := debianLayer(t, st)
	status, err := os.ReadFile(filepath.Join(l.Dir, "var/lib/dpkg/status"))
	if err != nil {
		t.Fatal(err)
	}
	installed := bytes.Count(status, []byte("\nStatus: install ok installed\n"))
	cache := t.TempDir()
	s, err := sbom.ScanImage(context.Background(), st, img, sbom.Options{CacheDir: cache})
	if err != nil {
		t.Fatalf("ScanImage: %v", err)
	}
	if debs := countType(s, "deb"); debs != installed || installed < 80 {
		t.Errorf("deb packages = %d, want %d (the installed ones in the status file)", debs, installed)
	}
	arch := map[string]string{"amd64": "amd64", "arm64": "arm64"}[runtime.GOARCH]
	libc := find(s, "deb", "libc6")
	if len(libc) != 1 || !strings.HasPrefix(libc[0].PURL, "pkg:deb/debian/libc6@2.36-") || !strings.HasSuffix(libc[0].PURL, "?arch="+arch+"&distro=debian-12&upstream=glibc") {
		t.Errorf("libc6 = %+v, want pkg:deb/debian/libc6@2.36-…?arch=%s&distro=debian-12&upstream=glibc", libc, arch)
	}
	tar := find(s, "deb", "tar")
	if len(tar) != 1 || !contains(tar[0].Licenses, "GPL-3.0-or-later") {
		t.Errorf("tar = %+v, want GPL-3.0-or-later among its licences (DEP-5 copyright)", tar)
	}
	if err := validate(t, spdxSchema(t), spdx(t, s)); err != nil {
		t.Errorf("SPDX of the Debian image does not validate: %v", err)
	}
	if err := validate(t, cyclonedxSchema(t), cyclonedx(t, s)); err != nil {
		t.Errorf("CycloneDX of the Debian image does not validate: %v", err)
	}

	// Warm, through a store that has never extracted the layer.
	empty := openStore(t)
	warm, err := sbom.ScanImage(context.Background(), empty, img, sbom.Options{CacheDir: cache})
	if err != nil {
		t.Fatalf("warm ScanImage: %v", err)
	}
	if !bytes.Equal(spdx(t, s), spdx(t, warm)) {
		t.Error("warm SBOM differs from cold")
	}
	if ents, _ := os.ReadDir(filepath.Join(empty.Root(), "layers")); len(ents) != 0 {
		t.Errorf("warm ScanImage extracted %d layers, want none", len(ents))
	}
}

func countType(s *sbom.SBOM, typ string) int {
	n := 0
	for _, p := range s.Packages {
		if p.Type == typ {
			n++
		}
	}
	return n
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// benchLayers is the Debian image's layer plus a layer with two real Go
// programs (testdata/benchbin, with 21 modules, and the go command).
func benchLayers(b *testing.B) []sbom.Layer {
	b.Helper()
	st := openStore(b)
	_, deb := debianLayer(b, st)
	bins := newLayer(b)
	out := filepath.Join(bins.dir, "usr/local/bin/app")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./testdata/benchbin")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building testdata/benchbin: %v\n%s", err, msg)
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(goCmd)
	if err != nil {
		b.Fatal(err)
	}
	bins.file("/usr/local/go/bin/go", string(data), 0o755)
	return []sbom.Layer{deb, bins.layer(1, "COPY binaries")}
}

// BenchmarkScanCold scans the layers with an empty cache each time (the
// files are in the page cache: this is the catalogers' cost).
func BenchmarkScanCold(b *testing.B) {
	layers := benchLayers(b)
	b.ResetTimer()
	for b.Loop() {
		s, err := sbom.Scan(context.Background(), layers, sbom.Options{CacheDir: b.TempDir()})
		if err != nil || len(s.Packages) < 80 {
			b.Fatalf("Scan = %d packages, %v", len(s.Packages), err)
		}
	}
}

// BenchmarkScanWarm combines the layers from their cached records.
func BenchmarkScanWarm(b *testing.B) {
	layers := benchLayers(b)
	cache := b.TempDir()
	if _, err := sbom.Scan(context.Background(), layers, sbom.Options{CacheDir: cache}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := sbom.Scan(context.Background(), layers, sbom.Options{CacheDir: cache}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScanColdGoImage is a golang-image-sized filesystem: the Debian
// layer, the Go toolchain (GOROOT: 15,000 files, its Go binaries) and a Go
// program, with an empty cache each time.
func BenchmarkScanColdGoImage(b *testing.B) {
	layers := append(benchLayers(b), sbom.Layer{DiffID: fakeDiffID(2, "GOROOT"), Dir: runtime.GOROOT(), Source: "GOROOT"})
	b.ResetTimer()
	for b.Loop() {
		if _, err := sbom.Scan(context.Background(), layers, sbom.Options{CacheDir: b.TempDir()}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScanColdDisk is BenchmarkScanCold with the layers' file
// contents dropped from the page cache before each scan (posix_fadvise
// DONTNEED on every file; directory entries and inodes stay cached).
func BenchmarkScanColdDisk(b *testing.B) {
	layers := benchLayers(b)
	for b.Loop() {
		b.StopTimer()
		for _, l := range layers {
			dropPageCache(b, l.Dir)
		}
		cache := b.TempDir()
		b.StartTimer()
		if _, err := sbom.Scan(context.Background(), layers, sbom.Options{CacheDir: cache}); err != nil {
			b.Fatal(err)
		}
	}
}

func dropPageCache(b *testing.B, dir string) {
	b.Helper()
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	})
	if err != nil {
		b.Fatal(err)
	}
}

// TestScanImageLayers: the fixture's layers written as layer tars (overlay
// whiteouts and opaque dirs become .wh. entries), made into an image with a
// history, and scanned through the store's extraction give the same
// packages as scanning the directories, with the history's created_by as
// each package's source.
func TestScanImageLayers(t *testing.T) {
	ctx := context.Background()
	layers := fixture(t)
	img := empty.Image
	for i, l := range layers {
		var buf bytes.Buffer
		if _, err := layer.Write(ctx, l.Dir, &buf, layer.WriteOptions{}); err != nil {
			t.Fatalf("writing layer %d: %v", i, err)
		}
		data := buf.Bytes()
		tl, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			img, err = mutate.Append(img, mutate.Addendum{Layer: nil, History: v1.History{CreatedBy: "ENV X=1", EmptyLayer: true}})
			if err != nil {
				t.Fatal(err)
			}
		}
		img, err = mutate.Append(img, mutate.Addendum{Layer: tl, History: v1.History{CreatedBy: l.Source}})
		if err != nil {
			t.Fatal(err)
		}
		layers[i].DiffID, err = tl.DiffID()
		if err != nil {
			t.Fatal(err)
		}
	}
	want := scan(t, layers, sbom.Options{})
	got, err := sbom.ScanImage(ctx, openStore(t), img, sbom.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatalf("ScanImage: %v", err)
	}
	if a, b := spdx(t, want), spdx(t, got); !bytes.Equal(a, b) {
		t.Errorf("ScanImage SPDX differs from Scan of the dirs:\n%s\nwant\n%s", b, a)
	}
	if curl := find(got, "deb", "curl"); len(curl) != 1 || curl[0].Source != "Dockerfile:2 RUN apt-get install -y curl" {
		t.Errorf("curl = %+v, want the history's created_by as its source", curl)
	}
}
