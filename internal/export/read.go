package export

import (
	"errors"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// ReadLayout returns the image of the OCI layout dir: the one it holds, or,
// with tag set, the one whose ref name or image name is tag; of a
// multi-platform image, the linux/amd64 one.
func ReadLayout(dir, tag string) (v1.Image, error) {
	idx, d, err := ReadLayoutEntry(dir, tag)
	if err != nil {
		return nil, err
	}
	return IndexImage(idx, d)
}

// ReadLayoutEntry returns the index of the OCI layout dir and its entry
// ReadLayout picks (an image, or a multi-platform image's index).
func ReadLayoutEntry(dir, tag string) (v1.ImageIndex, v1.Descriptor, error) {
	idx, d, err := readLayoutEntry(dir, tag)
	if err != nil {
		return nil, v1.Descriptor{}, fmt.Errorf("reading OCI layout %s: %w", dir, err)
	}
	return idx, d, nil
}

func readLayoutEntry(dir, tag string) (v1.ImageIndex, v1.Descriptor, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	var picked []v1.Descriptor
	for _, d := range im.Manifests {
		if tag == "" || d.Annotations[RefNameAnnotation] == tag || strings.HasSuffix(d.Annotations[ImageNameAnnotation], ":"+tag) {
			picked = append(picked, d)
		}
	}
	switch {
	case len(picked) == 0 && tag != "":
		return nil, v1.Descriptor{}, fmt.Errorf("no image tagged %q", tag)
	case len(picked) == 0:
		return nil, v1.Descriptor{}, errors.New("no image in it")
	case len(picked) > 1:
		return nil, v1.Descriptor{}, fmt.Errorf("%d images in it: name one as oci:%s:TAG", len(picked), dir)
	}
	return idx, picked[0], nil
}

// IndexImage returns the image d names in idx; for a nested index, its
// linux/amd64 image.
func IndexImage(idx v1.ImageIndex, d v1.Descriptor) (v1.Image, error) {
	if d.MediaType.IsImage() {
		return idx.Image(d.Digest)
	}
	if !d.MediaType.IsIndex() {
		return nil, fmt.Errorf("unsupported media type %s", d.MediaType)
	}
	child, err := idx.ImageIndex(d.Digest)
	if err != nil {
		return nil, err
	}
	cm, err := child.IndexManifest()
	if err != nil {
		return nil, err
	}
	want := &v1.Platform{OS: "linux", Architecture: "amd64"}
	for _, c := range cm.Manifests {
		if c.Platform != nil && c.Platform.Satisfies(*want) {
			return child.Image(c.Digest)
		}
	}
	return nil, fmt.Errorf("index %s has no linux/amd64 image", d.Digest)
}
