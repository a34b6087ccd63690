package store

import (
	"context"
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/strata-build/strata/internal/attest"
)

// TestTagPlatformKeepsAttestations tags a pulled platform into a built,
// attested two-platform index: the other platform keeps its image and its
// attestation manifest (annotations and all), the replaced platform's
// attestation goes with it, and no attestation becomes a platform image.
func TestTagPlatformKeepsAttestations(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	amd, arm := platformImage(t, "linux/amd64"), platformImage(t, "linux/arm64")
	pred := []attest.Predicate{{Type: attest.PredicateSPDX, Data: []byte(`{"spdxVersion":"SPDX-2.3"}`)}}
	idx := attestedIndex(t, pred, amd, arm)
	h, err := s.WriteIndex(ctx, idx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, "app:1", h); err != nil {
		t.Fatal(err)
	}
	newAmd := platformImage(t, "linux/amd64")
	nh, err := s.WriteImage(ctx, newAmd)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.TagPlatform(ctx, "app:1", nh); err != nil {
		t.Fatal(err)
	}
	if got, want := tagPlatforms(t, s, "app:1"), []string{"linux/arm64", "linux/amd64", "unknown/unknown"}; !slices.Equal(got, want) {
		t.Errorf("after TagPlatform, platforms = %v, want %v", got, want)
	}
	th, err := s.Resolve(ctx, "app:1")
	if err != nil {
		t.Fatal(err)
	}
	tagged, err := s.Index(ctx, th)
	if err != nil {
		t.Fatal(err)
	}
	armH, _ := arm.Digest()
	if stmts, err := attest.Find(tagged, armH); err != nil || len(stmts) != 1 {
		t.Errorf("arm64's statements after TagPlatform = %v, %v; want its SPDX statement", stmts, err)
	}
	amdH, _ := amd.Digest()
	if _, err := attest.Find(tagged, amdH); err == nil {
		t.Errorf("the replaced amd64 image's attestation was kept")
	}
	m, _ := tagged.IndexManifest()
	if n := len(m.Manifests); n != 3 {
		t.Errorf("index has %d entries, want 2 images and arm64's attestation manifest", n)
	}
}

// TestPruneKeepsAttestations holds prune to keeping a tagged index's
// attestation manifests and their statement and config blobs, in every
// form.
func TestPruneKeepsAttestations(t *testing.T) {
	ctx := context.Background()
	for _, form := range []attest.Form{attest.FormArtifact, attest.FormImage} {
		s := openTest(t, t.TempDir())
		img := platformImage(t, "linux/amd64")
		idx, err := attest.Index([]attest.Entry{{Image: img, Platform: v1.Platform{OS: "linux", Architecture: "amd64"},
			Predicates: []attest.Predicate{{Type: attest.PredicateSPDX, Data: []byte(`{"spdxVersion":"SPDX-2.3"}`)}}}}, form)
		if err != nil {
			t.Fatal(err)
		}
		h, err := s.WriteIndex(ctx, idx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Tag(ctx, "app:1", h); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Prune(ctx, PruneOptions{All: true}); err != nil {
			t.Fatal(err)
		}
		stored, err := s.Index(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		ih, _ := img.Digest()
		stmts, err := attest.Find(stored, ih)
		if err != nil || len(stmts) != 1 {
			t.Errorf("form %d: after prune, Find = %v, %v; want the SPDX statement", form, stmts, err)
		}
		m, _ := stored.IndexManifest()
		att, err := s.Image(ctx, m.Manifests[1].Digest)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := att.RawConfigFile(); err != nil {
			t.Errorf("form %d: after prune, the attestation config: %v", form, err)
		}
	}
}

// TestTagPlatformSubset pulls one platform of an attested index with its
// attestation manifest (attest.Subset) into a tag, then another: each
// platform keeps its statements.
func TestTagPlatformSubset(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	amd, arm := platformImage(t, "linux/amd64"), platformImage(t, "linux/arm64")
	pred := []attest.Predicate{{Type: attest.PredicateSLSA1, Data: []byte(`{"buildDefinition":{}}`)}}
	remote := attestedIndex(t, pred, amd, arm)
	amdH, _ := amd.Digest()
	armH, _ := arm.Digest()
	for _, h := range []v1.Hash{armH, amdH} {
		sub, err := attest.Subset(remote, []v1.Hash{h})
		if err != nil {
			t.Fatal(err)
		}
		sh, err := s.WriteIndex(ctx, sub)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.TagPlatform(ctx, "app:1", sh); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := tagPlatforms(t, s, "app:1"), []string{"linux/arm64", "linux/amd64", "unknown/unknown", "unknown/unknown"}; !slices.Equal(got, want) {
		t.Errorf("platforms = %v, want %v", got, want)
	}
	th, err := s.Resolve(ctx, "app:1")
	if err != nil {
		t.Fatal(err)
	}
	tagged, err := s.Index(ctx, th)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []v1.Hash{amdH, armH} {
		if stmts, err := attest.Find(tagged, h); err != nil || len(stmts) != 1 {
			t.Errorf("Find(%s) = %v, %v; want its provenance", h, stmts, err)
		}
	}
	img, err := s.ImageFor(ctx, th, "linux/amd64")
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := img.Digest(); d != amdH {
		t.Errorf("ImageFor(linux/amd64) = %s, want %s", d, amdH)
	}
}

// TestUsageAttestedImages: attestation manifests are not images: an
// attested two-platform index counts as two images in Usage (strata df).
func TestUsageAttestedImages(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	pred := []attest.Predicate{{Type: attest.PredicateSLSA1, Data: []byte(`{}`)}}
	idx := attestedIndex(t, pred, platformImage(t, "linux/amd64"), platformImage(t, "linux/arm64"))
	h, err := s.WriteIndex(ctx, idx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, "app:1", h); err != nil {
		t.Fatal(err)
	}
	u, err := s.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u.Images.Total != 2 {
		t.Errorf("Usage: %d images, want 2 (the attestation manifests are not images)", u.Images.Total)
	}
}

// attestedIndex is the two-platform index of amd (linux/amd64) and arm
// (linux/arm64), each with an attestation manifest of pred.
func attestedIndex(t *testing.T, pred []attest.Predicate, amd, arm v1.Image) v1.ImageIndex {
	t.Helper()
	idx, err := attest.Index([]attest.Entry{
		{Image: amd, Platform: v1.Platform{OS: "linux", Architecture: "amd64"}, Predicates: pred},
		{Image: arm, Platform: v1.Platform{OS: "linux", Architecture: "arm64"}, Predicates: pred},
	}, attest.FormArtifact)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}
