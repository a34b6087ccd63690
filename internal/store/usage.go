package store

// What the store holds and what pruning would free: `strata df`.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// UsageRow is one line of `strata df`.
type UsageRow struct {
	Total, Active int
	Size          int64 // bytes
	Reclaimable   int64 // bytes; see Usage for which prune frees them
}

// Usage is what the store holds. Blob bytes are split between Images and
// BuildCache so that they add up to the bytes of all blobs.
type Usage struct {
	// Images: Total stored image manifests, Active tagged ones; Size every
	// blob not kept only by the build cache; Reclaimable what a default
	// prune frees of that (untagged images, unreachable blobs).
	Images UsageRow
	// Layers: extracted layer directories; Active those a tagged image or
	// cache record uses; Reclaimable what a default prune frees.
	Layers UsageRow
	// BuildCache: Total cache records, Active usable ones (blob present);
	// Size the blob bytes only records keep; Reclaimable what `prune --all`
	// frees of them.
	BuildCache UsageRow
	// CacheMounts: RUN --mount=type=cache directories; Active those locked
	// by a running build now; Reclaimable what `prune --all` frees.
	CacheMounts UsageRow
	// Reclaimable is what Prune with default options would free, and
	// ReclaimableAll what Prune with All would.
	Reclaimable, ReclaimableAll int64
	// Records and Mounts list the build cache, most recently used first.
	Records []CacheRecordUsage
	Mounts  []CacheMountUsage
}

// CacheRecordUsage describes one build-cache record.
type CacheRecordUsage struct {
	Key       v1.Hash
	LastUsed  time.Time
	CreatedBy string
	Layer     v1.Hash // zero when the step made no layer
	Size      int64   // compressed bytes of its layer blob
	Shared    bool    // a tagged image uses the layer too
	Orphan    bool    // unreadable, or its blob is gone: a default prune removes it
}

// CacheMountUsage describes one cache mount directory.
type CacheMountUsage struct {
	ID       string
	LastUsed time.Time // newest modification inside it
	Size     int64
	InUse    bool
}

// Usage reports what the store holds and what pruning would free. It takes
// no lock: it is a snapshot that running builds may change.
func (s *Store) Usage(ctx context.Context) (*Usage, error) {
	inv, err := s.inventory(ctx)
	if err != nil {
		return nil, fmt.Errorf("measuring store usage: %w", err)
	}
	for _, d := range append(slices.Collect(maps.Values(inv.layers)), inv.mounts...) {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("measuring store usage: %w", err)
		}
		if err := d.measure(); err != nil {
			return nil, fmt.Errorf("measuring store usage: %w", err)
		}
	}
	now := time.Now()
	def, all := inv.plan(PruneOptions{}, now), inv.plan(PruneOptions{All: true}, now)
	u := &Usage{Reclaimable: def.bytes(), ReclaimableAll: all.bytes()}
	tagged := inv.reach(inv.roots)
	inv.imageUsage(u, tagged, def)
	inv.cacheUsage(u, tagged, all)
	for _, d := range inv.layers {
		u.Layers.Total++
		u.Layers.Size += d.size
		if def.usedDiffIDs[d.name] {
			u.Layers.Active++
		}
	}
	for _, d := range def.layers {
		u.Layers.Reclaimable += d.size
	}
	for _, d := range inv.mounts {
		u.CacheMounts.Total++
		u.CacheMounts.Size += d.size
		u.CacheMounts.Reclaimable += d.size
		m := CacheMountUsage{ID: d.name, LastUsed: d.mtime, Size: d.size, InUse: dirLocked(d.path)}
		if m.InUse {
			u.CacheMounts.Active++
		}
		u.Mounts = append(u.Mounts, m)
	}
	sort.SliceStable(u.Mounts, func(i, j int) bool { return u.Mounts[i].LastUsed.After(u.Mounts[j].LastUsed) })
	return u, nil
}

func (inv *inventory) imageUsage(u *Usage, tagged map[v1.Hash]bool, def *gcPlan) {
	cacheOnly := inv.cacheOnly(tagged)
	taggedImages := map[v1.Hash]bool{}
	for _, h := range inv.roots {
		taggedImages[h] = true
	}
	for h, b := range inv.blobs {
		if b.kind == kindManifest && !b.attestation {
			u.Images.Total++
			if taggedImages[h] {
				u.Images.Active++
			}
		}
		if !cacheOnly[h] {
			u.Images.Size += b.size
		}
	}
	for _, b := range def.blobs {
		if !cacheOnly[b.digest] {
			u.Images.Reclaimable += b.size
		}
	}
}

func (inv *inventory) cacheUsage(u *Usage, tagged map[v1.Hash]bool, all *gcPlan) {
	cacheOnly := inv.cacheOnly(tagged)
	for h := range cacheOnly {
		u.BuildCache.Size += inv.blobs[h].size
	}
	for _, b := range all.blobs {
		if cacheOnly[b.digest] {
			u.BuildCache.Reclaimable += b.size
		}
	}
	for _, r := range inv.records {
		u.BuildCache.Total++
		ru := CacheRecordUsage{Key: r.key, LastUsed: r.mtime, CreatedBy: r.createdBy, Orphan: r.orphan(inv)}
		if !ru.Orphan {
			u.BuildCache.Active++
		}
		if r.layer != nil {
			ru.Layer = r.layer.digest
			ru.Shared = tagged[r.layer.digest]
			if b, ok := inv.blobs[r.layer.digest]; ok {
				ru.Size = b.size
			}
		}
		u.Records = append(u.Records, ru)
	}
	sort.SliceStable(u.Records, func(i, j int) bool { return u.Records[i].LastUsed.After(u.Records[j].LastUsed) })
}

// cacheOnly is the set of stored blobs usable records keep that tagged
// images do not.
func (inv *inventory) cacheOnly(tagged map[v1.Hash]bool) map[v1.Hash]bool {
	out := map[v1.Hash]bool{}
	for _, r := range inv.records {
		if r.orphan(inv) || r.layer == nil || tagged[r.layer.digest] {
			continue
		}
		out[r.layer.digest] = true
	}
	return out
}
