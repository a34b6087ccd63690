package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// platformImage is a random image whose config declares platform.
func platformImage(t *testing.T, platform string) v1.Image {
	t.Helper()
	p, err := v1.ParsePlatform(platform)
	if err != nil {
		t.Fatal(err)
	}
	img := randomImage(t, 1, 64)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// tagPlatforms is the platforms ref's index names, in order.
func tagPlatforms(t *testing.T, s *Store, ref string) []string {
	t.Helper()
	ctx := context.Background()
	h, err := s.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if isIdx, err := s.IsIndex(ctx, h); err != nil || !isIdx {
		t.Fatalf("%s: IsIndex = %v, %v; want an index", ref, isIdx, err)
	}
	idx, err := s.Index(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Errorf("validate.Index(%s) = %v", ref, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range m.Manifests {
		out = append(out, FormatPlatform(*d.Platform))
	}
	return out
}

// TestTagPlatform pulls (writes and tags) images of several platforms
// under one name, as `strata pull --platform` does.
func TestTagPlatform(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	put := func(platform string) v1.Hash {
		t.Helper()
		h, err := s.WriteImage(ctx, platformImage(t, platform))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.TagPlatform(ctx, "app:1", h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	amd := put("linux/amd64")
	if got, err := s.Resolve(ctx, "app:1"); err != nil || got != amd {
		t.Fatalf("one platform: app:1 = %s, %v; want the image %s", got, err, amd)
	}
	put("linux/arm64/v8")
	put("linux/arm/v7")
	if got, want := tagPlatforms(t, s, "app:1"), []string{"linux/amd64", "linux/arm64/v8", "linux/arm/v7"}; !slices.Equal(got, want) {
		t.Errorf("after three platforms app:1 has %v, want %v", got, want)
	}
	newAMD := put("linux/amd64") // a newer amd64 image replaces the old one
	if got, want := tagPlatforms(t, s, "app:1"), []string{"linux/arm64/v8", "linux/arm/v7", "linux/amd64"}; !slices.Equal(got, want) {
		t.Errorf("after a new amd64 image app:1 has %v, want %v", got, want)
	}
	h, _ := s.Resolve(ctx, "app:1")
	for platform, want := range map[string]v1.Hash{"linux/amd64": newAMD} {
		img, err := s.ImageFor(ctx, h, platform)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := img.Digest(); got != want {
			t.Errorf("ImageFor(%s) = %s, want %s", platform, got, want)
		}
	}
	if img, err := s.ImageFor(ctx, h, "linux/arm64"); err != nil { // arm64 is arm64/v8
		t.Errorf("ImageFor(linux/arm64) = %v", err)
	} else if cf, _ := img.ConfigFile(); cf.Architecture != "arm64" {
		t.Errorf("ImageFor(linux/arm64) has architecture %s", cf.Architecture)
	}
	_, err := s.ImageFor(ctx, h, "linux/s390x")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "has no image for linux/s390x (it has linux/arm64/v8, linux/arm/v7, linux/amd64)") {
		t.Errorf("ImageFor(linux/s390x) = %v; want ErrNotFound listing the platforms", err)
	}
	// An image of one platform serves any request: it is what the tag names.
	if img, err := s.ImageFor(ctx, amd, "linux/arm64"); err != nil || img == nil {
		t.Errorf("ImageFor(image, other platform) = %v", err)
	}
}

// TestPruneKeepsIndexImages prunes a store whose only tag names an index:
// every platform's image stays whole, the replaced image goes.
func TestPruneKeepsIndexImages(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	var old v1.Hash
	for i, platform := range []string{"linux/amd64", "linux/arm64", "linux/amd64"} {
		h, err := s.WriteImage(ctx, platformImage(t, platform))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			old = h
		}
		if err := s.TagPlatform(ctx, "app:1", h); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Prune(ctx, PruneOptions{All: true}); err != nil {
		t.Fatal(err)
	}
	if s.HasBlob(ctx, old) {
		t.Errorf("prune kept the replaced amd64 image %s", old)
	}
	h, err := s.Resolve(ctx, "app:1")
	if err != nil {
		t.Fatal(err)
	}
	for _, platform := range []string{"linux/amd64", "linux/arm64"} {
		img, err := s.ImageFor(ctx, h, platform)
		if err != nil {
			t.Fatalf("after prune, ImageFor(%s) = %v", platform, err)
		}
		if err := validate.Image(img); err != nil {
			t.Errorf("after prune, the %s image: %v", platform, err)
		}
	}
}
