package build

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-build/strata/internal/rootfs"
	"github.com/strata-build/strata/internal/store"
)

// warmStore returns a store whose stat cache, listings and key memo know
// dir, and dir's key.
func warmStore(t *testing.T, dir string) (*store.Store, string) {
	t.Helper()
	st, sc, key := keyedStatCache(t, dir)
	if err := sc.save(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	return st, key
}

// keyedStatCache returns a new store, a stat cache (nothing racy) that
// has made dir's key, not saved, and the key.
func keyedStatCache(t *testing.T, dir string) (*store.Store, *statCache, string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sc := newStatCache()
	sc.racy = -time.Hour
	key, err := contentKey(ctx, rootfs.NewDir(dir, nil), []string{"."}, sc)
	if err != nil {
		t.Fatal(err)
	}
	return st, sc, key
}

// TestStatListNoopReadsListingsOnly: a no-op walk of a context its key
// memo knows reads the listings' file, never the whole cache; a walk
// after an edit reads the whole cache, and both keys are right.
func TestStatListNoopReadsListingsOnly(t *testing.T) {
	ctx := context.Background()
	dir := writeTree(t, t.TempDir(), keyTree...)
	st, want := warmStore(t, dir)
	marker := map[string]*dirStats{"/marker": {names: []string{"m"}, stats: make([]byte, fileStatSize)}}
	if err := st.PutMeta(ctx, statCacheName, encodeStatCache(marker)); err != nil {
		t.Fatal(err)
	}
	sc := loadStatCache(ctx, st)
	sc.racy = -time.Hour
	if got, err := contentKey(ctx, rootfs.NewDir(dir, nil), []string{"."}, sc); err != nil || got != want {
		t.Fatalf("contentKey() of the unchanged context = %s, %v, want %s", got, err, want)
	}
	if sc.lists == nil {
		t.Fatalf("no listings read")
	}
	if _, read := sc.dirs["/marker"]; read {
		t.Errorf("a no-op walk read the whole stat cache")
	}

	tick()
	if err := rewriteKeepingMtime(filepath.Join(dir, "src/main.go"), "M"); err != nil {
		t.Fatal(err)
	}
	changed, err := contentKey(ctx, rootfs.NewDir(dir, nil), []string{"."}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := contentKey(ctx, rootfs.NewDir(dir, nil), []string{"."}, sc); err != nil || got != changed {
		t.Errorf("contentKey() after an edit = %s, %v, want %s", got, err, changed)
	}
	if _, read := sc.dirs["/marker"]; !read {
		t.Errorf("a walk after an edit did not read the whole stat cache")
	}
}

// TestStatListDamaged: a damaged or foreign listings' file is ignored
// (the whole cache's listings serve) and written again by the next save.
func TestStatListDamaged(t *testing.T) {
	ctx := context.Background()
	dir := writeTree(t, t.TempDir(), "a=a", "d/b=b", "d/e/")
	st, want := warmStore(t, dir)
	good, err := st.Meta(ctx, statListName)
	if err != nil {
		t.Fatal(err)
	}
	if lists, err := decodeStatList(good); err != nil || len(lists) != 3 {
		t.Fatalf("decodeStatList() = %d listings, %v, want 3", len(lists), err)
	}
	eachDamaged(t, st, statListName, good, len(statListMagic), 5, dir, want, func(sc *statCache, i int) {
		if sc.lists != nil || len(sc.dirs) == 0 {
			t.Fatalf("listings with byte %d flipped: %d read, %d records, want none and the cache's", i, len(sc.lists), len(sc.dirs))
		}
	})
	sc := loadStatCache(ctx, st)
	if err := sc.save(ctx, st); err != nil {
		t.Fatal(err)
	}
	if b, err := st.Meta(ctx, statListName); err != nil || string(b) != string(good) {
		t.Errorf("listings after a save = %d bytes, %v, want them written again (%d bytes)", len(b), err, len(good))
	}
}
