package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// WriteIndex stores a multi-platform image: every child image (or nested
// index), then the index manifest, so a stored index implies its children.
// It returns the index digest, which Tag accepts like a manifest digest.
func (s *Store) WriteIndex(ctx context.Context, idx v1.ImageIndex) (v1.Hash, error) {
	h, err := s.writeIndex(ctx, idx)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("writing image index: %w", err)
	}
	return h, nil
}

func (s *Store) writeIndex(ctx context.Context, idx v1.ImageIndex) (v1.Hash, error) {
	h, err := idx.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	if s.HasBlob(ctx, h) {
		return h, nil
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return v1.Hash{}, err
	}
	for _, d := range m.Manifests {
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return v1.Hash{}, err
			}
			if _, err := s.writeIndex(ctx, child); err != nil {
				return v1.Hash{}, err
			}
		case d.MediaType.IsImage():
			img, err := idx.Image(d.Digest)
			if err != nil {
				return v1.Hash{}, err
			}
			if _, err := s.writeImage(ctx, img); err != nil {
				return v1.Hash{}, err
			}
		default:
			return v1.Hash{}, fmt.Errorf("index entry %s: unsupported media type %s", d.Digest, d.MediaType)
		}
	}
	raw, err := idx.RawManifest()
	if err != nil {
		return v1.Hash{}, err
	}
	if err := s.writeBytes(ctx, h, raw); err != nil {
		return v1.Hash{}, fmt.Errorf("writing index manifest: %w", err)
	}
	return h, nil
}

// IsIndex reports whether the stored manifest h is an image index.
func (s *Store) IsIndex(ctx context.Context, h v1.Hash) (bool, error) {
	d, err := s.manifestDescriptor(h)
	if err != nil {
		return false, fmt.Errorf("reading manifest %s: %w", h, err)
	}
	return d.MediaType.IsIndex(), nil
}

// Index returns the stored image index h.
func (s *Store) Index(ctx context.Context, h v1.Hash) (v1.ImageIndex, error) {
	raw, err := s.readBlob(h)
	if err != nil {
		return nil, fmt.Errorf("reading index %s: %w", h, err)
	}
	m, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("reading index %s: %w", h, err)
	}
	mt := m.MediaType
	if mt == "" {
		mt = types.OCIImageIndex
	}
	if !mt.IsIndex() {
		return nil, fmt.Errorf("reading index %s: media type %s is not an image index", h, mt)
	}
	return &storeIndex{s: s, raw: raw, m: m, mt: mt, h: h}, nil
}

// ImageFor returns the image h names for platform ("os/arch[/variant]"):
// h itself when it is an image manifest (whatever its platform), or the
// index's entry for platform. An index without one is an error listing the
// platforms it has.
func (s *Store) ImageFor(ctx context.Context, h v1.Hash, platform string) (v1.Image, error) {
	isIdx, err := s.IsIndex(ctx, h)
	if err != nil {
		return nil, err
	}
	if !isIdx {
		return s.Image(ctx, h)
	}
	want, err := v1.ParsePlatform(platform)
	if err != nil {
		return nil, fmt.Errorf("parsing platform %q: %w", platform, err)
	}
	idx, err := s.Index(ctx, h)
	if err != nil {
		return nil, err
	}
	d, err := PlatformEntry(idx, *want)
	if err != nil {
		return nil, err
	}
	return s.Image(ctx, d.Digest)
}

// PlatformEntry returns the image entry of idx for want; an entry without
// a platform matches none. A request without a variant matches any variant
// (arm64 is arm64/v8), as containerd's matcher does for the common cases.
func PlatformEntry(idx v1.ImageIndex, want v1.Platform) (v1.Descriptor, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	var have []string
	for _, d := range m.Manifests {
		if d.Platform == nil || !d.MediaType.IsImage() || d.Platform.OS == "unknown" {
			continue
		}
		if PlatformMatches(*d.Platform, want) {
			return d, nil
		}
		have = append(have, FormatPlatform(*d.Platform))
	}
	return v1.Descriptor{}, &notFound{fmt.Sprintf("has no image for %s (it has %s)",
		FormatPlatform(want), strings.Join(have, ", "))}
}

// notFound is an ErrNotFound with its own message.
type notFound struct{ msg string }

func (e *notFound) Error() string        { return e.msg }
func (e *notFound) Is(target error) bool { return target == ErrNotFound }

// TagPlatform points ref at image h and keeps the platforms ref had: when
// ref names an image or index of other platforms, it then names an index
// of those and h (h replacing an entry of its own platform). This is how
// base images pulled for several platforms share one name, as in Docker's
// containerd store. h may also be an index of one platform's image and its
// attestation manifests (attest.Subset makes one): they go in together.
func (s *Store) TagPlatform(ctx context.Context, ref string, h v1.Hash) error {
	img, own, err := s.platformImage(ctx, h)
	if err != nil {
		return err
	}
	plat, err := configPlatform(img)
	if err != nil {
		return err
	}
	old, err := s.Resolve(ctx, ref)
	if errors.Is(err, ErrNotFound) || err == nil && old == h {
		return s.Tag(ctx, ref, h)
	}
	if err != nil {
		return err
	}
	// the platform images kept, then their attestation manifests (after
	// the images, as BuildKit orders them)
	var adds, attAdds []IndexEntry
	keep := func(d v1.Descriptor, p v1.Platform) error {
		if p.Architecture == "" || PlatformMatches(p, plat) && PlatformMatches(plat, p) {
			return nil // replaced by h
		}
		child, err := s.Image(ctx, d.Digest)
		if err != nil {
			return err
		}
		adds = append(adds, IndexEntry{Image: child, Platform: p})
		return nil
	}
	if isIdx, err := s.IsIndex(ctx, old); err != nil {
		return err
	} else if isIdx {
		idx, err := s.Index(ctx, old)
		if err != nil {
			return err
		}
		m, err := idx.IndexManifest()
		if err != nil {
			return err
		}
		var atts []v1.Descriptor
		for _, d := range m.Manifests {
			if d.Platform == nil || !d.MediaType.IsImage() || !s.HasBlob(ctx, d.Digest) {
				continue
			}
			if isAttestation(d) {
				atts = append(atts, d)
				continue
			}
			if err := keep(d, *d.Platform); err != nil {
				return err
			}
		}
		if attAdds, err = s.keptAttestations(ctx, atts, adds); err != nil {
			return err
		}
	} else {
		oldImg, err := s.Image(ctx, old)
		if err != nil {
			return err
		}
		p, err := configPlatform(oldImg)
		if err != nil {
			return err
		}
		d, err := s.manifestDescriptor(old)
		if err != nil {
			return err
		}
		if err := keep(d, p); err != nil {
			return err
		}
	}
	if len(adds) == 0 {
		return s.Tag(ctx, ref, h)
	}
	entries := append(append(adds, IndexEntry{Image: img, Platform: plat}), attAdds...)
	idx, err := NewIndex(append(entries, own...))
	if err != nil {
		return err
	}
	ih, err := s.WriteIndex(ctx, idx)
	if err != nil {
		return err
	}
	return s.Tag(ctx, ref, ih)
}

// platformImage is the image h names for TagPlatform and, when h is an
// index of it and its attestation manifests, their entries.
func (s *Store) platformImage(ctx context.Context, h v1.Hash) (v1.Image, []IndexEntry, error) {
	if isIdx, err := s.IsIndex(ctx, h); err != nil || !isIdx {
		if err != nil {
			return nil, nil, err
		}
		img, err := s.Image(ctx, h)
		return img, nil, err
	}
	idx, err := s.Index(ctx, h)
	if err != nil {
		return nil, nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, nil, err
	}
	var images, atts []v1.Descriptor
	for _, d := range m.Manifests {
		if isAttestation(d) && d.Platform != nil {
			atts = append(atts, d)
		} else {
			images = append(images, d)
		}
	}
	if len(images) != 1 || !images[0].MediaType.IsImage() {
		return nil, nil, fmt.Errorf("tagging index %s as a platform: it has %d entries besides attestations, want one image", h, len(images))
	}
	img, err := s.Image(ctx, images[0].Digest)
	if err != nil {
		return nil, nil, err
	}
	own, err := s.keptAttestations(ctx, atts, []IndexEntry{{Image: img}})
	return img, own, err
}

// keptAttestations are the entries of the attestation manifests atts that
// attest an image of kept; those of a replaced image go with it.
func (s *Store) keptAttestations(ctx context.Context, atts []v1.Descriptor, kept []IndexEntry) ([]IndexEntry, error) {
	digests := map[string]bool{}
	for _, e := range kept {
		if d, err := e.Image.Digest(); err == nil {
			digests[d.String()] = true
		}
	}
	var out []IndexEntry
	for _, d := range atts {
		if !digests[d.Annotations[annotationReferenceDigest]] {
			continue
		}
		child, err := s.Image(ctx, d.Digest)
		if err != nil {
			return nil, err
		}
		out = append(out, IndexEntry{Image: child, Platform: *d.Platform, Annotations: d.Annotations})
	}
	return out, nil
}

// configPlatform is the platform img's config declares.
func configPlatform(img v1.Image) (v1.Platform, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return v1.Platform{}, fmt.Errorf("reading image config: %w", err)
	}
	return v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}, nil
}

// PlatformMatches reports whether an image for have serves a request for
// want: same OS and architecture, and the same variant when want names one
// (arm64's implied v8 counts as none).
func PlatformMatches(have, want v1.Platform) bool {
	if have.OS != want.OS || have.Architecture != want.Architecture {
		return false
	}
	hv, wv := normVariant(have), normVariant(want)
	return wv == "" || hv == wv
}

func normVariant(p v1.Platform) string {
	if p.Architecture == "arm64" && p.Variant == "v8" {
		return ""
	}
	return p.Variant
}

// FormatPlatform is "os/arch[/variant]".
func FormatPlatform(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// storeIndex is an image index whose manifests are in the store.
type storeIndex struct {
	s   *Store
	raw []byte
	m   *v1.IndexManifest
	mt  types.MediaType
	h   v1.Hash
}

var _ v1.ImageIndex = (*storeIndex)(nil)

func (i *storeIndex) MediaType() (types.MediaType, error) { return i.mt, nil }
func (i *storeIndex) Digest() (v1.Hash, error)            { return i.h, nil }
func (i *storeIndex) Size() (int64, error)                { return int64(len(i.raw)), nil }
func (i *storeIndex) RawManifest() ([]byte, error)        { return i.raw, nil }

func (i *storeIndex) IndexManifest() (*v1.IndexManifest, error) {
	var m v1.IndexManifest
	if err := json.Unmarshal(i.raw, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

func (i *storeIndex) Image(h v1.Hash) (v1.Image, error) {
	return i.s.Image(context.Background(), h)
}

func (i *storeIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	return i.s.Index(context.Background(), h)
}

// IndexEntry is an image of an index, its platform and the annotations of
// its descriptor (an attestation manifest's; none for a platform image).
type IndexEntry struct {
	Image       v1.Image
	Platform    v1.Platform
	Annotations map[string]string
}

// The annotations of an attestation manifest's index entry, as BuildKit
// writes them (internal/attest makes such entries).
const (
	annotationReferenceType   = "vnd.docker.reference.type"
	annotationReferenceDigest = "vnd.docker.reference.digest"
)

// isAttestation reports whether an index entry is an attestation manifest.
func isAttestation(d v1.Descriptor) bool {
	return d.Annotations[annotationReferenceType] == "attestation-manifest"
}

// NewIndex is the OCI image index of entries, in order, as BuildKit writes
// one: each descriptor with media type, digest, size and platform (no
// artifactType, which go-containerregistry's mutate would add).
func NewIndex(entries []IndexEntry) (v1.ImageIndex, error) {
	m := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{}}
	images := map[v1.Hash]v1.Image{}
	for _, e := range entries {
		mt, err := e.Image.MediaType()
		if err != nil {
			return nil, err
		}
		d, err := e.Image.Digest()
		if err != nil {
			return nil, err
		}
		n, err := e.Image.Size()
		if err != nil {
			return nil, err
		}
		p := e.Platform
		m.Manifests = append(m.Manifests, v1.Descriptor{MediaType: mt, Digest: d, Size: n, Annotations: e.Annotations, Platform: &p})
		images[d] = e.Image
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding image index: %w", err)
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	return &memIndex{raw: raw, h: h, images: images}, nil
}

// memIndex is an index made here, over images held in memory or the store.
type memIndex struct {
	raw    []byte
	h      v1.Hash
	images map[v1.Hash]v1.Image
}

func (i *memIndex) MediaType() (types.MediaType, error) { return types.OCIImageIndex, nil }
func (i *memIndex) Digest() (v1.Hash, error)            { return i.h, nil }
func (i *memIndex) Size() (int64, error)                { return int64(len(i.raw)), nil }
func (i *memIndex) RawManifest() ([]byte, error)        { return i.raw, nil }

func (i *memIndex) IndexManifest() (*v1.IndexManifest, error) {
	return v1.ParseIndexManifest(bytes.NewReader(i.raw))
}

func (i *memIndex) Image(h v1.Hash) (v1.Image, error) {
	img, ok := i.images[h]
	if !ok {
		return nil, fmt.Errorf("image %s is not in the index: %w", h, ErrNotFound)
	}
	return img, nil
}

func (i *memIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	return nil, fmt.Errorf("index %s is not in the index: %w", h, ErrNotFound)
}
