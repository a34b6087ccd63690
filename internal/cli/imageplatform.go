package cli

import (
	"context"
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/build"
	"github.com/strata-build/strata/internal/store"
)

// How the image commands pick one image from a reference that may name a
// multi-platform image (an OCI index): --platform P picks P's entry (an
// error listing the platforms there are when it has none); without it,
// the host's platform, else the index's first entry. A reference to a
// single image gives that image; with --platform, only when it matches.

// errNoSuchImage is matched by resolveImage's error for a reference the
// store does not have.
var errNoSuchImage = errors.New("no such image")

// chosenImage is an image picked by a user's reference.
// imageID is the image's ID as Docker shows it: the config digest of a
// single image, the index digest of a multi-platform one.
func (c *chosenImage) imageID() (v1.Hash, error) {
	if c.Index != nil {
		return c.ID, nil
	}
	return c.Image.ConfigName()
}

type chosenImage struct {
	// ID is what the reference names, an image or an index: what its tags
	// point at and what `strata images` shows.
	ID v1.Hash
	// Index is the index ID names; nil for a single image.
	Index v1.ImageIndex
	// Digest is the picked image's manifest digest (ID for a single image).
	Digest   v1.Hash
	Image    v1.Image
	Platform string // "linux/arm64"; "" when the image names none
}

// resolveImage resolves ref in the store and picks the image for platform
// ("" for the default choice). Callers name ref in the errors.
func resolveImage(ctx context.Context, s *store.Store, ref, platform string) (*chosenImage, error) {
	h, err := s.Resolve(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNoSuchImage, err)
	}
	return chooseImage(ctx, s, h, platform)
}

// chooseImage picks the image for platform from the stored image or
// index h.
func chooseImage(ctx context.Context, s *store.Store, h v1.Hash, platform string) (*chosenImage, error) {
	isIdx, err := s.IsIndex(ctx, h)
	if err != nil {
		return nil, err
	}
	if !isIdx {
		img, err := s.Image(ctx, h)
		if err != nil {
			return nil, err
		}
		return singleImage(img, platform)
	}
	idx, err := s.Index(ctx, h)
	if err != nil {
		return nil, err
	}
	d, err := pickEntry(idx, platform)
	if err != nil {
		return nil, fmt.Errorf("multi-platform image %w", err)
	}
	img, err := s.Image(ctx, d.Digest)
	if err != nil {
		return nil, err
	}
	return &chosenImage{ID: h, Index: idx, Digest: d.Digest, Image: img, Platform: store.FormatPlatform(*d.Platform)}, nil
}

// pickEntry returns idx's entry for platform, or with none given, the
// host's platform's, else the first.
func pickEntry(idx v1.ImageIndex, platform string) (v1.Descriptor, error) {
	if platform != "" {
		want, err := v1.ParsePlatform(platform)
		if err != nil {
			return v1.Descriptor{}, err
		}
		return store.PlatformEntry(idx, *want)
	}
	entries, err := platformEntries(idx)
	if err != nil {
		return v1.Descriptor{}, err
	}
	if len(entries) == 0 {
		return v1.Descriptor{}, errors.New("is an index with no image for any platform")
	}
	for _, d := range entries {
		if platformServes(*d.Platform, build.BuildPlatform()) {
			return d, nil
		}
	}
	return entries[0], nil
}

// platformEntries lists the image entries of idx that name a platform
// (attestation manifests, "unknown/unknown", are left out), in order.
func platformEntries(idx v1.ImageIndex) ([]v1.Descriptor, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []v1.Descriptor
	for _, d := range m.Manifests {
		if d.Platform != nil && d.MediaType.IsImage() && d.Platform.OS != "unknown" {
			out = append(out, d)
		}
	}
	return out, nil
}

// platformServes reports whether an image of platform have serves a
// request for want ("os/arch[/variant]"); one that names no architecture
// serves any.
func platformServes(have v1.Platform, want string) bool {
	if have.Architecture == "" {
		return true
	}
	w, err := v1.ParsePlatform(want)
	if err != nil {
		return false
	}
	if have.OS == "" {
		have.OS = "linux"
	}
	return store.PlatformMatches(have, *w)
}

// platformOf parses a platform formatPlatform made.
func platformOf(s string) v1.Platform {
	p, err := v1.ParsePlatform(s)
	if err != nil {
		return v1.Platform{}
	}
	return *p
}

// platformMismatch is Docker's error for an image of another platform
// than the one asked for.
func platformMismatch(want string, have v1.Platform) error {
	return fmt.Errorf("image was found but does not match the specified platform: wanted %s, actual: %s", want, formatPlatform(have))
}

// configPlatform is the platform img's config declares.
func configPlatform(img v1.Image) (v1.Platform, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Platform{}, fmt.Errorf("reading image config: %w", err)
	}
	return v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}, nil
}

// formatPlatform is "os/arch[/variant]", or "" for an image that names no
// architecture.
func formatPlatform(p v1.Platform) string {
	if p.Architecture == "" {
		return ""
	}
	if p.OS == "" {
		p.OS = "linux"
	}
	return store.FormatPlatform(p)
}

// platformFlag checks and normalises a --platform value ("" stays "").
func platformFlag(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	p, err := build.NormalizePlatform(s)
	if err != nil {
		return "", usageError{fmt.Errorf("invalid --platform: %w", err)}
	}
	return p, nil
}
