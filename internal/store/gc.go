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
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
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
	// ROOT/lock keeps tags still while the roots are read and blobs swept.
	err = withFileLock(ctx, filepath.Join(s.root, "lock"), func() error {
		inv, err := s.inventory(ctx)
		if err != nil {
			return err
		}
		p = inv.plan(opts, time.Now())
		return s.sweepFiles(ctx, p, rep)
	})
	if err == nil {
		err = s.sweepDirs(ctx, p, rep)
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

// blobKind says what a blob is, as far as GC cares.
type blobKind int

const (
	kindOther blobKind = iota
	kindManifest
	kindIndex
)

func (k blobKind) removedKind() string {
	switch k {
	case kindManifest:
		return KindImage
	case kindIndex:
		return KindIndex
	}
	return KindBlob
}

type blobInfo struct {
	size    int64
	mtime   time.Time
	kind    blobKind
	refs    []v1.Hash // a manifest's config and layers, an index's children
	diffIDs []string  // hex diff IDs of a manifest's layers, from its config
	// attestation marks an attestation manifest (its layers are in-toto
	// statements): not an image of its own.
	attestation bool
}

type recordLayer struct {
	digest v1.Hash
	diffID string // hex
}

type recordInfo struct {
	key       v1.Hash
	mtime     time.Time
	fileSize  int64
	createdBy string
	layer     *recordLayer
	bad       bool // unreadable
}

// orphan reports whether the record is useless: unreadable, or its blob
// is gone (the builder treats both as a miss).
func (r *recordInfo) orphan(inv *inventory) bool {
	if r.bad {
		return true
	}
	if r.layer == nil {
		return false
	}
	_, ok := inv.blobs[r.layer.digest]
	return !ok
}

// dirInfo is an extracted layer directory or a cache mount; size and mtime
// are filled in by measure.
type dirInfo struct {
	name, path string
	mtime      time.Time
	size       int64
	measured   bool
}

// inventory is everything GC looks at, read once.
type inventory struct {
	roots   []v1.Hash // tagged manifests and indexes
	blobs   map[v1.Hash]*blobInfo
	records []*recordInfo
	layers  map[string]*dirInfo // by diff ID hex
	mounts  []*dirInfo
}

func (s *Store) inventory(ctx context.Context) (*inventory, error) {
	inv := &inventory{blobs: map[v1.Hash]*blobInfo{}, layers: map[string]*dirInfo{}}
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	if err := s.readBlobs(ctx, inv); err != nil {
		return nil, err
	}
	for _, d := range idx.Manifests {
		if d.Digest.Algorithm != "sha256" {
			continue
		}
		b, ok := inv.blobs[d.Digest]
		if ok && b.kind == kindOther {
			return nil, fmt.Errorf("reading tagged image %s (%s): not a manifest", d.Digest, d.Annotations[RefAnnotation])
		}
		inv.roots = append(inv.roots, d.Digest)
	}
	if inv.records, err = s.readRecords(ctx); err != nil {
		return nil, err
	}
	if inv.layers, err = listDirs(filepath.Join(s.root, "layers")); err != nil {
		return nil, fmt.Errorf("listing layer dirs: %w", err)
	}
	mounts, err := listDirs(filepath.Join(s.root, "cache-mounts"))
	if err != nil {
		return nil, fmt.Errorf("listing cache mounts: %w", err)
	}
	for _, d := range mounts {
		inv.mounts = append(inv.mounts, d)
	}
	sort.Slice(inv.mounts, func(i, j int) bool { return inv.mounts[i].name < inv.mounts[j].name })
	return inv, nil
}

// readBlobs lists every blob with its size and time, and parses manifests
// and indexes (and a manifest's config, for its diff IDs).
func (s *Store) readBlobs(ctx context.Context, inv *inventory) error {
	dir := filepath.Join(s.root, "blobs", "sha256")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("listing blobs: %w", err)
	}
	for _, e := range entries {
		h, err := v1.NewHash("sha256:" + e.Name())
		if err != nil {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		inv.blobs[h] = &blobInfo{size: fi.Size(), mtime: fi.ModTime()}
	}
	for h, b := range inv.blobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.parseBlob(h, b); err != nil {
			return err
		}
	}
	return nil
}

// parseBlob fills in kind, refs and diff IDs of a manifest or index.
func (s *Store) parseBlob(h v1.Hash, b *blobInfo) error {
	if b.size > maxManifestSize || b.size < 2 {
		return nil
	}
	raw, err := readJSONBlob(s.blobPath(h))
	if err != nil {
		return fmt.Errorf("reading blob %s: %w", h, err)
	}
	if raw == nil {
		return nil
	}
	var m struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     types.MediaType `json:"mediaType"`
		Config        *v1.Descriptor  `json:"config"`
		Layers        []v1.Descriptor `json:"layers"`
		Manifests     []v1.Descriptor `json:"manifests"`
	}
	if json.Unmarshal(raw, &m) != nil || m.SchemaVersion != 2 {
		return nil // a config or some other JSON blob
	}
	switch {
	case m.MediaType.IsIndex() || m.MediaType == "" && m.Manifests != nil && m.Config == nil:
		b.kind = kindIndex
		for _, d := range m.Manifests {
			b.refs = append(b.refs, d.Digest)
		}
	case m.MediaType.IsImage() || m.MediaType == "" && m.Config != nil && m.Config.Digest.Hex != "":
		b.kind = kindManifest
		if m.Config != nil {
			b.refs = append(b.refs, m.Config.Digest)
			b.diffIDs = s.diffIDs(m.Config.Digest)
		}
		for _, d := range m.Layers {
			b.refs = append(b.refs, d.Digest)
			b.attestation = b.attestation || d.MediaType == inTotoMediaType
		}
	}
	return nil
}

// inTotoMediaType is the media type of an attestation manifest's layers.
const inTotoMediaType = "application/vnd.in-toto+json"

// readJSONBlob reads the blob at path if it starts like a JSON object (a
// layer is not read past its first bytes); nil if not, or if it is gone.
func readJSONBlob(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, 64)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, err
	}
	if t := bytes.TrimLeft(head[:n], " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, nil
	}
	rest, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	return append(head[:n], rest...), nil
}

// diffIDs reads the layer diff IDs (hex) a config lists; none if it is
// missing or unreadable.
func (s *Store) diffIDs(cfg v1.Hash) []string {
	raw, err := s.readBlob(cfg)
	if err != nil {
		return nil
	}
	var c struct {
		RootFS struct {
			DiffIDs []v1.Hash `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return nil
	}
	var out []string
	for _, d := range c.RootFS.DiffIDs {
		out = append(out, d.Hex)
	}
	return out
}

// readRecords reads every build-cache record, as internal/build writes them.
func (s *Store) readRecords(ctx context.Context) ([]*recordInfo, error) {
	keys, err := s.CacheKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []*recordInfo
	for _, k := range keys {
		fi, err := os.Stat(s.cachePath(k))
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(s.cachePath(k))
		if err != nil {
			continue
		}
		out = append(out, parseRecord(k, fi, raw))
	}
	return out, nil
}

func parseRecord(k v1.Hash, fi fs.FileInfo, raw []byte) *recordInfo {
	r := &recordInfo{key: k, mtime: fi.ModTime(), fileSize: fi.Size()}
	var rec struct {
		Layer *struct {
			Digest string `json:"digest"`
			DiffID string `json:"diff_id"`
		} `json:"layer"`
		CreatedBy string `json:"created_by"`
	}
	if json.Unmarshal(raw, &rec) != nil {
		r.bad = true
		return r
	}
	r.createdBy = rec.CreatedBy
	if rec.Layer != nil {
		d, err := v1.NewHash(rec.Layer.Digest)
		if err != nil {
			r.bad = true
			return r
		}
		r.layer = &recordLayer{digest: d, diffID: strings.TrimPrefix(rec.Layer.DiffID, "sha256:")}
	}
	return r
}

// listDirs lists the directories (and stray files) directly under dir.
func listDirs(dir string) (map[string]*dirInfo, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]*dirInfo{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]*dirInfo{}
	for _, e := range entries {
		out[e.Name()] = &dirInfo{name: e.Name(), path: filepath.Join(dir, e.Name())}
	}
	return out, nil
}

// measure sums the apparent size of d's regular files and symlinks (each
// hard-linked inode once) and finds its newest modification time.
func (d *dirInfo) measure() error {
	if d.measured {
		return nil
	}
	seen := map[[2]uint64]bool{}
	err := filepath.WalkDir(d.path, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
				return nil
			}
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return nil
		}
		if fi.ModTime().After(d.mtime) {
			d.mtime = fi.ModTime()
		}
		if !fi.Mode().IsRegular() && fi.Mode()&fs.ModeSymlink == 0 {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			id := [2]uint64{uint64(st.Dev), st.Ino}
			if seen[id] {
				return nil
			}
			seen[id] = true
		}
		d.size += fi.Size()
		return nil
	})
	if err != nil {
		return fmt.Errorf("measuring %s: %w", d.path, err)
	}
	d.measured = true
	return nil
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
