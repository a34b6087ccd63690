package build

import (
	"fmt"
	"maps"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// Annotation is one --annotation: a key and value on the image manifest
// (of every platform, or of Platform's alone) or on the index.
type Annotation struct {
	// Level is AnnotateManifest or AnnotateIndex.
	Level    string
	Platform string // "" for every platform (manifest level only)
	Key      string
	Value    string
}

// Annotation levels, as buildx names them.
const (
	AnnotateManifest = "manifest"
	AnnotateIndex    = "index"
)

// ParseAnnotation reads buildx's --annotation syntax: KEY=VALUE (on the
// manifest), or TYPE[PLATFORM]:KEY=VALUE with TYPE manifest or index.
// Descriptor levels (manifest-descriptor, index-descriptor) are refused.
func ParseAnnotation(s string) (Annotation, error) {
	a := Annotation{Level: AnnotateManifest}
	kv := s
	if pre, rest, ok := strings.Cut(s, ":"); ok && !strings.Contains(pre, "=") {
		level, plat, _ := strings.Cut(pre, "[")
		if plat != "" {
			if !strings.HasSuffix(plat, "]") {
				return a, fmt.Errorf("invalid --annotation %q: unclosed [platform]", s)
			}
			p, err := normalizePlatform(strings.TrimSuffix(plat, "]"))
			if err != nil {
				return a, fmt.Errorf("invalid --annotation %q: %w", s, err)
			}
			a.Platform = p
		}
		switch level {
		case AnnotateManifest, AnnotateIndex:
			a.Level = level
		case "manifest-descriptor", "index-descriptor":
			return a, fmt.Errorf("invalid --annotation %q: %s annotations are not supported; use manifest or index", s, level)
		default:
			return a, fmt.Errorf("invalid --annotation %q: unknown type %q (manifest or index)", s, level)
		}
		kv = rest
	}
	k, v, ok := strings.Cut(kv, "=")
	if !ok || k == "" {
		return a, fmt.Errorf("invalid --annotation %q: use KEY=VALUE", s)
	}
	if a.Level == AnnotateIndex && a.Platform != "" {
		return a, fmt.Errorf("invalid --annotation %q: an index has no platform", s)
	}
	a.Key, a.Value = k, v
	return a, nil
}

// normalizePlatform checks and normalises one platform.
func normalizePlatform(p string) (string, error) {
	ps, err := Platforms([]string{p})
	if err != nil {
		return "", err
	}
	return ps[0], nil
}

// annotations are those of level that apply to platform ("" matches
// every platform's).
func annotations(as []Annotation, level, platform string) map[string]string {
	out := map[string]string{}
	for _, a := range as {
		if a.Level == level && (a.Platform == "" || a.Platform == platform) {
			out[a.Key] = a.Value
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// annotateImage adds manifest annotations to img.
func annotateImage(img v1.Image, ann map[string]string) v1.Image {
	if len(ann) == 0 {
		return img
	}
	return mutate.Annotations(img, maps.Clone(ann)).(v1.Image)
}

// annotateIndex adds index annotations to idx.
func annotateIndex(idx v1.ImageIndex, ann map[string]string) v1.ImageIndex {
	if len(ann) == 0 || idx == nil {
		return idx
	}
	return mutate.Annotations(idx, maps.Clone(ann)).(v1.ImageIndex)
}
