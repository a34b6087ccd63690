package build

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-build/strata/internal/rootfs"
	"github.com/strata-build/strata/internal/store"
)

// TestKeyMemo: a walk of an unchanged context takes the key from the
// memo its first walk made, without the stat cache's records (none are
// learnt again: the cache stays clean); a context that changed is keyed
// afresh; a context that changed within the racy margin makes no memo.
func TestKeyMemo(t *testing.T) {
	ctx := context.Background()
	dir := writeTree(t, t.TempDir(), keyTree...)
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	src := rootfs.NewDir(dir, nil)
	want, err := contentKey(ctx, src, []string{"."}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := newStatCache()
	sc.racy = time.Hour // everything changed just now
	if got, err := contentKey(ctx, src, []string{"."}, sc); err != nil || got != want {
		t.Fatalf("contentKey() = %s, %v, want %s", got, err, want)
	}
	if len(sc.memos) != 0 {
		t.Fatalf("a walk of files changed within the racy margin made %d memos, want none", len(sc.memos))
	}
	sc.racy = -time.Hour
	if _, err := contentKey(ctx, src, []string{"."}, sc); err != nil {
		t.Fatal(err)
	}
	if len(sc.memos) != 1 {
		t.Fatalf("a walk made %d memos, want 1", len(sc.memos))
	}
	if err := sc.save(ctx, st); err != nil {
		t.Fatal(err)
	}

	sc = loadStatCache(ctx, st)
	sc.loaded()
	sc.racy = -time.Hour
	sc.dirs = map[string]*dirStats{} // the memo alone
	if got, err := contentKey(ctx, src, []string{"."}, sc); err != nil || got != want {
		t.Fatalf("contentKey() from the memo = %s, %v, want %s", got, err, want)
	}
	if sc.dirty || len(sc.dirs) != 0 {
		t.Errorf("a walk of the unchanged context learnt %d records, want none (the memo)", len(sc.dirs))
	}

	tick()
	if err := rewriteKeepingMtime(filepath.Join(dir, "deep/a/b/c/d/e/f.txt"), "g"); err != nil {
		t.Fatal(err)
	}
	changed, err := contentKey(ctx, src, []string{"."}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := contentKey(ctx, src, []string{"."}, sc); err != nil || got != changed || got == want {
		t.Errorf("contentKey() after an edit = %s, %v, want %s (not %s)", got, err, changed, want)
	}
}

// TestKeyMemoDamaged: a damaged or foreign memo is ignored.
func TestKeyMemoDamaged(t *testing.T) {
	dir := writeTree(t, t.TempDir(), "a=a", "d/b=b")
	st, sc, want := keyedStatCache(t, dir)
	good := encodeKeyMemos(sc.memos)
	if memos, err := decodeKeyMemos(good); err != nil || len(memos) != 1 {
		t.Fatalf("decodeKeyMemos(encodeKeyMemos()) = %d memos, %v, want 1", len(memos), err)
	}
	eachDamaged(t, st, keyMemoName, good, len(keyMemoMagic), 3, dir, want, func(sc *statCache, i int) {
		if len(sc.memos) != 0 {
			t.Fatalf("key memo with byte %d flipped: %d memos, want none", i, len(sc.memos))
		}
	})
}

// TestKeyMemoBounded: the memos kept are the latest keyMemoSize made.
func TestKeyMemoBounded(t *testing.T) {
	sc := newStatCache()
	for i := range keyMemoSize + 3 {
		sc.remember([32]byte{byte(i)}, []byte{byte(i)})
	}
	if len(sc.memos) != keyMemoSize {
		t.Fatalf("%d memos kept, want %d", len(sc.memos), keyMemoSize)
	}
	for i := range keyMemoSize + 3 {
		got := sc.memo([32]byte{byte(i)})
		if kept := i >= 3; kept != (got != nil) {
			t.Errorf("memo %d kept = %v, want %v", i, got != nil, kept)
		}
	}
}
