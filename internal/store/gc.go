package store

// Garbage collection: mark and sweep over the store.
//
// Roots are the tagged images (manifest, config, layers) and, unless
// PruneOptions.All, the build-cache records (their layer blobs). Everything
// else that is stored is garbage: blobs nobody reaches, extracted layer
// directories whose diff ID no kept layer has, cache records whose blob is
// gone, and with All the cache records and RUN --mount=type=cache
// directories themselves.
//
// Builds hold a shared flock on ROOT/gc.lock (BuildLease) for their whole
// run; Prune holds it exclusively, so it never sweeps what a running build
// has written or is about to reuse.
//
// Deletion order keeps the store consistent if prune is killed at any point:
// cache records first (a record whose blob is gone is a cache miss), then
// image indexes, then image manifests, then every other blob (WriteImage
// trusts that a stored manifest implies its blobs), then extracted layer
// directories and cache mounts, each renamed into scratch space before it is
// removed so that no half-removed tree is ever visible. A blob a tagged image
// needs is never deleted.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// maxManifestSize is the largest blob GC reads to learn whether it is a
// manifest or an index (the registry spec's limit is 4 MiB).
const maxManifestSize = 4 << 20

// PruneOptions says what Prune removes beyond unreachable objects.
type PruneOptions struct {
	// All removes the build cache (records, their blobs, cache mounts) too:
	// only tagged images and what they need are kept.
	All bool
	// KeepStorage, when positive, removes the least recently used cache
	// records until the blob bytes only the cache keeps are at most this.
	KeepStorage int64
	// Until, when positive, spares everything used or written within this
	// long: only older cache records, blobs and cache mounts are removed.
	Until time.Duration
	// OnWait, if set, is called once when Prune has to wait for running
	// builds to release their leases.
	OnWait func()
	// InUse, if set, gives more images to keep whole (manifest digests),
	// as tagged ones are: the images of containers. It is called once the
	// leases are released, so a container started by a command that held
	// one is in it.
	InUse func() ([]v1.Hash, error)
}

// Removed is one object Prune removed.
type Removed struct {
	Kind string // KindImage, KindIndex, KindBlob, KindCacheRecord, KindLayerDir, KindCacheMount
	ID   string // digest, cache key, diff ID or cache mount ID
	Size int64  // bytes freed
}

// Kinds of removed objects.
const (
	KindIndex       = "index"
	KindImage       = "image"
	KindBlob        = "blob"
	KindCacheRecord = "cache record"
	KindLayerDir    = "layer dir"
	KindCacheMount  = "cache mount"
)

// PruneReport is what Prune removed, in the order it removed it.
type PruneReport struct {
	Removed   []Removed
	Reclaimed int64 // bytes
}

// BuildLease takes a shared lease on the store for a build: Prune waits
// until every lease is released, and a lease waits for a running Prune.
// Hold it from before the first store access to after the last tag; release
// is idempotent.
func (s *Store) BuildLease(ctx context.Context) (release func(), err error) {
	f, err := s.gcLock(ctx, unix.LOCK_SH, nil)
	if err != nil {
		return nil, fmt.Errorf("taking build lease: %w", err)
	}
	var once sync.Once
	return func() { once.Do(func() { f.Close() }) }, nil
}

// TouchCacheRecord marks the record for key as used now, so that
// KeepStorage and Until remove the least recently used records first.
func (s *Store) TouchCacheRecord(ctx context.Context, key v1.Hash) error {
	now := time.Now()
	if err := os.Chtimes(s.cachePath(key), now, now); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = ErrNotFound
		}
		return fmt.Errorf("touching cache record %s: %w", key, err)
	}
	return nil
}

// gcLock flocks ROOT/gc.lock with how (LOCK_SH or LOCK_EX), waiting until
// ctx is done; onWait is called if it has to wait. Closing the file releases
// the lock.
func (s *Store) gcLock(ctx context.Context, how int, onWait func()) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(s.root, "gc.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if unix.Flock(int(f.Fd()), how|unix.LOCK_NB) == nil {
		return f, nil
	}
	if onWait != nil {
		onWait()
	}
	done := make(chan error, 1)
	go func() { done <- unix.Flock(int(f.Fd()), how) }()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			return nil, err
		}
		return f, nil
	case <-ctx.Done():
		// The waiting flock owns f until it returns; closing f then
		// drops whatever it got.
		go func() { <-done; f.Close() }()
		return nil, ctx.Err()
	}
}

// Prune removes what opts says is garbage and reports it. It waits (until
// ctx is done) for running builds to release their leases, and builds that
// start meanwhile wait for it.
func (s *Store) Prune(ctx context.Context, opts PruneOptions) (*PruneReport, error) {
	lock, err := s.gcLock(ctx, unix.LOCK_EX, opts.OnWait)
	if err != nil {
		return nil, fmt.Errorf("pruning: waiting for running builds: %w", err)
	}
	defer lock.Close()
	rep := &PruneReport{}
	var p *gcPlan
	var sized map[string]bool // diff IDs whose remembered size stays
	// ROOT/lock keeps tags still while the roots are read and blobs swept.
	err = withFileLock(ctx, filepath.Join(s.root, "lock"), func() error {
		inv, err := s.inventory(ctx)
		if err != nil {
			return err
		}
		if opts.InUse != nil {
			used, err := opts.InUse()
			if err != nil {
				return err
			}
			for _, h := range used {
				if b, ok := inv.blobs[h]; ok && b.kind != kindOther {
					inv.roots = append(inv.roots, h)
				}
			}
		}
		p = inv.plan(opts, time.Now())
		sized = p.keptDiffIDs(inv)
		return s.sweepFiles(ctx, p, rep)
	})
	if err == nil {
		err = s.sweepDirs(ctx, p, rep)
	}
	if err == nil {
		err = s.pruneVariants(ctx)
	}
	if err == nil {
		err = s.pruneUsizes(sized)
	}
	if err == nil && opts.All {
		err = s.clearSBOMCache()
	}
	if err != nil {
		return rep, fmt.Errorf("pruning: %w", err)
	}
	return rep, nil
}

// sweepFiles removes cache records, then indexes, manifests and other blobs.
func (s *Store) sweepFiles(ctx context.Context, p *gcPlan, rep *PruneReport) error {
	for _, r := range p.records {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := removeFile(s.cachePath(r.key)); err != nil {
			return fmt.Errorf("removing cache record %s: %w", r.key, err)
		}
		rep.add(KindCacheRecord, r.key.String(), r.fileSize)
	}
	for _, b := range p.blobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := removeFile(s.blobPath(b.digest)); err != nil {
			return fmt.Errorf("removing blob %s: %w", b.digest, err)
		}
		rep.add(b.kind.removedKind(), b.digest.String(), b.size)
	}
	if len(p.blobs) > 0 {
		return fsyncDir(filepath.Join(s.root, "blobs", "sha256"))
	}
	return nil
}

// sweepDirs removes extracted layer directories and cache mounts, each
// renamed into this Store's scratch directory first.
func (s *Store) sweepDirs(ctx context.Context, p *gcPlan, rep *PruneReport) error {
	for _, d := range p.layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		diffID := v1.Hash{Algorithm: "sha256", Hex: d.name}
		err := s.withLayerLock(ctx, diffID, func() error { return s.removeDir(ctx, d) })
		if err != nil {
			return fmt.Errorf("removing layer dir %s: %w", d.name, err)
		}
		rep.add(KindLayerDir, diffID.String(), d.size)
	}
	for _, d := range p.mounts {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.removeDir(ctx, d); err != nil {
			return fmt.Errorf("removing cache mount %s: %w", d.name, err)
		}
		rep.add(KindCacheMount, d.name, d.size)
	}
	return nil
}

func (r *PruneReport) add(kind, id string, size int64) {
	r.Removed = append(r.Removed, Removed{Kind: kind, ID: id, Size: size})
	r.Reclaimed += size
}

// removeDir renames d out of sight, then removes it.
func (s *Store) removeDir(ctx context.Context, d *dirInfo) error {
	if err := d.measure(); err != nil {
		return err
	}
	tmp, err := s.TempDir(ctx, "gc")
	if err != nil {
		return err
	}
	gone := filepath.Join(tmp, "d")
	if err := os.Rename(d.path, gone); err != nil {
		os.Remove(tmp)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return removeTree(tmp)
}

// gcPlan is what one prune removes, in removal order.
type gcPlan struct {
	records     []*recordInfo
	blobs       []plannedBlob // indexes, then manifests, then the rest
	layers      []*dirInfo
	mounts      []*dirInfo
	usedDiffIDs map[string]bool
}

type plannedBlob struct {
	digest v1.Hash
	size   int64
	kind   blobKind
}

// bytes is what the plan frees; directory sizes count only once measured.
func (p *gcPlan) bytes() int64 {
	var n int64
	for _, r := range p.records {
		n += r.fileSize
	}
	for _, b := range p.blobs {
		n += b.size
	}
	for _, d := range append(slices.Clone(p.layers), p.mounts...) {
		n += d.size
	}
	return n
}

// reach returns every blob reachable from roots.
func (inv *inventory) reach(roots []v1.Hash) map[v1.Hash]bool {
	marked := map[v1.Hash]bool{}
	inv.mark(marked, roots)
	return marked
}

func (inv *inventory) mark(marked map[v1.Hash]bool, hs []v1.Hash) {
	for _, h := range hs {
		if marked[h] {
			continue
		}
		marked[h] = true
		if b, ok := inv.blobs[h]; ok {
			inv.mark(marked, b.refs)
		}
	}
}

// keptDiffIDs are the diff IDs of every blob p leaves and of the layers
// the kept cache records hold.
func (p *gcPlan) keptDiffIDs(inv *inventory) map[string]bool {
	gone := map[v1.Hash]bool{}
	for _, b := range p.blobs {
		gone[b.digest] = true
	}
	keep := maps.Clone(p.usedDiffIDs)
	for h, b := range inv.blobs {
		if !gone[h] {
			for _, d := range b.diffIDs {
				keep[d] = true
			}
		}
	}
	return keep
}

// plan decides what Prune removes with opts at time now. Its only I/O is
// measuring cache mounts when both All and Until are set.
func (inv *inventory) plan(opts PruneOptions, now time.Time) *gcPlan {
	old := func(t time.Time) bool { return opts.Until <= 0 || t.Before(now.Add(-opts.Until)) }
	marked := inv.reach(inv.roots)
	if opts.Until > 0 {
		// Recent images stay whole, whatever the age of their blobs.
		var recent []v1.Hash
		for h, b := range inv.blobs {
			if b.kind != kindOther && !old(b.mtime) {
				recent = append(recent, h)
			}
		}
		inv.mark(marked, recent)
	}
	p := &gcPlan{usedDiffIDs: map[string]bool{}}
	kept := inv.pickRecords(opts, marked, old, p)
	for _, r := range kept {
		if r.layer != nil {
			marked[r.layer.digest] = true
			p.usedDiffIDs[r.layer.diffID] = true
		}
	}
	for h, b := range inv.blobs {
		if marked[h] {
			for _, d := range b.diffIDs {
				p.usedDiffIDs[d] = true
			}
			continue
		}
		if old(b.mtime) {
			p.blobs = append(p.blobs, plannedBlob{digest: h, size: b.size, kind: b.kind})
		}
	}
	sort.Slice(p.blobs, func(i, j int) bool {
		a, b := p.blobs[i], p.blobs[j]
		if a.kind != b.kind {
			return a.kind > b.kind // kindIndex, kindManifest, kindOther
		}
		return a.digest.Hex < b.digest.Hex
	})
	for name, d := range inv.layers {
		if !p.usedDiffIDs[name] {
			p.layers = append(p.layers, d)
		}
	}
	sort.Slice(p.layers, func(i, j int) bool { return p.layers[i].name < p.layers[j].name })
	if opts.All {
		for _, d := range inv.mounts {
			if opts.Until > 0 {
				d.measure() // an unreadable mount reads as old
			}
			if old(d.mtime) {
				p.mounts = append(p.mounts, d)
			}
		}
	}
	return p
}

// pickRecords adds the records to remove to p and returns those kept:
// orphans go; with All or older than Until every record goes; KeepStorage
// then drops the least recently used records that cost blob bytes.
func (inv *inventory) pickRecords(opts PruneOptions, tagged map[v1.Hash]bool, old func(time.Time) bool, p *gcPlan) []*recordInfo {
	var live []*recordInfo
	for _, r := range inv.records {
		switch {
		case r.orphan(inv):
			p.records = append(p.records, r)
		case (opts.All || opts.Until > 0) && old(r.mtime):
			p.records = append(p.records, r)
		default:
			live = append(live, r)
		}
	}
	if opts.KeepStorage <= 0 {
		return live
	}
	sort.SliceStable(live, func(i, j int) bool { return live[i].mtime.After(live[j].mtime) })
	var kept []*recordInfo
	counted := map[v1.Hash]bool{}
	var total int64
	full := false
	for _, r := range live {
		var cost int64
		if r.layer != nil && !tagged[r.layer.digest] && !counted[r.layer.digest] {
			cost = inv.blobs[r.layer.digest].size
		}
		if cost > 0 && (full || total+cost > opts.KeepStorage) {
			full = true
			p.records = append(p.records, r)
			continue
		}
		if r.layer != nil {
			counted[r.layer.digest] = true
		}
		total += cost
		kept = append(kept, r)
	}
	return kept
}

// dirLocked reports whether a build holds a flock on dir (a cache mount
// with sharing=locked or private).
func dirLocked(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	return unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB) != nil
}

func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// removeTree removes dir, making directories writable first if a plain
// removal is refused (extracted layers keep their read-only modes).
func removeTree(dir string) error {
	if os.RemoveAll(dir) == nil {
		return nil
	}
	filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			os.Chmod(path, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}
