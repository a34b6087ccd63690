package build

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-build/strata/internal/rootfs"
	"github.com/strata-build/strata/internal/store"
)

// pathByPath hides a Source's WalkTree: contentKey then reads it path by
// path, the reference the walked key must equal.
type pathByPath struct{ rootfs.Source }

// writeTree makes a context: "name=content" files, "dir/" directories,
// "name->target" symlinks, "name|" a FIFO.
func writeTree(t *testing.T, dir string, entries ...string) string {
	t.Helper()
	for _, e := range entries {
		var err error
		switch {
		case strings.HasSuffix(e, "/"):
			err = os.MkdirAll(filepath.Join(dir, e), 0o755)
		case strings.HasSuffix(e, "|"):
			p := filepath.Join(dir, strings.TrimSuffix(e, "|"))
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				err = syscall.Mkfifo(p, 0o644)
			}
		case strings.Contains(e, "->"):
			name, target, _ := strings.Cut(e, "->")
			p := filepath.Join(dir, name)
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				err = os.Symlink(target, p)
			}
		default:
			name, body, _ := strings.Cut(e, "=")
			p := filepath.Join(dir, name)
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				err = os.WriteFile(p, []byte(body), 0o644)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var keyTree = []string{
	"a.txt=a", "a.log=l", "dir/keep.txt=k", "dir/drop.log=d", "dir/sub/keep.txt=k",
	"dir/sub/x.go=x", "empty/", "logs/x.log=x", "logs/sub/y.log=y", "src/main.go=m",
	"src/pkg/util.go=u", "src/pkg/README.md=r", "src/doc/README.md=r", "node_modules/m/index.js=i",
	"links/rel->../a.txt", "links/abs->/src/main.go", "links/dangling->nowhere", "links/dir->../src",
	"fifo|", "deep/a/b/c/d/e/f.txt=f", "same/1=x", "same/2=x",
}

// TestContentKeyWalkedEqualsPathByPath: the build context's key, walked
// as a tree in parallel with the stat cache cold, warm and reloaded, is
// the key read path by path, for every .dockerignore and COPY source.
func TestContentKeyWalkedEqualsPathByPath(t *testing.T) {
	ctx := context.Background()
	dir := writeTree(t, t.TempDir(), keyTree...)
	if err := os.Chmod(filepath.Join(dir, "src/main.go"), 0o4755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "empty"), os.ModeSticky|0o1777); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ignores := []string{"", "*.log", "**/*.log", "logs", "logs/**", "dir\n!dir/missing", "dir\n!dir/sub/keep.txt",
		"src\n!src/*/README.md", "**\n!**/*.go", "*\n!src", "dir/sub\n!dir", "links", "*\n!src/pkg/util.go"}
	sources := [][]string{{"."}, {"src"}, {"dir/sub", "a.txt"}, {"*.txt", "src/*"}, {"links/dir"}, {"links"}, {"missing"}, {"deep/a/../a/b"}}
	for _, ig := range ignores {
		var patterns []string
		if ig != "" {
			patterns = strings.Split(ig, "\n")
		}
		for _, srcs := range sources {
			want, err := contentKey(ctx, pathByPath{rootfs.NewDir(dir, patterns)}, srcs, nil)
			if err != nil {
				t.Fatal(err)
			}
			sc := newStatCache()
			sc.racy = -time.Hour // remember everything, however recent
			for _, pass := range []string{"cold", "warm", "reloaded"} {
				got, err := contentKey(ctx, rootfs.NewDir(dir, patterns), srcs, sc)
				if err != nil || got != want {
					t.Errorf("contentKey(%q, ignore %q) %s = %s, %v; path by path %s", srcs, ig, pass, got, err, want)
				}
				if err := sc.save(ctx, st); err != nil {
					t.Fatal(err)
				}
				sc = loadStatCache(ctx, st)
				sc.racy = -time.Hour
			}
		}
	}
}

// TestContentKeyChanges: after a no-op walk (the same key, the stat cache
// not written), every change COPY would see changes the key of the
// context, with the stat cache warm (files and listings remembered), and
// the new key is what a cold cache gives; mtimes alone do not count.
func TestContentKeyChanges(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		change func(dir string) error
		same   bool // the key must not change
	}{
		{"same size, same mtime, new content (only ctime tells)", func(dir string) error {
			return rewriteKeepingMtime(filepath.Join(dir, "src/main.go"), "M")
		}, false},
		{"same size, same mtime, in a subdirectory", func(dir string) error {
			return rewriteKeepingMtime(filepath.Join(dir, "deep/a/b/c/d/e/f.txt"), "g")
		}, false},
		{"rename", func(dir string) error { return os.Rename(filepath.Join(dir, "a.txt"), filepath.Join(dir, "b.txt")) }, false},
		{"rename in a subdirectory", func(dir string) error {
			return os.Rename(filepath.Join(dir, "dir/sub/x.go"), filepath.Join(dir, "dir/sub/y.go"))
		}, false},
		{"swap two files of the same size", func(dir string) error {
			if err := os.Rename(filepath.Join(dir, "src/main.go"), filepath.Join(dir, "tmp")); err != nil {
				return err
			}
			if err := os.Rename(filepath.Join(dir, "src/pkg/util.go"), filepath.Join(dir, "src/main.go")); err != nil {
				return err
			}
			return os.Rename(filepath.Join(dir, "tmp"), filepath.Join(dir, "src/pkg/util.go"))
		}, false},
		{"mode", func(dir string) error { return os.Chmod(filepath.Join(dir, "a.txt"), 0o600) }, false},
		{"owner", func(dir string) error { return os.Lchown(filepath.Join(dir, "a.txt"), 1000, 1000) }, false},
		{"new empty directory", func(dir string) error { return os.Mkdir(filepath.Join(dir, "dir/sub/new"), 0o755) }, false},
		{"new empty file", func(dir string) error { return os.WriteFile(filepath.Join(dir, "empty/new"), nil, 0o644) }, false},
		{"removed file", func(dir string) error { return os.Remove(filepath.Join(dir, "same/2")) }, false},
		{"symlink target, same length", func(dir string) error {
			p := filepath.Join(dir, "links/rel")
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Symlink("../a.log", p)
		}, false},
		{"file replaced by a directory", func(dir string) error {
			p := filepath.Join(dir, "same/1")
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Mkdir(p, 0o755)
		}, false},
		{"hard link replaces a file with another's content", func(dir string) error {
			p := filepath.Join(dir, "dir/keep.txt")
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Link(filepath.Join(dir, "dir/drop.log"), p)
		}, false},
		{"content of another size", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "src/pkg/util.go"), []byte("longer"), 0o644)
		}, false},
		{"mtime and content, same size", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "a.txt"), []byte("b"), 0o644)
		}, false},
		{"new file in a subdirectory", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "deep/a/b/new.txt"), []byte("n"), 0o644)
		}, false},
		{"file replaced by a symlink", func(dir string) error {
			p := filepath.Join(dir, "src/main.go")
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Symlink("pkg/util.go", p)
		}, false},
		{"renamed directory", func(dir string) error {
			return os.Rename(filepath.Join(dir, "src/pkg"), filepath.Join(dir, "src/lib"))
		}, false},
		{"removed directory", func(dir string) error { return os.RemoveAll(filepath.Join(dir, "deep/a/b/c")) }, false},
		{"directory mode", func(dir string) error { return os.Chmod(filepath.Join(dir, "dir/sub"), 0o700) }, false},
		{"mtime alone", func(dir string) error {
			return os.Chtimes(filepath.Join(dir, "a.txt"), time.Now(), time.Unix(1e9, 0))
		}, true},
		{"directory mtime alone", func(dir string) error {
			return os.Chtimes(filepath.Join(dir, "src"), time.Now(), time.Unix(1e9, 0))
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t, t.TempDir(), keyTree...)
			st, err := store.Open(ctx, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			src := rootfs.NewDir(dir, nil)
			sc := newStatCache()
			sc.racy = 0
			tick()
			before, err := contentKey(ctx, src, []string{"."}, sc)
			if err != nil {
				t.Fatal(err)
			}
			if err := sc.save(ctx, st); err != nil {
				t.Fatal(err)
			}
			if n := len(sc.record(dir).listed); n == 0 {
				t.Fatalf("the stat cache remembers no listing of the context")
			}
			sc = loadStatCache(ctx, st) // a no-op: the same key, nothing learnt
			sc.racy = 0
			if noop, err := contentKey(ctx, src, []string{"."}, sc); err != nil || noop != before {
				t.Fatalf("key of the unchanged context = %s, %v, want %s", noop, err, before)
			}
			if sc.dirty {
				t.Fatalf("the stat cache changed in a walk of the unchanged context")
			}
			tick()
			if err := tt.change(dir); err != nil {
				t.Fatal(err)
			}
			sc = loadStatCache(ctx, st)
			sc.racy = 0
			after, err := contentKey(ctx, src, []string{"."}, sc)
			if err != nil {
				t.Fatal(err)
			}
			cold, err := contentKey(ctx, src, []string{"."}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if after != cold {
				t.Errorf("key with the stat cache warm = %s, cold = %s", after, cold)
			}
			if changed := after != before; changed == tt.same {
				t.Errorf("key changed = %v, want %v", changed, !tt.same)
			}
		})
	}
}

// tick waits for the kernel's file timestamps (a coarse clock) to move
// on, so a change made after it has other times than a stat before it.
func tick() { time.Sleep(20 * time.Millisecond) }

// rewriteKeepingMtime writes body (the same size) over p and puts its
// mtime back.
func rewriteKeepingMtime(p, body string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		return err
	}
	return os.Chtimes(p, fi.ModTime(), fi.ModTime())
}

// TestStatCacheRacy: a file or directory that changed within racyMargin
// of the walk is not remembered (it could change again within the same
// timestamp tick), older ones are.
func TestStatCacheRacy(t *testing.T) {
	ctx := context.Background()
	dir := writeTree(t, t.TempDir(), "old/a=a", "new/b=b")
	sc := newStatCache()
	sc.racy = time.Hour
	if _, err := contentKey(ctx, rootfs.NewDir(dir, nil), []string{"."}, sc); err != nil {
		t.Fatal(err)
	}
	if len(sc.dirs) != 0 {
		t.Errorf("stat cache after a walk of files changed within the margin has %d records, want none", len(sc.dirs))
	}
	sc.racy = -time.Hour
	if _, err := contentKey(ctx, rootfs.NewDir(dir, nil), []string{"."}, sc); err != nil {
		t.Fatal(err)
	}
	if r := sc.record(filepath.Join(dir, "old")); r == nil || len(r.names) != 1 || r.listed == nil {
		t.Errorf("record of old/ = %+v, want its file and listing", r)
	}
}

// TestStatCacheDamaged: a damaged or foreign stat cache is ignored.
func TestStatCacheDamaged(t *testing.T) {
	dir := writeTree(t, t.TempDir(), "a=a", "d/b=b")
	st, sc, want := keyedStatCache(t, dir)
	good := encodeStatCache(sc.dirs)
	if dirs, err := decodeStatCache(good); err != nil || len(dirs) != 2 {
		t.Fatalf("decodeStatCache(encodeStatCache()) = %d records, %v, want 2", len(dirs), err)
	}
	eachDamaged(t, st, statCacheName, good, len(statCacheMagic), 7, dir, want, func(sc *statCache, i int) {
		if len(sc.dirs) != 0 {
			t.Fatalf("stat cache with byte %d flipped: %d records, want none", i, len(sc.dirs))
		}
	})
}

// eachDamaged stores good, a meta file of the stat cache, as name with
// one byte flipped, every step bytes from from on; each time check sees
// the stat cache loaded from it, and the key of dir is still want.
func eachDamaged(t *testing.T, st *store.Store, name string, good []byte, from, step int, dir, want string, check func(sc *statCache, i int)) {
	t.Helper()
	ctx := context.Background()
	for i := from; i < len(good); i += step {
		bad := []byte(string(good))
		bad[i] ^= 0x40
		if err := st.PutMeta(ctx, name, bad); err != nil {
			t.Fatal(err)
		}
		sc := loadStatCache(ctx, st)
		sc.loaded()
		check(sc, i)
		if got, err := contentKey(ctx, rootfs.NewDir(dir, nil), []string{"."}, sc); err != nil || got != want {
			t.Fatalf("contentKey with byte %d of %s flipped = %s, %v, want %s", i, name, got, err, want)
		}
	}
}

// TestStatCacheStaleListing: a remembered listing that names an entry
// gone (a filesystem that broke its promise) is read again.
func TestStatCacheStaleListing(t *testing.T) {
	ctx := context.Background()
	dir := writeTree(t, t.TempDir(), "a=a", "d/b=b")
	want, err := contentKey(ctx, rootfs.NewDir(dir, nil), []string{"."}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := newStatCache()
	sc.racy = -time.Hour
	if _, err := contentKey(ctx, rootfs.NewDir(dir, nil), []string{"."}, sc); err != nil {
		t.Fatal(err)
	}
	r := sc.record(dir)
	stale := &dirStats{names: r.names, stats: r.stats, listStat: r.listStat, listed: []string{"a", "d", "gone"}}
	sc.replace(dir, stale)
	if got, err := contentKey(ctx, rootfs.NewDir(dir, nil), []string{"."}, sc); err != nil || got != want {
		t.Errorf("contentKey with a stale listing = %s, %v, want %s", got, err, want)
	}
}

// TestStatCacheKeepsWhatStays: an edit within the racy margin, or a walk
// that a .dockerignore narrows, changes no record (the cache is not
// written again), and the keys are right.
func TestStatCacheKeepsWhatStays(t *testing.T) {
	ctx := context.Background()
	dir := writeTree(t, t.TempDir(), keyTree...)
	sc := newStatCache()
	sc.racy = -time.Hour
	if _, err := contentKey(ctx, rootfs.NewDir(dir, nil), []string{"."}, sc); err != nil {
		t.Fatal(err)
	}
	sc.dirty = false
	for _, tt := range []struct {
		name   string
		ignore []string
		change func() error
	}{
		{"a .dockerignore leaves files out", []string{"*.log", "dir/sub"}, func() error { return nil }},
		{"a file edited just now", nil, func() error {
			return os.WriteFile(filepath.Join(dir, "src/main.go"), []byte("edited"), 0o644)
		}},
	} {
		if err := tt.change(); err != nil {
			t.Fatal(err)
		}
		sc.racy = time.Hour // everything changed just now
		got, err := contentKey(ctx, rootfs.NewDir(dir, tt.ignore), []string{"."}, sc)
		if err != nil {
			t.Fatal(err)
		}
		want, err := contentKey(ctx, rootfs.NewDir(dir, tt.ignore), []string{"."}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: key = %s, with no cache %s", tt.name, got, want)
		}
		if sc.dirty {
			t.Errorf("%s: the stat cache changed", tt.name)
		}
	}
	if r := sc.record(dir); r == nil || !slices.Contains(r.names, "a.log") {
		t.Errorf("record of the context after a walk ignoring *.log = %+v, want a.log still in it", r)
	}
}
