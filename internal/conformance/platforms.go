package conformance

// Multi-platform images: an OCI layout whose index holds one image per
// platform (what `strata build --platform a,b` and `buildctl build --opt
// platform=a,b` write) is reported platform by platform, and two such
// reports are compared platform by platform.

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// platformImages returns the images of a multi-platform OCI layout at p by
// platform ("linux/arm/v7"), or nil when p holds a single image (or is not
// a layout). Entries for no platform or "unknown/unknown" (attestations)
// are left out.
func platformImages(p string) (map[string]v1.Image, error) {
	if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
		return nil, nil
	}
	lp, err := layout.FromPath(p)
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout %s: %w", p, err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout %s: %w", p, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading index: %w", err)
	}
	if len(m.Manifests) == 1 && m.Manifests[0].MediaType.IsIndex() {
		if idx, err = idx.ImageIndex(m.Manifests[0].Digest); err != nil {
			return nil, fmt.Errorf("reading index %s: %w", m.Manifests[0].Digest, err)
		}
		if m, err = idx.IndexManifest(); err != nil {
			return nil, fmt.Errorf("reading index: %w", err)
		}
	}
	out := map[string]v1.Image{}
	for _, d := range m.Manifests {
		if d.Platform == nil || d.Platform.OS == "unknown" || d.MediaType.IsIndex() {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading image %s: %w", d.Digest, err)
		}
		out[platformString(*d.Platform)] = img
	}
	if len(out) < 2 {
		return nil, nil
	}
	return out, nil
}

// platformString is "os/arch[/variant]".
func platformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// readPlatformsReport is the report of a multi-platform image at p, or
// nil when p holds a single image.
func readPlatformsReport(p string) (*Report, error) {
	imgs, err := platformImages(p)
	if err != nil || imgs == nil {
		return nil, err
	}
	r := &Report{Platforms: map[string]*Report{}}
	for plat, img := range imgs {
		pr, err := FromImage(img)
		if err != nil {
			return nil, fmt.Errorf("platform %s: %w", plat, err)
		}
		r.Platforms[plat] = pr
	}
	return r, nil
}

// diffPlatforms compares two reports of which at least one is of a
// multi-platform image: the platforms both hold, each one's differences
// prefixed with its platform.
func diffPlatforms(a, b *Report, an, bn string) []Difference {
	pa, pb := slices.Sorted(maps.Keys(a.Platforms)), slices.Sorted(maps.Keys(b.Platforms))
	if !slices.Equal(pa, pb) {
		return []Difference{{"platforms", fmt.Sprintf("%s %s, %s %s", an, showPlatforms(pa), bn, showPlatforms(pb))}}
	}
	var out []Difference
	for _, p := range pa {
		for _, d := range Diff(a.Platforms[p], b.Platforms[p], an, bn) {
			out = append(out, Difference{p + " " + d.Where, d.What})
		}
	}
	return out
}

func showPlatforms(ps []string) string {
	if len(ps) == 0 {
		return "a single image"
	}
	return "[" + strings.Join(ps, " ") + "]"
}

// checkPlatforms holds every platform's report to e.
func checkPlatforms(r *Report, e Expectation) ([]Difference, error) {
	var out []Difference
	for _, p := range slices.Sorted(maps.Keys(r.Platforms)) {
		ds, err := Check(r.Platforms[p], e)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			out = append(out, Difference{p + " " + d.Where, d.What})
		}
	}
	return out, nil
}
