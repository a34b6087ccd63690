// Package store is strata's local content-addressed image store: blobs in an
// OCI image layout, tags, base layers extracted once per diff ID and shared
// read-only, and locking so that several strata processes can use one root.
// Every write goes to a temporary file and is renamed into place, so a killed
// process never leaves a partial blob visible.
//
// On disk, ROOT is an OCI image layout that `skopeo inspect oci:ROOT:REF`
// reads (as root: the store is root's alone):
//
//	ROOT/                       0700, and so is every directory below
//	ROOT/oci-layout             {"imageLayoutVersion":"1.0.0"}, 0600
//	ROOT/index.json             one manifest descriptor per tag, annotated
//	                            org.opencontainers.image.ref.name=<full ref>;
//	                            0600
//	ROOT/blobs/sha256/<hex>     manifests, configs and layers (compressed),
//	                            0400
//	ROOT/layers/<hex>           layer with diff ID sha256:<hex> extracted in
//	                            overlay format (read-only by convention); the
//	                            modes inside are the image's (setuid files,
//	                            device nodes), which is why no other user
//	                            may pass ROOT
//	ROOT/locks/<hex>            flock files serialising one layer's extraction
//	ROOT/lock, ROOT/gc.lock     flocks for index.json rewrites and GC (0600)
//	ROOT/cache/<hex>            build-cache records (see cache.go), 0600
//	ROOT/meta/<name>            the build's small metadata files, 0600
//	ROOT/cache-mounts/<hex>/    RUN --mount=type=cache dirs; data/ inside
//	                            has the mount's mode and owner
//	ROOT/tmp/<id>.lock, <id>/   one scratch directory per open Store, its lock
//	                            file flocked for the Store's lifetime
//	ROOT/unsynced/<boot>.<id>   a Store that wrote layer directories without
//	                            fsync, in that boot (unsynced.go)
//
// Open makes ROOT and its top-level directories 0700 when a store made by
// an older strata has them 0755; with ROOT closed, the files below need no
// rewalk. Nothing in the store needs another uid to pass: both sandboxes
// mount layers and cache mounts as root.
//
// Images written with WriteImage but never tagged are kept as blobs only;
// index.json holds tags: the roots GC keeps (see gc.go).
//
// A Store is safe for concurrent use by goroutines and by processes.
package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/sys/unix"
)

// ErrNotFound is returned when a tag or blob is not in the store.
var ErrNotFound = errors.New("not found")

// ErrAmbiguous is returned by Resolve when a digest prefix matches several
// images.
var ErrAmbiguous = errors.New("ambiguous digest prefix")

// staleAge is how old an unlocked leftover in ROOT/tmp must be before Open
// removes it (a directory without a lock file is only ever a crash leftover;
// the age keeps a process that is creating its scratch directory safe).
const staleAge = 10 * time.Minute

// Store is a store rooted at a directory.
type Store struct {
	root string
	tmp  string   // this Store's scratch directory, ROOT/tmp/<id>
	lock *os.File // flocked for the Store's lifetime; marks tmp as live

	extracting singleflight.Group
	closeOnce  sync.Once

	// bootID and syncAfter: see unsynced.go; markOnce makes the marker.
	bootID    string
	syncAfter time.Duration
	markOnce  sync.Once
	markErr   error
}

// Open opens (creating if needed) the store at root, removes scratch
// directories left by processes that died, and settles the layers they
// may have left unsynced (unsynced.go).
func Open(ctx context.Context, root string) (*Store, error) {
	return open(ctx, root, readBootID(), syncAfter)
}

// open is Open in a given boot; tests restart the machine by changing it.
func open(ctx context.Context, root, bootID string, syncAge time.Duration) (*Store, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", root, err)
	}
	if err := initLayout(root); err != nil {
		return nil, fmt.Errorf("opening store %s: %w", root, err)
	}
	if err := removeLeftovers(filepath.Join(root, "tmp")); err != nil {
		return nil, fmt.Errorf("opening store %s: %w", root, err)
	}
	// The JSON stat cache of strata before the binary one (meta/statcache):
	// no longer read, and 18 MB for a 100,000-file context.
	_ = os.Remove(filepath.Join(root, "meta", "statcache.json"))
	s := &Store{root: root, bootID: bootID, syncAfter: syncAge}
	if err := s.makeScratch(); err != nil {
		return nil, fmt.Errorf("opening store %s: %w", root, err)
	}
	if err := s.settleUnsynced(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("opening store %s: %w", root, err)
	}
	return s, nil
}

// Root is the store's directory.
func (s *Store) Root() string { return s.root }

// Close removes the Store's scratch directory (and every TempDir not yet
// adopted) and releases its lock. The Store must not be used afterwards.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		err = os.RemoveAll(s.tmp)
		os.Remove(s.tmp + ".lock")
		s.lock.Close()
	})
	if err != nil {
		return fmt.Errorf("closing store: %w", err)
	}
	return nil
}

// TempDir makes a fresh directory inside the store's root (same filesystem,
// so renames into the store are atomic). It lives until it is adopted, the
// caller removes it, or the Store is closed; leftovers of dead processes are
// removed by Open.
func (s *Store) TempDir(ctx context.Context, prefix string) (string, error) {
	dir, err := os.MkdirTemp(s.tmp, prefix)
	if err != nil {
		return "", fmt.Errorf("making temp dir: %w", err)
	}
	return dir, nil
}

// SBOMCacheDir is ROOT/sbom, where per-layer SBOM scans are kept by diff
// ID (made on first use, 0700). Its records are small and stay valid as
// long as their scanner's version; prune --all empties it.
func (s *Store) SBOMCacheDir(ctx context.Context) (string, error) {
	dir := filepath.Join(s.root, "sbom")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("making the SBOM cache: %w", err)
	}
	return dir, nil
}

// clearSBOMCache removes every per-layer SBOM record.
func (s *Store) clearSBOMCache() error {
	entries, err := os.ReadDir(filepath.Join(s.root, "sbom"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(s.root, "sbom", e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// initLayout creates the store's directories, 0700 (only root may enter
// the store), and tightens those of a store made by an older strata.
func initLayout(root string) error {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return err
	}
	dirs := []string{"blobs", "blobs/sha256", "layers", "locks", "tmp", "cache"}
	for _, d := range append([]string{".", "meta", "cache-mounts", "sbom"}, dirs...) {
		if err := tighten(filepath.Join(root, d)); err != nil {
			return err
		}
	}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return err
		}
	}
	files := map[string]string{
		"oci-layout": `{"imageLayoutVersion":"1.0.0"}` + "\n",
		"index.json": `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}` + "\n",
	}
	for name, body := range files {
		path := filepath.Join(root, name)
		if _, err := os.Stat(path); err == nil {
			continue
		}
		if err := writeFileAtomic(filepath.Join(root, "tmp"), path, []byte(body), false); err != nil {
			return err
		}
	}
	return nil
}

// tighten makes an existing directory of a store made by an older strata
// (0755) private to its owner. ROOT 0700 alone stops other users from
// reaching extracted layers (setuid files, device nodes) and blobs; the
// files inside keep their modes, so Open stays a few stats. A shared
// sticky directory (ROOT=/tmp) is left alone: its store dirs are 0700.
func tighten(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() || fi.Mode().Perm()&0o077 == 0 || fi.Mode()&fs.ModeSticky != 0 {
		return nil
	}
	if err := os.Chmod(dir, fi.Mode().Perm()&0o700); err != nil {
		return fmt.Errorf("making %s private: %w", dir, err)
	}
	return nil
}

// makeScratch creates ROOT/tmp/<id>.lock, flocks it, then creates
// ROOT/tmp/<id>: a directory whose lock file is not held belongs to a dead
// process.
func (s *Store) makeScratch() error {
	base := filepath.Join(s.root, "tmp")
	// The lock file is locked before it gets its .lock name: another
	// Open's removeLeftovers takes an unlocked .lock file for a dead
	// Store's and removes it.
	f, err := os.CreateTemp(base, "p*.new")
	if err != nil {
		return err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("locking scratch dir: %w", err)
	}
	name := strings.TrimSuffix(f.Name(), ".new")
	if err := os.Rename(f.Name(), name+".lock"); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("locking scratch dir: %w", err)
	}
	s.lock = f
	s.tmp = name
	if err := os.Mkdir(s.tmp, 0o700); err != nil {
		f.Close()
		os.Remove(name + ".lock")
		return err
	}
	return nil
}

// removeLeftovers removes scratch directories whose lock nobody holds, and
// old entries without a lock file.
func removeLeftovers(base string) error {
	entries, err := os.ReadDir(base)
	if err != nil {
		return err
	}
	for _, e := range entries {
		path := filepath.Join(base, e.Name())
		if lockName, ok := strings.CutSuffix(e.Name(), ".lock"); ok {
			removeIfUnlocked(path, filepath.Join(base, lockName))
			continue
		}
		if _, err := os.Stat(path + ".lock"); err == nil {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleAge {
			removeScratch(path)
		}
	}
	return nil
}

func removeIfUnlocked(lockPath, dir string) {
	f, err := os.Open(lockPath)
	if err != nil {
		return
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		return // a live Store owns it
	}
	if err := removeScratch(dir); err != nil {
		return
	}
	os.Remove(lockPath)
}

// removeScratch removes a dead process's scratch dir. What the process
// left mounted there (a RUN secret's tmpfs, on kernels where the build
// attaches it) is unmounted first if the removal is refused.
func removeScratch(dir string) error {
	err := os.RemoveAll(dir)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if unmountUnder(dir) == 0 {
		return err
	}
	return os.RemoveAll(dir)
}

// unmountUnder detaches every mount below dir, deepest first, and returns
// how many there were.
func unmountUnder(dir string) int {
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		dir = d // mountinfo has resolved paths
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return 0
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		// Field 5 is the mount point, with space, tab, newline and
		// backslash octal-escaped.
		if f := strings.Fields(line); len(f) > 4 {
			if p := unescapeMountinfo(f[4]); strings.HasPrefix(p, dir+"/") {
				points = append(points, p)
			}
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	for _, p := range points {
		unix.Unmount(p, unix.MNT_DETACH)
	}
	return len(points)
}

func unescapeMountinfo(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}

// withFileLock runs fn holding an exclusive flock on path. Each call opens
// its own file description, so it excludes goroutines of this process too.
func withFileLock(ctx context.Context, path string, fn func() error) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("opening lock: %w", err)
	}
	defer f.Close()
	if err := flockCtx(ctx, f); err != nil {
		return fmt.Errorf("locking %s: %w", path, err)
	}
	return fn()
}

// flockCtx takes an exclusive flock, giving up when ctx is done.
func flockCtx(ctx context.Context, f *os.File) error {
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- unix.Flock(int(f.Fd()), unix.LOCK_EX) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		// Closing the file (the caller's defer) releases the lock if
		// the goroutine gets it later, and ends its wait then.
		return ctx.Err()
	}
}

// writeFileAtomic writes data to path through a temp file in tmpDir,
// fsynced and renamed (0600: records are root's); with syncDir the parent
// directory is fsynced too.
func writeFileAtomic(tmpDir, path string, data []byte, syncDir bool) error {
	f, err := os.CreateTemp(tmpDir, "w*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	if syncDir {
		return fsyncDir(filepath.Dir(path))
	}
	return nil
}

func fsyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
