package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Extracted layers and the upper dirs adopted as layers are renamed into
// ROOT/layers without an fsync: syncing every file of a 900 MB layer would
// cost more than writing it, and the step's overlay is mounted volatile
// for the same reason. A process that is killed loses nothing (the page
// cache survives it); a machine that loses power may keep the rename and
// lose the files' data, leaving a layer directory that looks whole and is
// not, which a later step would build on.
//
// So before the first layer directory a Store makes, it leaves a marker,
// ROOT/unsynced/<boot id>.<scratch id>, fsynced: "layers written from the
// marker's mtime on, in this boot, may not be on disk". Open settles the
// markers of Stores that are gone:
//   - same boot: the data reached the disk by the time the kernel's
//     write-back ran (some 30 s), so once a marker is a minute old, one
//     syncfs makes sure of it and the marker goes;
//   - another boot (the machine restarted before that): every layer
//     directory changed since the marker was made is removed, to be
//     extracted again from its blob (blobs and records are fsynced) when
//     next needed.
//
// A directory in ROOT/layers is made after its marker and renamed into
// place later, so its ctime is not older than the marker's mtime.

// bootIDFile names the current boot; a store without it makes no markers.
const bootIDFile = "/proc/sys/kernel/random/boot_id"

// syncAfter is how old a dead Store's marker must be before Open syncs
// and removes it: by then write-back has made the syncfs cheap.
const syncAfter = time.Minute

// readBootID returns the current boot's id, "" if unknown.
func readBootID() string {
	b, err := os.ReadFile(bootIDFile)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// LayerTempDir is TempDir for a directory that will become a layer
// (AdoptLayerDir); the Store's marker is made first.
func (s *Store) LayerTempDir(ctx context.Context) (string, error) {
	s.markOnce.Do(func() { s.markErr = s.markUnsynced() })
	if s.markErr != nil {
		return "", fmt.Errorf("making layer dir: %w", s.markErr)
	}
	return s.TempDir(ctx, "layer")
}

// markUnsynced leaves this Store's marker, fsynced with its directory.
func (s *Store) markUnsynced() error {
	if s.bootID == "" {
		return nil
	}
	dir := filepath.Join(s.root, "unsynced")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return writeFileAtomic(s.tmp, filepath.Join(dir, s.bootID+"."+filepath.Base(s.tmp)), nil, true)
}

// settleUnsynced deals with the markers of Stores that are gone (see
// above). Markers are read without a lock first: most Opens find none.
func (s *Store) settleUnsynced(ctx context.Context) error {
	dir := filepath.Join(s.root, "unsynced")
	if names, err := s.deadMarkers(dir); err != nil || len(names) == 0 {
		return err
	}
	return withFileLock(ctx, filepath.Join(s.root, "locks", "unsynced"), func() error {
		names, err := s.deadMarkers(dir) // another Open may have settled them
		if err != nil {
			return err
		}
		synced := false
		for _, name := range names {
			path := filepath.Join(dir, name)
			fi, err := os.Lstat(path)
			if err != nil {
				continue
			}
			if strings.HasPrefix(name, s.bootID+".") {
				if time.Since(fi.ModTime()) < s.syncAfter {
					continue
				}
				if !synced {
					if err := syncFS(s.root); err != nil {
						return err
					}
					synced = true
				}
			} else if err := s.removeLayersSince(fi.ModTime()); err != nil {
				return err
			}
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		return nil
	})
}

// deadMarkers lists the markers in dir whose Store is gone: another
// boot's, or this boot's whose scratch lock nobody holds (Open's
// removeLeftovers has removed those lock files already).
func (s *Store) deadMarkers(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var dead []string
	for _, e := range entries {
		boot, id, ok := strings.Cut(e.Name(), ".")
		if !ok || (boot == s.bootID && lockHeld(filepath.Join(s.root, "tmp", id+".lock"))) {
			continue
		}
		dead = append(dead, e.Name())
	}
	return dead, nil
}

// lockHeld reports whether a live Store holds the scratch lock at path.
func lockHeld(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB) != nil {
		return true
	}
	unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false
}

// removeLayersSince removes every layer directory whose ctime is not
// older than since (less a second for clocks of coarse ticks).
func (s *Store) removeLayersSince(since time.Time) error {
	base := filepath.Join(s.root, "layers")
	entries, err := os.ReadDir(base)
	if err != nil {
		return err
	}
	limit := since.Add(-time.Second).UnixNano()
	for _, e := range entries {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(base, e.Name()), &st); err != nil {
			continue
		}
		if st.Ctim.Nano() < limit {
			continue
		}
		if err := removeTree(filepath.Join(base, e.Name())); err != nil {
			return fmt.Errorf("removing layer %s, maybe damaged by a restart: %w", e.Name(), err)
		}
	}
	return nil
}

// syncFS flushes the filesystem holding dir.
func syncFS(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil && !errors.Is(err, syscall.ENOSYS) {
		return fmt.Errorf("syncing the store: %w", err)
	}
	return nil
}
