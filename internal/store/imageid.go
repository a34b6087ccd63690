package store

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// byConfig finds the tagged manifest whose config digest starts with
// prefix (hex, at least minPrefix digits, or all 64): Docker names an
// image by its config digest (docker images, docker load, build
// --iidfile), so strata takes those IDs too. Images of a tagged index
// count. ok is false when none matches; ErrAmbiguous when several do.
func (s *Store) byConfig(ctx context.Context, idx *v1.IndexManifest, prefix string) (v1.Hash, bool, error) {
	if len(prefix) < minPrefix || !isHex(prefix) {
		return v1.Hash{}, false, nil
	}
	var found []v1.Hash
	seen := map[v1.Hash]bool{}
	var visit func(h v1.Hash, depth int)
	visit = func(h v1.Hash, depth int) {
		if seen[h] || depth > 1 || ctx.Err() != nil {
			return
		}
		seen[h] = true
		raw, err := s.readBlob(h)
		if err != nil {
			return
		}
		if m, err := v1.ParseManifest(bytes.NewReader(raw)); err == nil && m.Config.Digest.Hex != "" {
			if strings.HasPrefix(m.Config.Digest.Hex, prefix) && !containsHash(found, h) {
				found = append(found, h)
			}
			return
		}
		if im, err := v1.ParseIndexManifest(bytes.NewReader(raw)); err == nil {
			for _, d := range im.Manifests {
				visit(d.Digest, depth+1)
			}
		}
	}
	for _, d := range idx.Manifests {
		visit(d.Digest, 0)
	}
	switch len(found) {
	case 0:
		return v1.Hash{}, false, nil
	case 1:
		return found[0], true, nil
	}
	return v1.Hash{}, false, ErrAmbiguous
}

// isManifest reports whether the stored blob h is an image manifest or
// index (schemaVersion 2), not a config or a layer.
func (s *Store) isManifest(ctx context.Context, h v1.Hash) bool {
	if n, err := s.BlobSize(ctx, h); err != nil || n > 4<<20 {
		return false
	}
	raw, err := s.readBlob(h)
	if err != nil {
		return false
	}
	var m struct {
		SchemaVersion int `json:"schemaVersion"`
	}
	return json.Unmarshal(raw, &m) == nil && m.SchemaVersion == 2
}
