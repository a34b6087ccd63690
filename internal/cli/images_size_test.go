package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/strata-build/strata/internal/store"
)

// sizedImage is an image of two layers whose tars weigh, by the tar
// format's arithmetic, 512+1,000,448+1024 = 1,001,984 bytes (a header, a
// million bytes padded to 512, the end blocks) and 512+2,000,384+512+
// 512+1024 = 2,002,944 bytes: 3,004,928 in all. Zeros compress to little.
func sizedImage(t *testing.T) v1.Image {
	t.Helper()
	img := empty.Image
	for _, files := range []map[string]int{{"a": 1_000_000}, {"b": 2_000_000, "c": 10}} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, name := range []string{"a", "b", "c"} {
			n, ok := files[name]
			if !ok {
				continue
			}
			tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(n), Typeflag: tar.TypeReg})
			tw.Write(make([]byte, n))
		}
		tw.Close()
		b := buf.Bytes()
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

const sizedImageBytes = 3_004_928

// storeTagged writes img into the store at root and tags it.
func storeTagged(t *testing.T, root string, img v1.Image, ref string) (v1.Hash, int64) {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h, err := s.WriteImage(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, ref, h); err != nil {
		t.Fatal(err)
	}
	m, _ := img.Manifest()
	var compressed int64
	for _, l := range m.Layers {
		compressed += l.Size
	}
	return h, compressed
}

func TestImagesSizeColumns(t *testing.T) {
	root := t.TempDir()
	img := sizedImage(t)
	_, compressed := storeTagged(t, root, img, "sizes:v1")
	h, err := img.ConfigName() // the image ID, as docker images shows it
	if err != nil {
		t.Fatal(err)
	}
	out := mustStrata(t, root, nil, "images")
	want := fmt.Sprintf(`REPOSITORY   TAG   IMAGE ID       PLATFORM      CREATED   SIZE   COMPRESSED
sizes        v1    %s   linux/amd64   N/A       3MB    %s
`, h.Hex[:12], dockerSize(compressed))
	if out != want {
		t.Errorf("images =\n%s\nwant\n%s", out, want)
	}
	// The second listing reads remembered sizes; same table.
	if again := mustStrata(t, root, nil, "images"); again != out {
		t.Errorf("images again =\n%s\nwant\n%s", again, out)
	}
	got := mustStrata(t, root, nil, "inspect", "-f", "{{.Size}} {{.CompressedSize}}", "sizes:v1")
	if want := fmt.Sprintf("%d %d\n", sizedImageBytes, compressed); got != want {
		t.Errorf("inspect Size CompressedSize = %q, want %q", got, want)
	}
	if compressed >= sizedImageBytes/10 {
		t.Errorf("compressed %d: zeros should compress well below the tar size", compressed)
	}
}

func TestPulledImageSizeIsUnpackedContent(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	host := serveRegistry(t)
	img := sizedImage(t)
	root := t.TempDir()
	storeTagged(t, root, img, "sizes:v1")
	mustStrata(t, root, nil, "push", "--progress=quiet", "sizes:v1", host+"/sizes:v1")
	other := t.TempDir()
	mustStrata(t, other, nil, "pull", "--progress=quiet", host+"/sizes:v1")
	// The unpacked content, measured apart from the store: every layer's
	// tar as go-containerregistry decompresses it.
	var unpacked int64
	layers, _ := img.Layers()
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, rc)
		rc.Close()
		unpacked += n
	}
	got := strings.TrimSpace(mustStrata(t, other, nil, "inspect", "-f", "{{.Size}}", host+"/sizes:v1"))
	if got != strconv.FormatInt(unpacked, 10) || unpacked != sizedImageBytes {
		t.Errorf("pulled image Size = %s, unpacked content %d (want %d)", got, unpacked, sizedImageBytes)
	}
}
