package export

import (
	"errors"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// ReadLayout returns the image of the OCI layout dir: the one it holds, or,
// with tag set, the one whose ref name or image name is tag.
func ReadLayout(dir, tag string) (v1.Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout %s: %w", dir, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout %s: %w", dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout %s: %w", dir, err)
	}
	var picked []v1.Descriptor
	for _, d := range im.Manifests {
		if tag == "" || d.Annotations[RefNameAnnotation] == tag || strings.HasSuffix(d.Annotations[ImageNameAnnotation], ":"+tag) {
			picked = append(picked, d)
		}
	}
	switch {
	case len(picked) == 0 && tag != "":
		return nil, fmt.Errorf("OCI layout %s has no image tagged %q", dir, tag)
	case len(picked) == 0:
		return nil, errors.New("OCI layout " + dir + " holds no image")
	case len(picked) > 1:
		return nil, fmt.Errorf("OCI layout %s holds %d images: name one as oci:%s:TAG", dir, len(picked), dir)
	}
	return IndexImage(idx, picked[0])
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
