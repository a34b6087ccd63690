package attest

import (
	"bytes"
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Split divides idx for registries and users who prefer OCI 1.1
// referrers to attestation entries in the index: the index without its
// attestation manifests (its images, as they were), and those manifests,
// to push by digest to the same repository, where the referrers API (or
// the referrers tag fallback) lists each under the image its subject names.
// Attestation manifests without a subject (FormImage) cannot be split off.
func Split(idx v1.ImageIndex) (v1.ImageIndex, []v1.Image, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, nil, fmt.Errorf("reading image index: %w", err)
	}
	images := map[v1.Hash]v1.Image{}
	var keep []v1.Descriptor
	var refs []v1.Image
	for _, d := range m.Manifests {
		if !d.MediaType.IsImage() {
			return nil, nil, fmt.Errorf("splitting image index: entry %s is a %s, not an image", d.Digest, d.MediaType)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, nil, fmt.Errorf("reading image %s: %w", d.Digest, err)
		}
		if !IsAttestation(d) {
			keep = append(keep, d)
			images[d.Digest] = img
			continue
		}
		am, err := img.Manifest()
		if err != nil {
			return nil, nil, fmt.Errorf("reading attestation manifest %s: %w", d.Digest, err)
		}
		if am.Subject == nil {
			return nil, nil, fmt.Errorf("attestation manifest %s has no subject, so it cannot be a referrer (write it with oci-artifact=true)", d.Digest)
		}
		refs = append(refs, img)
	}
	out := *m
	out.Manifests = keep
	if out.Manifests == nil {
		out.Manifests = []v1.Descriptor{}
	}
	plain, err := newIndex(out, images)
	if err != nil {
		return nil, nil, err
	}
	return plain, refs, nil
}

// Subset is the index of idx's entries for the images keep names and their
// attestation manifests, as they were, in idx's order: what a pull or a
// save of some platforms keeps of an attested image.
func Subset(idx v1.ImageIndex, keep []v1.Hash) (v1.ImageIndex, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading image index: %w", err)
	}
	want := map[string]bool{}
	for _, h := range keep {
		want[h.String()] = true
	}
	images := map[v1.Hash]v1.Image{}
	out := *m
	out.Manifests = []v1.Descriptor{}
	for _, d := range m.Manifests {
		if !want[d.Digest.String()] && !(IsAttestation(d) && want[d.Annotations[AnnotationReferenceDigest]]) {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading image %s: %w", d.Digest, err)
		}
		out.Manifests = append(out.Manifests, d)
		images[d.Digest] = img
	}
	if len(out.Manifests) == 0 {
		return nil, fmt.Errorf("image index has none of %v", keep)
	}
	return newIndex(out, images)
}

// newIndex is the index of m over images, encoded as Index encodes one.
func newIndex(m v1.IndexManifest, images map[v1.Hash]v1.Image) (v1.ImageIndex, error) {
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding image index: %w", err)
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	mt := m.MediaType
	if mt == "" {
		mt = types.OCIImageIndex
	}
	return &index{raw: raw, h: h, mt: mt, images: images}, nil
}
