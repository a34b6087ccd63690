package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/strata-build/strata/internal/testenv"
)

// gcStore is a store holding, as the builder and `strata pull` leave it:
// busybox and app:v1 tagged (layers extracted), an untagged stage image
// (layers extracted), a cache record whose layer only the cache keeps (its
// layer extracted), an orphan and an unreadable record, and a cache mount.
type gcStore struct {
	s                   *Store
	busybox, app, stage v1.Hash
	cached              v1.Layer
	cachedKey           v1.Hash
	mount               string
}

func newGCStore(t *testing.T) *gcStore {
	t.Helper()
	ctx := context.Background()
	g := &gcStore{s: openTest(t, t.TempDir())}
	g.busybox = writeTagged(t, g.s, testenv.BusyboxImage(t), "busybox:latest")
	g.app = writeTagged(t, g.s, randomImage(t, 2, 1000), "app:v1")
	stage := randomImage(t, 2, 1000)
	g.stage = mustWrite(t, g.s, stage)
	for _, h := range []v1.Hash{g.busybox, g.app, g.stage} {
		extractAll(t, g.s, h)
	}
	g.cached = randomLayer(t, 2000)
	g.cachedKey = putRecord(t, g.s, "cached", g.cached, time.Now())
	if _, err := g.s.LayerDir(ctx, g.cached); err != nil {
		t.Fatal(err)
	}
	missing := randomLayer(t, 100) // never stored
	putRecord(t, g.s, "orphan", missing, time.Now())
	if err := g.s.PutCacheRecord(ctx, key("bad"), []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	g.mount = filepath.Join(g.s.Root(), "cache-mounts", "0123456789abcdef")
	if err := os.MkdirAll(filepath.Join(g.mount, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(g.mount, "data", "f"), make([]byte, 5000), 0o644); err != nil {
		t.Fatal(err)
	}
	return g
}

func writeTagged(t *testing.T, s *Store, img v1.Image, ref string) v1.Hash {
	t.Helper()
	h := mustWrite(t, s, img)
	if err := s.Tag(context.Background(), ref, h); err != nil {
		t.Fatal(err)
	}
	return h
}

func mustWrite(t testing.TB, s *Store, img v1.Image) v1.Hash {
	t.Helper()
	h, err := s.WriteImage(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func extractAll(t *testing.T, s *Store, h v1.Hash) {
	t.Helper()
	img, err := s.Image(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if _, err := s.LayerDir(context.Background(), l); err != nil {
			t.Fatal(err)
		}
	}
}

func key(name string) v1.Hash {
	h, _, _ := v1.SHA256(strings.NewReader(name))
	return h
}

// putRecord stores l's blob and a cache record for it, as internal/build
// writes them, last used at used; l nil makes a record without a layer.
func putRecord(t testing.TB, s *Store, name string, l v1.Layer, used time.Time) v1.Hash {
	t.Helper()
	ctx := context.Background()
	rec := map[string]any{"created_by": "RUN " + name}
	if l != nil {
		d, _ := l.Digest()
		diffID, _ := l.DiffID()
		size, _ := l.Size()
		rec["layer"] = map[string]any{"digest": d.String(), "diff_id": diffID.String(), "size": size}
		if name != "orphan" {
			err := s.PutBlob(ctx, d, func(w io.Writer) error {
				rc, err := l.Compressed()
				if err != nil {
					return err
				}
				defer rc.Close()
				_, err = io.Copy(w, rc)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	b, _ := json.Marshal(rec)
	k := key(name)
	if err := s.PutCacheRecord(ctx, k, b); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(s.cachePath(k), used, used); err != nil {
		t.Fatal(err)
	}
	return k
}

// checkImage fails unless image h is whole: valid, and its layers extracted
// when extracted is set.
func checkImage(t *testing.T, s *Store, h v1.Hash, extracted bool) {
	t.Helper()
	img, err := s.Image(context.Background(), h)
	if err != nil {
		t.Fatalf("Image(%s) = %v", h, err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("validate.Image(%s) = %v", h, err)
	}
	if !extracted {
		return
	}
	ls, _ := img.Layers()
	for _, l := range ls {
		d, _ := l.DiffID()
		if !exists(s.layerPath(d)) {
			t.Errorf("layer dir of %s (image %s) was removed", d, h)
		}
	}
}

// imageBlobs lists manifest, config and layer digests of image h.
func imageBlobs(t *testing.T, s *Store, h v1.Hash) []v1.Hash {
	t.Helper()
	img, err := s.Image(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	out := []v1.Hash{h, m.Config.Digest}
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	return out
}

func kinds(rep *PruneReport) map[string]int {
	out := map[string]int{}
	for _, r := range rep.Removed {
		out[r.Kind]++
	}
	return out
}

func TestPruneDefault(t *testing.T) {
	ctx := context.Background()
	g := newGCStore(t)
	stageBlobs := imageBlobs(t, g.s, g.stage)
	stageImg, _ := g.s.Image(ctx, g.stage)
	stageLayers, _ := stageImg.Layers()
	u, err := g.s.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := g.s.Prune(ctx, PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, g.s, g.busybox, true)
	checkImage(t, g.s, g.app, true)
	for _, h := range stageBlobs {
		if g.s.HasBlob(ctx, h) {
			t.Errorf("blob %s of the untagged image survived", h)
		}
	}
	for _, l := range stageLayers {
		d, _ := l.DiffID()
		if exists(g.s.layerPath(d)) {
			t.Errorf("layer dir %s of the untagged image survived", d)
		}
	}
	d, _ := g.cached.Digest()
	diffID, _ := g.cached.DiffID()
	if !g.s.HasBlob(ctx, d) || !exists(g.s.layerPath(diffID)) {
		t.Errorf("cached layer (blob %v, dir %v) was removed", g.s.HasBlob(ctx, d), exists(g.s.layerPath(diffID)))
	}
	if keys, _ := g.s.CacheKeys(ctx); len(keys) != 1 || keys[0] != g.cachedKey {
		t.Errorf("CacheKeys() after prune = %v, want [%s]", keys, g.cachedKey)
	}
	if !exists(g.mount) {
		t.Error("cache mount removed without All")
	}
	want := map[string]int{KindImage: 1, KindBlob: 3, KindCacheRecord: 2, KindLayerDir: 2}
	if got := kinds(rep); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Prune() removed %v, want %v", got, want)
	}
	if rep.Reclaimed != u.Reclaimable {
		t.Errorf("Prune().Reclaimed = %d, Usage().Reclaimable before = %d", rep.Reclaimed, u.Reclaimable)
	}
	again, err := g.s.Prune(ctx, PruneOptions{})
	if err != nil || len(again.Removed) != 0 || again.Reclaimed != 0 {
		t.Errorf("second Prune() = %+v, %v, want nothing removed", again, err)
	}
}

func TestPruneAll(t *testing.T) {
	ctx := context.Background()
	g := newGCStore(t)
	u, err := g.s.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := g.s.Prune(ctx, PruneOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, g.s, g.busybox, true)
	checkImage(t, g.s, g.app, true)
	d, _ := g.cached.Digest()
	diffID, _ := g.cached.DiffID()
	if g.s.HasBlob(ctx, d) || exists(g.s.layerPath(diffID)) {
		t.Error("cached layer survived Prune(All)")
	}
	if keys, _ := g.s.CacheKeys(ctx); len(keys) != 0 {
		t.Errorf("CacheKeys() after Prune(All) = %v, want none", keys)
	}
	if exists(g.mount) {
		t.Error("cache mount survived Prune(All)")
	}
	if rep.Reclaimed != u.ReclaimableAll {
		t.Errorf("Prune(All).Reclaimed = %d, Usage().ReclaimableAll before = %d", rep.Reclaimed, u.ReclaimableAll)
	}
	// What remains is exactly the tagged images.
	want := map[v1.Hash]bool{}
	for _, h := range append(imageBlobs(t, g.s, g.busybox), imageBlobs(t, g.s, g.app)...) {
		want[h] = true
	}
	if n := countFiles(t, filepath.Join(g.s.Root(), "blobs", "sha256")); n != len(want) {
		t.Errorf("%d blobs after Prune(All), want %d", n, len(want))
	}
}

func TestUsage(t *testing.T) {
	ctx := context.Background()
	g := newGCStore(t)
	u, err := g.s.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var blobBytes int64
	entries, _ := os.ReadDir(filepath.Join(g.s.Root(), "blobs", "sha256"))
	for _, e := range entries {
		fi, _ := e.Info()
		blobBytes += fi.Size()
	}
	cachedSize, _ := g.cached.Size()
	tests := []struct {
		name      string
		got, want any
	}{
		{"Images.Total", u.Images.Total, 3},
		{"Images.Active", u.Images.Active, 2},
		{"Images.Size+BuildCache.Size", u.Images.Size + u.BuildCache.Size, blobBytes},
		{"BuildCache.Total", u.BuildCache.Total, 3},
		{"BuildCache.Active", u.BuildCache.Active, 1},
		{"BuildCache.Size", u.BuildCache.Size, cachedSize},
		{"BuildCache.Reclaimable", u.BuildCache.Reclaimable, cachedSize},
		{"Layers.Total", u.Layers.Total, 6}, // busybox 1, app 2, stage 2, cached 1
		{"Layers.Active", u.Layers.Active, 4},
		{"CacheMounts", fmt.Sprint(u.CacheMounts.Total, u.CacheMounts.Size), "1 5000"},
		{"len(Records)", len(u.Records), 3},
		{"len(Mounts)", len(u.Mounts), 1},
		{"Reclaimable<ReclaimableAll", u.Reclaimable < u.ReclaimableAll, true},
	}
	for _, tt := range tests {
		if fmt.Sprint(tt.got) != fmt.Sprint(tt.want) {
			t.Errorf("Usage().%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if u.Layers.Size <= 0 || u.Layers.Reclaimable <= 0 || u.Layers.Reclaimable >= u.Layers.Size {
		t.Errorf("Usage().Layers = %+v, want 0 < Reclaimable < Size", u.Layers)
	}
}

func TestPruneKeepStorage(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	tests := []struct {
		name string
		keep func(sizes []int64) int64 // sizes of newest, middle, oldest
		want []string                  // records kept
	}{
		{"everything fits", func(sz []int64) int64 { return sz[0] + sz[1] + sz[2] }, []string{"free", "newest", "middle", "oldest"}},
		{"oldest goes", func(sz []int64) int64 { return sz[0] + sz[1] + sz[2] - 1 }, []string{"free", "newest", "middle"}},
		{"two go", func(sz []int64) int64 { return sz[0] + sz[1] - 1 }, []string{"free", "newest"}},
		{"strict LRU: a small old record does not refill", func(sz []int64) int64 { return sz[0] + sz[2] }, []string{"free", "newest"}},
		{"all costly go", func(sz []int64) int64 { return 1 }, []string{"free"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t, t.TempDir())
			app := writeTagged(t, s, randomImage(t, 1, 500), "app:v1")
			img, _ := s.Image(ctx, app)
			ls, _ := img.Layers()
			var sizes []int64
			for i, n := range []string{"newest", "middle", "oldest"} {
				l := randomLayer(t, int64(3000-1000*i))
				putRecord(t, s, n, l, now.Add(-time.Duration(i+1)*time.Hour))
				sz, _ := l.Size()
				sizes = append(sizes, sz)
			}
			// Older than all, but its layer is a tagged image's: it costs nothing.
			putRecord(t, s, "free", ls[0], now.Add(-48*time.Hour))
			if _, err := s.Prune(ctx, PruneOptions{KeepStorage: tt.keep(sizes)}); err != nil {
				t.Fatal(err)
			}
			if got := recordNames(t, s, "free", "newest", "middle", "oldest"); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("records kept = %v, want %v", got, tt.want)
			}
			checkImage(t, s, app, false)
		})
	}
}

// recordNames lists which of names still have a record (and its blob).
func recordNames(t *testing.T, s *Store, names ...string) []string {
	t.Helper()
	var out []string
	for _, n := range names {
		raw, err := s.CacheRecord(context.Background(), key(n))
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		var rec struct{ Layer struct{ Digest string } }
		json.Unmarshal(raw, &rec)
		if h, err := v1.NewHash(rec.Layer.Digest); err == nil && !s.HasBlob(context.Background(), h) {
			t.Errorf("record %s kept but its blob removed", n)
		}
		out = append(out, n)
	}
	return out
}

func TestPruneUntil(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	old := time.Now().Add(-48 * time.Hour)
	putRecord(t, s, "old", randomLayer(t, 1000), old)
	putRecord(t, s, "new", randomLayer(t, 1000), time.Now().Add(-time.Hour))
	putRecord(t, s, "old-no-layer", nil, old)
	stale := mustWrite(t, s, randomImage(t, 2, 500))
	staleBlobs := imageBlobs(t, s, stale)
	// A fresh untagged image whose layers are old blobs (written long ago by
	// another image): it must stay whole.
	freshImg := randomImage(t, 2, 500)
	fresh := mustWrite(t, s, freshImg)
	freshBlobs := imageBlobs(t, s, fresh)
	for _, h := range append(staleBlobs, freshBlobs[1:]...) {
		if err := os.Chtimes(s.blobPath(h), old, old); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Prune(ctx, PruneOptions{Until: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if got := recordNames(t, s, "old", "new", "old-no-layer"); fmt.Sprint(got) != "[new]" {
		t.Errorf("records kept = %v, want [new]", got)
	}
	for _, h := range staleBlobs {
		if s.HasBlob(ctx, h) {
			t.Errorf("blob %s of the old untagged image survived", h)
		}
	}
	checkImage(t, s, fresh, false)
}

// TestPruneOrder checks that every prefix of a prune's deletions (a prune
// killed at any point) leaves each remaining manifest with all its blobs and
// each tagged image whole.
func TestPruneOrder(t *testing.T) {
	ctx := context.Background()
	g := newGCStore(t)
	// An untagged image sharing a layer with a tagged one, and an orphan layer.
	mustWrite(t, g.s, randomImage(t, 3, 300))
	inv, err := g.s.inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := inv.plan(PruneOptions{All: true}, time.Now())
	gone := map[v1.Hash]bool{}
	for i, b := range p.blobs {
		gone[b.digest] = true
		for h, info := range inv.blobs {
			if gone[h] || info.kind == kindOther {
				continue
			}
			for _, ref := range info.refs {
				if gone[ref] {
					t.Fatalf("after %d deletions, manifest %s remains without blob %s", i+1, h, ref)
				}
			}
		}
	}
	for h := range inv.reach(inv.roots) {
		if gone[h] {
			t.Errorf("plan deletes %s, which a tagged image needs", h)
		}
	}
}

func TestBuildLeaseBlocksPrune(t *testing.T) {
	ctx := context.Background()
	g := newGCStore(t)
	release, err := g.s.BuildLease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A second build shares the lease.
	other := openTest(t, g.s.Root())
	release2, err := other.BuildLease(ctx)
	if err != nil {
		t.Fatalf("second BuildLease() = %v", err)
	}
	release2()
	tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	waited := false
	_, err = other.Prune(tctx, PruneOptions{All: true, OnWait: func() { waited = true }})
	if !errors.Is(err, context.DeadlineExceeded) || !waited {
		t.Fatalf("Prune() under a lease = %v (waited %v), want DeadlineExceeded after waiting", err, waited)
	}
	checkImage(t, g.s, g.stage, true) // nothing was swept
	release()
	release() // idempotent
	if _, err := other.Prune(ctx, PruneOptions{All: true}); err != nil {
		t.Fatalf("Prune() after release = %v", err)
	}
}

func TestPruneBlocksBuildLease(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	f, err := s.gcLock(ctx, unix.LOCK_EX, nil) // what Prune holds
	if err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := s.BuildLease(tctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("BuildLease() during prune = %v, want DeadlineExceeded", err)
	}
	f.Close()
	release, err := s.BuildLease(ctx)
	if err != nil {
		t.Fatalf("BuildLease() after prune = %v", err)
	}
	release()
}

// TestPruneConcurrentWrites runs builds (lease, write, tag, sometimes
// untag) against repeated prunes: every tag stays valid, and no stored
// manifest ever lacks a blob.
func TestPruneConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	builder, pruner := openTest(t, root), openTest(t, root)
	var prunes atomic.Int32
	done := make(chan struct{})
	var eg errgroup.Group
	eg.Go(func() error {
		defer close(done)
		for i := range 20 {
			if err := leasedWrite(ctx, builder, randomImage(t, 2, 2000), fmt.Sprintf("app:%d", i), i%3 == 0); err != nil {
				return err
			}
		}
		return nil
	})
	eg.Go(func() error {
		for {
			select {
			case <-done:
				return nil
			default:
			}
			if _, err := pruner.Prune(ctx, PruneOptions{All: true}); err != nil {
				return err
			}
			prunes.Add(1)
		}
	})
	if err := eg.Wait(); err != nil {
		t.Fatal(err)
	}
	tags, err := builder.Tags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 13 {
		t.Errorf("%d tags, want 13", len(tags))
	}
	for _, tg := range tags {
		checkImage(t, builder, tg.Digest, false)
	}
	inv, err := builder.inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for h, b := range inv.blobs {
		for _, ref := range b.refs {
			if _, ok := inv.blobs[ref]; !ok {
				t.Errorf("manifest %s lacks blob %s", h, ref)
			}
		}
	}
	t.Logf("%d prunes ran", prunes.Load())
}

func leasedWrite(ctx context.Context, s *Store, img v1.Image, ref string, untag bool) error {
	release, err := s.BuildLease(ctx)
	if err != nil {
		return err
	}
	defer release()
	h, err := s.WriteImage(ctx, img)
	if err != nil {
		return err
	}
	if err := s.Tag(ctx, ref, h); err != nil {
		return err
	}
	if untag {
		return s.Untag(ctx, ref)
	}
	return nil
}

func TestTouchCacheRecord(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	k := putRecord(t, s, "r", nil, time.Now().Add(-48*time.Hour))
	if err := s.TouchCacheRecord(ctx, k); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prune(ctx, PruneOptions{Until: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if got := recordNames(t, s, "r"); len(got) != 1 {
		t.Error("touched record removed by Prune(Until: 24h)")
	}
	if err := s.TouchCacheRecord(ctx, key("missing")); !errors.Is(err, ErrNotFound) {
		t.Errorf("TouchCacheRecord(missing) = %v, want ErrNotFound", err)
	}
}

func TestPruneRefusesUnreadableTaggedImage(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	h := writeTagged(t, s, randomImage(t, 1, 100), "app:v1")
	stray := mustWrite(t, s, randomImage(t, 1, 100))
	p := s.blobPath(h)
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prune(ctx, PruneOptions{}); err == nil {
		t.Error("Prune() with a corrupt tagged manifest succeeded, want an error")
	}
	if !s.HasBlob(ctx, stray) {
		t.Error("Prune() swept although it could not read the roots")
	}
}
