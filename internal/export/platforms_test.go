package export

import (
	"archive/tar"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func TestPlatformDir(t *testing.T) {
	for in, want := range map[string]string{
		"linux/amd64":  "linux_amd64",
		"linux/arm64":  "linux_arm64",
		"linux/arm/v7": "linux_arm_v7",
	} {
		if got := PlatformDir(in); got != want {
			t.Errorf("PlatformDir(%q) = %q, want %q", in, got, want)
		}
	}
}

// platformImages is two images with a file and a hard link to it.
func platformImages(t *testing.T) []PlatformImage {
	t.Helper()
	img := imageOf(t, []*tar.Header{
		{Name: "app/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "app/hello", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3},
		{Name: "app/link", Typeflag: tar.TypeLink, Linkname: "app/hello"},
	})
	return []PlatformImage{{Platform: "linux/amd64", Image: img}, {Platform: "linux/arm/v7", Image: img}}
}

func TestLocalAndTarPlatforms(t *testing.T) {
	ctx := context.Background()
	imgs := platformImages(t)
	dir := filepath.Join(t.TempDir(), "out")
	if err := LocalPlatforms(ctx, imgs, dir); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"linux_amd64", "linux_arm_v7"} {
		if b, err := os.ReadFile(filepath.Join(dir, sub, "app/link")); err != nil || string(b) != "hi\n" {
			t.Errorf("LocalPlatforms: %s/app/link = %q, %v", sub, b, err)
		}
	}
	file := filepath.Join(t.TempDir(), "fs.tar")
	if err := TarPlatforms(ctx, imgs, file); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"linux_amd64/", "linux_amd64/app/", "linux_amd64/app/hello", "linux_amd64/app/link",
		"linux_arm_v7/", "linux_arm_v7/app/", "linux_arm_v7/app/hello", "linux_arm_v7/app/link",
	}
	if got := tarNames(t, file); !slices.Equal(got, want) {
		t.Errorf("TarPlatforms entries = %q, want %q", got, want)
	}
	// The hard link points inside its platform's directory.
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for h, err := tr.Next(); err == nil; h, err = tr.Next() {
		if h.Typeflag == tar.TypeLink && filepath.Dir(filepath.Dir(h.Linkname)) != filepath.Dir(filepath.Dir(h.Name)) {
			t.Errorf("%s links to %s, outside its platform's dir", h.Name, h.Linkname)
		}
	}
}

// indexOf is an OCI index of imgs, each entry with its platform.
func indexOf(t *testing.T, imgs []PlatformImage) v1.ImageIndex {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, pi := range imgs {
		p, err := v1.ParsePlatform(pi.Platform)
		if err != nil {
			t.Fatal(err)
		}
		img := mutate.MediaType(pi.Image, types.OCIManifestSchema1)
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: p}})
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
}

func TestOCILayoutIndex(t *testing.T) {
	ctx := context.Background()
	idx := indexOf(t, platformImages(t))
	dir := filepath.Join(t.TempDir(), "oci")
	if err := OCILayoutIndex(ctx, idx, dir, []string{"me/app:v1", "me/app:v2"}); err != nil {
		t.Fatal(err)
	}
	if err := OCILayoutIndex(ctx, idx, dir, []string{"me/app:v1"}); err != nil { // replaces
		t.Fatal(err)
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()
	var refs []string
	for _, d := range m.Manifests {
		if d.MediaType != types.OCIImageIndex || d.Digest != want {
			t.Errorf("index.json entry %s %s, want the image index %s", d.MediaType, d.Digest, want)
		}
		refs = append(refs, d.Annotations[RefNameAnnotation]+"="+d.Annotations[ImageNameAnnotation])
	}
	if w := []string{"v2=docker.io/me/app:v2", "v1=docker.io/me/app:v1"}; !slices.Equal(refs, w) {
		t.Errorf("index.json refs = %q, want %q", refs, w)
	}
	got, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	child, err := got.ImageIndex(want)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(child); err != nil {
		t.Error(err)
	}
	// ReadLayoutEntry finds the tagged index.
	_, d, err := ReadLayoutEntry(dir, "v1")
	if err != nil || d.Digest != want {
		t.Errorf("ReadLayoutEntry(v1) = %v, %v; want %s", d, err, want)
	}
}

func TestOCIArchiveMulti(t *testing.T) {
	ctx := context.Background()
	imgs := platformImages(t)
	idx := indexOf(t, imgs)
	file := filepath.Join(t.TempDir(), "oci.tar")
	items := []LayoutItem{
		{Index: idx, Tags: []string{"docker.io/a/app:1"}},
		{Image: imgs[0].Image, Tags: []string{"docker.io/b/app:1"}}, // same tag part, kept apart
		{Image: imgs[0].Image},
	}
	if err := OCIArchiveMulti(ctx, file, items); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if out, err := exec.Command("tar", "-xf", file, "-C", dir).CombinedOutput(); err != nil {
		t.Fatalf("tar -xf %s: %v\n%s", file, err, out)
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := top.IndexManifest()
	if err != nil || len(m.Manifests) != 3 {
		t.Fatalf("index.json = %v, %v; want 3 entries", m, err)
	}
	if m.Manifests[0].MediaType != types.OCIImageIndex || m.Manifests[0].Annotations[ImageNameAnnotation] != "docker.io/a/app:1" ||
		m.Manifests[1].Annotations[ImageNameAnnotation] != "docker.io/b/app:1" || m.Manifests[2].Annotations != nil {
		t.Errorf("index.json = %+v", m.Manifests)
	}
}
