package attest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ErrNone is returned by Find when an image has no attestation manifest.
var ErrNone = errors.New("no attestation manifest")

// Entry is a platform image of an index, the names it is built as and the
// predicates to attest about it (none: no attestation manifest).
type Entry struct {
	Image      v1.Image
	Platform   v1.Platform
	Names      []string
	Predicates []Predicate
}

// Index is the OCI image index of entries as BuildKit writes one: the
// platform images in order, then one attestation manifest per entry with
// predicates (platform unknown/unknown, annotated with the reference type
// and the image's digest). Without predicates it is byte for byte the index
// store.NewIndex writes. With FormDocker it is a Docker manifest list.
func Index(entries []Entry, form Form) (v1.ImageIndex, error) {
	mt := types.OCIImageIndex
	if form == FormDocker {
		mt = types.DockerManifestList
	}
	m := v1.IndexManifest{SchemaVersion: 2, MediaType: mt, Manifests: []v1.Descriptor{}}
	images := map[v1.Hash]v1.Image{}
	var atts []v1.Descriptor
	for _, e := range entries {
		d, err := descriptor(e.Image)
		if err != nil {
			return nil, err
		}
		p := e.Platform
		d.Platform = &p
		m.Manifests = append(m.Manifests, d)
		images[d.Digest] = e.Image
		if len(e.Predicates) == 0 {
			continue
		}
		stmts := make([]Statement, 0, len(e.Predicates))
		subjects, err := Subjects(e.Names, p, d.Digest)
		if err != nil {
			return nil, err
		}
		for _, pr := range e.Predicates {
			s, err := NewStatement(pr, subjects)
			if err != nil {
				return nil, err
			}
			stmts = append(stmts, s)
		}
		img, err := Manifest(d, stmts, form)
		if err != nil {
			return nil, err
		}
		ad, err := descriptor(img)
		if err != nil {
			return nil, err
		}
		ad.Annotations = map[string]string{
			AnnotationReferenceType:   ReferenceTypeAttestation,
			AnnotationReferenceDigest: d.Digest.String(),
		}
		ad.Platform = &v1.Platform{Architecture: "unknown", OS: "unknown"}
		atts = append(atts, ad)
		images[ad.Digest] = img
	}
	m.Manifests = append(m.Manifests, atts...)
	return newIndex(m, images)
}

func descriptor(img v1.Image) (v1.Descriptor, error) {
	mt, err := img.MediaType()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("reading image media type: %w", err)
	}
	d, err := img.Digest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("reading image digest: %w", err)
	}
	n, err := img.Size()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("reading image size: %w", err)
	}
	return v1.Descriptor{MediaType: mt, Digest: d, Size: n}, nil
}

// IsAttestation reports whether an index entry is an attestation manifest.
func IsAttestation(d v1.Descriptor) bool {
	return d.Annotations[AnnotationReferenceType] == ReferenceTypeAttestation
}

// Images lists an index's entries that are not attestation manifests, in
// order.
func Images(idx v1.ImageIndex) ([]v1.Descriptor, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading image index: %w", err)
	}
	var out []v1.Descriptor
	for _, d := range m.Manifests {
		if !IsAttestation(d) {
			out = append(out, d)
		}
	}
	return out, nil
}

// Find returns the statements of the attestation manifest idx holds for the
// image manifest image, in order; ErrNone when it holds none.
func Find(idx v1.ImageIndex, image v1.Hash) ([]Statement, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading image index: %w", err)
	}
	for _, d := range m.Manifests {
		if !IsAttestation(d) || d.Annotations[AnnotationReferenceDigest] != image.String() {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading attestation manifest %s: %w", d.Digest, err)
		}
		return Statements(img)
	}
	return nil, fmt.Errorf("image %s: %w", image, ErrNone)
}

// Statements reads the in-toto statements of an attestation manifest (its
// layers of media type application/vnd.in-toto+json), in order.
func Statements(att v1.Image) ([]Statement, error) {
	layers, err := att.Layers()
	if err != nil {
		return nil, fmt.Errorf("reading attestation layers: %w", err)
	}
	var out []Statement
	for _, l := range layers {
		mt, err := l.MediaType()
		if err != nil {
			return nil, fmt.Errorf("reading attestation layer: %w", err)
		}
		if mt != MediaType {
			continue
		}
		s, err := readStatement(l)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func readStatement(l v1.Layer) (Statement, error) {
	d, _ := l.Digest()
	rc, err := l.Compressed()
	if err != nil {
		return Statement{}, fmt.Errorf("reading statement %s: %w", d, err)
	}
	defer rc.Close()
	var s Statement
	if err := json.NewDecoder(rc).Decode(&s); err != nil {
		return Statement{}, fmt.Errorf("decoding statement %s: %w", d, err)
	}
	return s, nil
}

// FindPredicate returns the predicate of type typ among stmts; ErrNone when none
// has it.
func FindPredicate(stmts []Statement, typ string) (json.RawMessage, error) {
	for _, s := range stmts {
		if s.PredicateType == typ {
			return s.Predicate, nil
		}
	}
	return nil, fmt.Errorf("no %s statement: %w", typ, ErrNone)
}

// index is an index made here, over images held in memory or a store.
type index struct {
	raw    []byte
	h      v1.Hash
	mt     types.MediaType
	images map[v1.Hash]v1.Image
}

var _ v1.ImageIndex = (*index)(nil)

func (i *index) MediaType() (types.MediaType, error) { return i.mt, nil }
func (i *index) Digest() (v1.Hash, error)            { return i.h, nil }
func (i *index) Size() (int64, error)                { return int64(len(i.raw)), nil }
func (i *index) RawManifest() ([]byte, error)        { return i.raw, nil }

func (i *index) IndexManifest() (*v1.IndexManifest, error) {
	return v1.ParseIndexManifest(bytes.NewReader(i.raw))
}

func (i *index) Image(h v1.Hash) (v1.Image, error) {
	img, ok := i.images[h]
	if !ok {
		return nil, fmt.Errorf("image %s is not in the index", h)
	}
	return img, nil
}

func (i *index) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	return nil, fmt.Errorf("index %s is not in the index", h)
}
