package store

import (
	"context"
	"io"
	"os"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/strata-build/strata/internal/testenv"
)

// tarSize is the uncompressed size of l read through ggcr's own gunzip.
func tarSize(t *testing.T, l v1.Layer) int64 {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, rc)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestImageSizes(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	img, err := random.Image(3000, 3)
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.WriteImage(ctx, img, WithJobs(2))
	if err != nil {
		t.Fatal(err)
	}
	stored, err := s.Image(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(stored); err != nil {
		t.Fatal(err)
	}
	layers, _ := stored.Layers()
	var wantU, wantC int64
	for _, l := range layers {
		wantU += tarSize(t, l)
		n, _ := l.Size()
		wantC += n
	}
	tarSize0 := tarSize(t, layers[0])
	check := func(what string) {
		t.Helper()
		u, c, err := s.ImageSizes(ctx, stored)
		if err != nil {
			t.Fatal(err)
		}
		if u != wantU || c != wantC {
			t.Errorf("%s: ImageSizes() = %d, %d, want %d, %d", what, u, c, wantU, wantC)
		}
	}
	check("computed")
	d, _ := layers[0].DiffID()
	if _, err := os.Stat(s.usizePath(d)); err != nil {
		t.Errorf("size not remembered: %v", err)
	}
	check("remembered")
	// A damaged or missing record is measured again.
	os.WriteFile(s.usizePath(d), []byte("garbage"), 0o600)
	d1, _ := layers[1].DiffID()
	os.Remove(s.usizePath(d1))
	check("recomputed")

	// A layer blob that is not stored (a foreign layer) counts as
	// compressed only.
	os.Remove(s.usizePath(d))
	os.Remove(s.blobPath(mustDigest(t, layers[0])))
	u, c, err := s.ImageSizes(ctx, stored)
	if n := tarSize0; err != nil || c != wantC || u != wantU-n {
		t.Errorf("without a blob: ImageSizes() = %d, %d, %v, want %d, %d", u, c, err, wantU-n, wantC)
	}
}

func mustDigest(t *testing.T, l v1.Layer) v1.Hash {
	t.Helper()
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestExtractRecordsSize(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	img := testenv.BusyboxImage(t)
	h, err := s.WriteImage(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := s.Image(ctx, h)
	layers, _ := stored.Layers()
	if _, err := s.LayerDir(ctx, layers[0]); err != nil {
		t.Fatal(err)
	}
	d, _ := layers[0].DiffID()
	got, ok := s.readUsize(d)
	if want := tarSize(t, layers[0]); !ok || got != want {
		t.Errorf("size recorded by extraction = %d, %v, want %d", got, ok, want)
	}
}

// TestPruneForgetsSizes: prune removes the remembered sizes of the layers
// it removes and keeps those of the layers it keeps.
func TestPruneForgetsSizes(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	var diffIDs [2]v1.Hash
	for i, tag := range []string{"kept:1", ""} {
		img, err := random.Image(2000, 1)
		if err != nil {
			t.Fatal(err)
		}
		h, err := s.WriteImage(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		stored, _ := s.Image(ctx, h)
		if _, _, err := s.ImageSizes(ctx, stored); err != nil {
			t.Fatal(err)
		}
		layers, _ := stored.Layers()
		diffIDs[i], _ = layers[0].DiffID()
		if tag != "" {
			if err := s.Tag(ctx, tag, h); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := s.Prune(ctx, PruneOptions{All: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.usizePath(diffIDs[0])); err != nil {
		t.Errorf("the tagged image's layer size is gone: %v", err)
	}
	if _, err := os.Stat(s.usizePath(diffIDs[1])); !os.IsNotExist(err) {
		t.Errorf("the pruned image's layer size stays: %v", err)
	}
}
