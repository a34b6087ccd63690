package rootfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// TreeWalker is a Source that lists a whole directory tree in one call,
// much faster than ReadDir and Lstat path by path: what the build cache
// needs to key a big build context.
type TreeWalker interface {
	Source
	// WalkTree lists directory p (followed if a symlink, as ReadDir
	// does) and every directory below it; the result is what ReadDir and
	// Lstat would say of each path, in ReadDir's order. Listings, when
	// not nil, are directory listings from an earlier walk.
	WalkTree(ctx context.Context, p string, l Listings) (*Tree, error)
}

// Listings remembers directory listings between walks. A directory's
// mtime and ctime change whenever an entry is added, removed or renamed
// in it, so a listing stays valid while the directory's DirStat is the
// same, on filesystems that keep that promise (Tree.Listed).
type Listings interface {
	// Listing returns the names (sorted, nothing ignored) listed in host
	// directory dir when it was st, or nil.
	Listing(dir string, st DirStat) []string
}

// DirStat is what says a directory's entries are unchanged.
type DirStat struct {
	Ino, Dev     uint64
	Mtime, Ctime int64 // nanoseconds
}

var _ TreeWalker = (*Dir)(nil)

// Tree is a walked directory: its entries in name order.
type Tree struct {
	Host  string // the host directory
	Stat  DirStat
	Nodes []Node
	// Listed is every name the directory holds, sorted, ignored ones too,
	// when it was read from the directory (not from Listings) and the
	// filesystem updates a directory's times on every change of its
	// entries: what Listings may remember.
	Listed []string
}

// Node is one entry of a walked directory, as lstat describes it.
type Node struct {
	Name         string
	Mode         fs.FileMode // as os.Lstat gives it
	UID, GID     uint32
	Size         int64
	Mtime, Ctime int64 // nanoseconds
	Ino, Dev     uint64
	Target       string // a symlink's target
	Dir          *Tree  // a directory's entries
}

// walkWorkers bounds the directories listed at once: stat calls wait on
// the kernel more than they compute, so twice the cores pays.
func walkWorkers() int { return max(4, 2*runtime.NumCPU()) }

// WalkTree implements TreeWalker: directories are listed in parallel,
// entries stat'ed relative to their directory's descriptor, and a
// .dockerignore decides per directory in one go.
func (d *Dir) WalkTree(ctx context.Context, p string, l Listings) (*Tree, error) {
	if d.err != nil {
		return nil, d.err
	}
	c, fi, err := d.lookup(p, true)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: p, Err: syscall.ENOTDIR}
	}
	w := &treeWalk{ctx: ctx, d: d, l: l, sem: make(chan struct{}, walkWorkers()-1)}
	t := &Tree{Host: d.host(c)}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		t.Stat = DirStat{Ino: st.Ino, Dev: st.Dev, Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano()}
	}
	w.wg.Add(1)
	w.list(t, c, 0)
	w.wg.Wait()
	if w.err != nil {
		return nil, w.err
	}
	return t, nil
}

// treeWalk is one WalkTree in progress: the first error stops it.
type treeWalk struct {
	ctx context.Context
	d   *Dir
	l   Listings
	sem chan struct{} // slots for more goroutines; when none is free a directory is listed inline
	wg  sync.WaitGroup

	mu  sync.Mutex
	err error
}

func (w *treeWalk) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

func (w *treeWalk) failed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err != nil
}

// list fills t, the directory at canonical path p, then its
// subdirectories, each in a goroutine of its own while slots are free.
// trustedDev is the device whose filesystem is known to keep directory
// times (0: none yet).
func (w *treeWalk) list(t *Tree, p string, trustedDev uint64) {
	defer w.wg.Done()
	if w.failed() {
		return
	}
	if err := w.ctx.Err(); err != nil {
		w.fail(err)
		return
	}
	if err := w.fill(t, p, &trustedDev); err != nil {
		w.fail(err)
		return
	}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		if !n.Mode.IsDir() {
			continue
		}
		n.Dir = &Tree{Host: t.Host + "/" + n.Name, Stat: DirStat{Ino: n.Ino, Dev: n.Dev, Mtime: n.Mtime, Ctime: n.Ctime}}
		child := strings.TrimSuffix(p, "/") + "/" + n.Name
		w.wg.Add(1)
		select {
		case w.sem <- struct{}{}:
			go func() {
				defer func() { <-w.sem }()
				w.list(n.Dir, child, trustedDev)
			}()
		default:
			w.list(n.Dir, child, trustedDev)
		}
	}
}

// fill reads directory p's entries into t: ignored ones left out, the
// rest stat'ed (symlinks read) relative to the directory's descriptor,
// which was opened without following a symlink. The names come from the
// Listings when they know the directory as it is, else from the
// directory.
func (w *treeWalk) fill(t *Tree, p string, trustedDev *uint64) error {
	var names []string
	if w.l != nil {
		names = w.l.Listing(t.Host, t.Stat)
	}
	if names != nil {
		// A descriptor only to stat relative to (O_PATH) is cheaper to
		// open than one to read.
		fd, err := unix.Open(t.Host, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return &fs.PathError{Op: "open", Path: p, Err: err}
		}
		err = w.stat(t, fd, names, lstatAtWarm)
		unix.Close(fd)
		if err == nil {
			return w.filter(t, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		// the listing was stale after all: list the directory
	}
	fd, err := unix.Open(t.Host, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: p, Err: err}
	}
	defer unix.Close(fd)
	if names, err = listNames(fd, t.Host); err != nil {
		return &fs.PathError{Op: "readdir", Path: p, Err: err}
	}
	if t.Stat.Dev != *trustedDev && keepsDirTimes(fd) {
		*trustedDev = t.Stat.Dev
	}
	if t.Stat.Dev == *trustedDev {
		t.Listed = names
	}
	if err := w.stat(t, fd, names, lstatAt); err != nil {
		return err
	}
	return w.filter(t, p)
}

// stat fills t.Nodes with names, stat'ed in directory fd by lstat.
func (w *treeWalk) stat(t *Tree, fd int, names []string, lstat func(fd int, name string, buf *[]byte, st *unix.Stat_t) error) error {
	t.Nodes = make([]Node, len(names))
	var (
		st  unix.Stat_t
		buf = make([]byte, 0, 256)
	)
	for i, name := range names {
		n := &t.Nodes[i]
		n.Name = name
		if err := lstat(fd, name, &buf, &st); err != nil {
			return &fs.PathError{Op: "lstat", Path: t.Host + "/" + name, Err: err}
		}
		n.Mode, n.UID, n.GID, n.Size = fileMode(st.Mode), st.Uid, st.Gid, st.Size
		n.Mtime, n.Ctime = st.Mtim.Nano(), st.Ctim.Nano()
		n.Ino, n.Dev = st.Ino, st.Dev
		if n.Mode&fs.ModeSymlink != 0 {
			target, err := readlinkat(fd, name)
			if err != nil {
				return &fs.PathError{Op: "readlink", Path: t.Host + "/" + name, Err: err}
			}
			n.Target = target
		}
	}
	return nil
}

// filter leaves out of t's nodes what the .dockerignore leaves out of
// the context, as ReadDir does; entries no pattern can match are kept
// without asking the selection (dirFilter).
func (w *treeWalk) filter(t *Tree, p string) error {
	d := w.d
	if d.ignore == nil {
		return nil
	}
	rel := strings.TrimPrefix(p, "/")
	f, err := d.ignore.dirFilter(rel)
	if err != nil {
		return fmt.Errorf("matching .dockerignore patterns: %w", err)
	}
	out := t.Nodes[:0]
	for _, n := range t.Nodes {
		if f.unmatched(n.Name) {
			out = append(out, n)
			continue
		}
		child := n.Name
		if rel != "" {
			child = rel + "/" + child
		}
		ok, err := d.ignore.exists(child, n.Mode.IsDir())
		if err != nil {
			return fmt.Errorf("matching .dockerignore patterns: %w", err)
		}
		if ok {
			out = append(out, n)
		}
	}
	t.Nodes = out
	return nil
}

// listNames lists directory fd, sorted.
func listNames(fd int, host string) ([]string, error) {
	dup, err := unix.Dup(fd)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), host)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}

// keepsDirTimes reports whether the filesystem of fd is one known to
// update a directory's mtime and ctime whenever its entries change
// (network and FUSE filesystems may not, or not at once).
func keepsDirTimes(fd int) bool {
	var s unix.Statfs_t
	if err := unix.Fstatfs(fd, &s); err != nil {
		return false
	}
	switch s.Type {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC, unix.TMPFS_MAGIC:
		return true
	}
	return false
}

// fileMode is os.Lstat's FileMode for a stat mode.
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// readlinkat reads the symlink name in directory fd, whatever its length.
func readlinkat(fd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(fd, name, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}
