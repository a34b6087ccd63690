package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// RefAnnotation is the index.json annotation holding a tag's full reference.
const RefAnnotation = "org.opencontainers.image.ref.name"

// minPrefix is the shortest digest prefix Resolve accepts.
const minPrefix = 4

// NormalizeRef returns ref in Docker's normalised form: "busybox" is
// "docker.io/library/busybox:latest", "r.io:5000/a/b" is
// "r.io:5000/a/b:latest"; digest references keep their digest.
func NormalizeRef(ref string) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("parsing reference %q: %w", ref, err)
	}
	repo := r.Context()
	reg := repo.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = "docker.io"
	}
	full := reg + "/" + repo.RepositoryStr()
	switch r := r.(type) {
	case name.Tag:
		return full + ":" + r.TagStr(), nil
	case name.Digest:
		return full + "@" + r.DigestStr(), nil
	}
	return "", fmt.Errorf("parsing reference %q: unknown kind", ref)
}

// Tag points ref (normalised like Docker: "busybox" is
// "docker.io/library/busybox:latest") at manifest digest h, replacing what
// it pointed at.
func (s *Store) Tag(ctx context.Context, ref string, h v1.Hash) error {
	full, err := NormalizeRef(ref)
	if err != nil {
		return fmt.Errorf("tagging %s: %w", h, err)
	}
	if strings.Contains(full, "@") {
		return fmt.Errorf("tagging %s: refusing to tag with digest reference %q", h, ref)
	}
	desc, err := s.manifestDescriptor(h)
	if err != nil {
		return fmt.Errorf("tagging %q: %w", ref, err)
	}
	desc.Annotations = map[string]string{RefAnnotation: full}
	err = s.updateIndex(ctx, func(idx *v1.IndexManifest) {
		idx.Manifests = append(dropRef(idx.Manifests, full), desc)
	})
	if err != nil {
		return fmt.Errorf("tagging %q: %w", ref, err)
	}
	return nil
}

// Untag removes ref, or returns ErrNotFound.
func (s *Store) Untag(ctx context.Context, ref string) error {
	full, err := NormalizeRef(ref)
	if err != nil {
		return fmt.Errorf("untagging: %w", err)
	}
	found := false
	err = s.updateIndex(ctx, func(idx *v1.IndexManifest) {
		kept := dropRef(idx.Manifests, full)
		found = len(kept) < len(idx.Manifests)
		idx.Manifests = kept
	})
	if err == nil && !found {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("untagging %q: %w", ref, err)
	}
	return nil
}

// Tagged is one tag of the store.
type Tagged struct {
	Ref    string
	Digest v1.Hash
}

// Tags lists every tag, sorted by Ref.
func (s *Store) Tags(ctx context.Context) ([]Tagged, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, fmt.Errorf("listing tags: %w", err)
	}
	var out []Tagged
	for _, d := range idx.Manifests {
		if ref := d.Annotations[RefAnnotation]; ref != "" {
			out = append(out, Tagged{Ref: ref, Digest: d.Digest})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}

// Resolve returns the manifest digest ref points at, or ErrNotFound. ref is,
// in this order: a full digest ("sha256:<hex>" or 64 hex digits) of a stored
// manifest; a tag (normalised as in Tag; "name@sha256:..." resolves to its
// digest when stored); a hex prefix of at least 4 digits of exactly one
// tagged manifest's digest (like Docker's short image IDs, which strata
// takes from the manifest digest), else ErrAmbiguous. A config digest,
// full or a prefix, of a tagged image (Docker's image ID, what --iidfile
// holds) resolves to that image's manifest.
func (s *Store) Resolve(ctx context.Context, ref string) (v1.Hash, error) {
	h, err := s.resolve(ctx, ref)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("resolving %q: %w", ref, err)
	}
	return h, nil
}

func (s *Store) resolve(ctx context.Context, ref string) (v1.Hash, error) {
	idx, err := s.readIndex()
	if err != nil {
		return v1.Hash{}, err
	}
	if h, ok := parseDigest(ref); ok {
		if !s.HasBlob(ctx, h) {
			return v1.Hash{}, ErrNotFound
		}
		if m, ok, err := s.byConfig(ctx, idx, h.Hex); err == nil && ok {
			return m, nil // an image ID as Docker has it: the config digest
		}
		if !s.isManifest(ctx, h) {
			return v1.Hash{}, ErrNotFound // a layer or config, of no tagged image
		}
		return h, nil
	}
	if full, err := NormalizeRef(ref); err == nil {
		if h, ok := byRef(idx, full, s); ok {
			return h, nil
		}
	}
	h, err := byPrefix(idx, strings.TrimPrefix(ref, "sha256:"))
	if errors.Is(err, ErrNotFound) {
		if m, ok, cerr := s.byConfig(ctx, idx, strings.TrimPrefix(ref, "sha256:")); cerr != nil || ok {
			return m, cerr
		}
	}
	return h, err
}

func byRef(idx *v1.IndexManifest, full string, s *Store) (v1.Hash, bool) {
	if _, dig, ok := strings.Cut(full, "@"); ok {
		h, err := v1.NewHash(dig)
		return h, err == nil && s.HasBlob(context.Background(), h)
	}
	for _, d := range idx.Manifests {
		if d.Annotations[RefAnnotation] == full {
			return d.Digest, true
		}
	}
	return v1.Hash{}, false
}

func byPrefix(idx *v1.IndexManifest, prefix string) (v1.Hash, error) {
	if len(prefix) < minPrefix || !isHex(prefix) {
		return v1.Hash{}, ErrNotFound
	}
	var found []v1.Hash
	for _, d := range idx.Manifests {
		if strings.HasPrefix(d.Digest.Hex, prefix) && !containsHash(found, d.Digest) {
			found = append(found, d.Digest)
		}
	}
	switch len(found) {
	case 0:
		return v1.Hash{}, ErrNotFound
	case 1:
		return found[0], nil
	}
	return v1.Hash{}, ErrAmbiguous
}

func parseDigest(ref string) (v1.Hash, bool) {
	hexPart := strings.TrimPrefix(ref, "sha256:")
	if len(hexPart) != 64 || !isHex(hexPart) {
		return v1.Hash{}, false
	}
	return v1.Hash{Algorithm: "sha256", Hex: hexPart}, true
}

func isHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func containsHash(hs []v1.Hash, h v1.Hash) bool {
	for _, x := range hs {
		if x == h {
			return true
		}
	}
	return false
}

func dropRef(ds []v1.Descriptor, full string) []v1.Descriptor {
	var kept []v1.Descriptor
	for _, d := range ds {
		if d.Annotations[RefAnnotation] != full {
			kept = append(kept, d)
		}
	}
	return kept
}

// manifestDescriptor describes stored manifest h.
func (s *Store) manifestDescriptor(h v1.Hash) (v1.Descriptor, error) {
	raw, err := s.readBlob(h)
	if err != nil {
		return v1.Descriptor{}, err
	}
	var m struct {
		MediaType types.MediaType `json:"mediaType"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return v1.Descriptor{}, fmt.Errorf("parsing manifest %s: %w", h, err)
	}
	if m.MediaType == "" {
		m.MediaType = types.OCIManifestSchema1
	}
	return v1.Descriptor{MediaType: m.MediaType, Size: int64(len(raw)), Digest: h}, nil
}

// readIndex reads index.json; it is replaced by rename, so no lock is needed.
func (s *Store) readIndex() (*v1.IndexManifest, error) {
	f, err := os.Open(filepath.Join(s.root, "index.json"))
	if err != nil {
		return nil, fmt.Errorf("reading index: %w", err)
	}
	defer f.Close()
	idx, err := v1.ParseIndexManifest(f)
	if err != nil {
		return nil, fmt.Errorf("parsing index: %w", err)
	}
	return idx, nil
}

// updateIndex applies fn to index.json under ROOT/lock and writes it back
// atomically, manifests sorted by ref.
func (s *Store) updateIndex(ctx context.Context, fn func(*v1.IndexManifest)) error {
	return withFileLock(ctx, filepath.Join(s.root, "lock"), func() error {
		idx, err := s.readIndex()
		if err != nil {
			return err
		}
		fn(idx)
		if idx.Manifests == nil {
			idx.Manifests = []v1.Descriptor{}
		}
		sort.SliceStable(idx.Manifests, func(i, j int) bool {
			return idx.Manifests[i].Annotations[RefAnnotation] < idx.Manifests[j].Annotations[RefAnnotation]
		})
		b, err := json.MarshalIndent(idx, "", "  ")
		if err != nil {
			return err
		}
		if err := writeFileAtomic(s.tmp, filepath.Join(s.root, "index.json"), append(b, '\n'), true); err != nil {
			return fmt.Errorf("writing index: %w", err)
		}
		return nil
	})
}
