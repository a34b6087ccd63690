package export

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/strata-build/strata/internal/testenv"
)

func TestOCILayout(t *testing.T) {
	ctx := context.Background()
	img := testenv.BusyboxImage(t)
	dir := filepath.Join(t.TempDir(), "oci")
	if err := OCILayout(ctx, img, dir, []string{"busybox", "me/app:v1"}); err != nil {
		t.Fatal(err)
	}
	if err := OCILayout(ctx, img, dir, []string{"busybox"}); err != nil { // replaces
		t.Fatal(err)
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	var names []string
	for _, d := range im.Manifests {
		names = append(names, d.Annotations[RefNameAnnotation]+"="+d.Annotations[ImageNameAnnotation])
	}
	if got, want := strings.Join(names, " "), "v1=docker.io/me/app:v1 latest=docker.io/library/busybox:latest"; got != want {
		t.Errorf("index refs = %s, want %s", got, want)
	}
	want, _ := img.Digest()
	got, err := p.Image(want)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err != nil {
		t.Error(err)
	}
}

func TestOCIArchive(t *testing.T) {
	ctx := context.Background()
	img := testenv.BusyboxImage(t)
	file := filepath.Join(t.TempDir(), "img.tar")
	if err := OCIArchive(ctx, img, file, []string{"busybox"}); err != nil {
		t.Fatal(err)
	}
	names := tarNames(t, file)
	for _, n := range []string{"oci-layout", "index.json", "blobs/sha256/"} {
		if !slicesContains(names, n) {
			t.Errorf("OCI archive lacks %s: %v", n, names)
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(file)); len(entries) != 1 {
		t.Errorf("temp files left beside the archive: %v", entries)
	}
}

func TestDockerArchive(t *testing.T) {
	ctx := context.Background()
	img := testenv.BusyboxImage(t)
	file := filepath.Join(t.TempDir(), "img.tar")
	if err := DockerArchive(ctx, img, file, []string{"docker.io/library/busybox:latest", "me/app:v1"}); err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"busybox:latest", "me/app:v1"} {
		got, err := tarball.ImageFromPath(file, mustTag(t, tag))
		if err != nil {
			t.Fatalf("reading %s back: %v", tag, err)
		}
		if err := validate.Image(got); err != nil {
			t.Error(err)
		}
		wantCfg, _ := img.ConfigName()
		if c, _ := got.ConfigName(); c != wantCfg {
			t.Errorf("config digest = %s, want %s (image ID kept)", c, wantCfg)
		}
	}
	conv, err := DockerMediaTypes(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(conv); err != nil {
		t.Error(err)
	}
	m, _ := conv.Manifest()
	if m.MediaType != types.DockerManifestSchema2 || m.Config.MediaType != types.DockerConfigJSON || m.Layers[0].MediaType != types.DockerLayer {
		t.Errorf("converted media types = %s %s %s", m.MediaType, m.Config.MediaType, m.Layers[0].MediaType)
	}
}

func TestLocalAndTar(t *testing.T) {
	ctx := context.Background()
	img := overlayImage(t)
	dir := t.TempDir()
	if err := Local(ctx, img, dir); err != nil {
		t.Fatal(err)
	}
	checks := map[string]string{"bin/busybox": "", "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n", "app/hello": "hi\n"}
	for name, want := range checks {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("reading %s: %v", name, err)
		} else if want != "" && !strings.HasPrefix(string(b), want) {
			t.Errorf("%s = %q, want %q", name, b, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "etc/group")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("whited-out etc/group exists: %v", err)
	}
	if l, err := os.Readlink(filepath.Join(dir, "bin/sh")); err != nil || l != "busybox" {
		t.Errorf("bin/sh -> %q, %v", l, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "tmp")); err != nil || fi.Mode()&os.ModeSticky == 0 {
		t.Errorf("tmp mode = %v, %v, want sticky", fi.Mode(), err)
	}

	file := filepath.Join(t.TempDir(), "fs.tar")
	if err := Tar(ctx, img, file); err != nil {
		t.Fatal(err)
	}
	names := tarNames(t, file)
	for _, n := range []string{"bin/busybox", "app/hello"} {
		if !slicesContains(names, n) {
			t.Errorf("fs tar lacks %s", n)
		}
	}
	if slicesContains(names, "etc/group") || slicesContains(names, "etc/.wh.group") {
		t.Error("fs tar holds whited-out etc/group")
	}
}

func TestLocalRefusesEscapes(t *testing.T) {
	ctx := context.Background()
	tests := map[string][]*tar.Header{
		"dotdot":          {{Name: "../evil", Typeflag: tar.TypeReg, Mode: 0o644}},
		"through symlink": {{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/tmp"}, {Name: "link/evil", Typeflag: tar.TypeReg, Mode: 0o644}},
		"hardlink out":    {{Name: "h", Typeflag: tar.TypeLink, Linkname: "../../etc/passwd"}},
	}
	for name, hdrs := range tests {
		t.Run(name, func(t *testing.T) {
			outer := t.TempDir()
			dir := filepath.Join(outer, "out")
			// mutate.Extract refuses or drops some of these itself;
			// what matters is that nothing lands outside dir.
			Local(ctx, imageOf(t, hdrs), dir)
			if _, err := os.Stat(filepath.Join(outer, "evil")); err == nil {
				t.Error("file written outside dir")
			}
			if _, err := os.Stat("/tmp/evil"); err == nil {
				t.Error("file written through symlink to /tmp")
			}
		})
	}
}

// TestFSWriterRefusesEscapes feeds hostile entries to the writer directly,
// past mutate.Extract's own checks.
func TestFSWriterRefusesEscapes(t *testing.T) {
	tests := map[string][]*tar.Header{
		"dotdot":          {{Name: "a/../../evil", Typeflag: tar.TypeReg}},
		"through symlink": {{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "../.."}, {Name: "link/evil", Typeflag: tar.TypeReg}},
		"hardlink out":    {{Name: "h", Typeflag: tar.TypeLink, Linkname: "../evil"}},
	}
	for name, hdrs := range tests {
		t.Run(name, func(t *testing.T) {
			outer := t.TempDir()
			os.WriteFile(filepath.Join(outer, "evil"), []byte("x"), 0o644)
			dir := filepath.Join(outer, "a", "out")
			os.MkdirAll(dir, 0o755)
			root, err := os.OpenRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			w := &fsWriter{root: root}
			var last error
			for _, h := range hdrs {
				last = w.write(h, strings.NewReader(""))
			}
			if last == nil {
				t.Error("write() succeeded, want refusal")
			}
			if b, _ := os.ReadFile(filepath.Join(outer, "evil")); string(b) != "x" {
				t.Error("file outside dir changed")
			}
		})
	}
}

func TestExternalTools(t *testing.T) {
	ctx := context.Background()
	img := testenv.BusyboxImage(t)
	dir := filepath.Join(t.TempDir(), "oci")
	if err := OCILayout(ctx, img, dir, []string{"busybox"}); err != nil {
		t.Fatal(err)
	}
	t.Run("skopeo", func(t *testing.T) {
		if _, err := exec.LookPath("skopeo"); err != nil {
			t.Skip("skopeo not installed")
		}
		out, err := exec.Command("skopeo", "inspect", "oci:"+dir+":latest").CombinedOutput()
		if err != nil {
			t.Fatalf("skopeo inspect: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), `"Architecture": "amd64"`) {
			t.Errorf("skopeo inspect:\n%s", out)
		}
	})
	t.Run("umoci", func(t *testing.T) {
		if _, err := exec.LookPath("umoci"); err != nil {
			t.Skip("umoci not installed")
		}
		bundle := filepath.Join(t.TempDir(), "bundle")
		args := []string{"unpack", "--image", dir + ":latest", bundle}
		if os.Geteuid() != 0 {
			args = []string{"unpack", "--rootless", "--image", dir + ":latest", bundle}
		}
		out, err := exec.Command("umoci", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("umoci unpack: %v\n%s", err, out)
		}
		if _, err := os.Stat(filepath.Join(bundle, "rootfs/bin/busybox")); err != nil {
			t.Error(err)
		}
	})
}

// overlayImage is busybox plus a layer adding /app/hello and deleting
// /etc/group.
func overlayImage(t *testing.T) v1.Image {
	t.Helper()
	l := layerOf(t, []*tar.Header{
		{Name: "app/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "app/hello", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3},
		{Name: "etc/.wh.group", Typeflag: tar.TypeReg, Mode: 0o644},
	})
	img, err := mutate.AppendLayers(testenv.BusyboxImage(t), l)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func imageOf(t *testing.T, hdrs []*tar.Header) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layerOf(t, hdrs))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func layerOf(t *testing.T, hdrs []*tar.Header) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size == 3 {
			tw.Write([]byte("hi\n"))
		}
	}
	tw.Close()
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func tarNames(t *testing.T, file string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func mustTag(t *testing.T, s string) *name.Tag {
	t.Helper()
	tag, err := name.NewTag(s)
	if err != nil {
		t.Fatal(err)
	}
	return &tag
}
