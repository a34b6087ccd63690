package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ensureDir makes the canonical directory p exist in layerDir: directories
// that exist in under are copied up with their metadata (as overlayfs does,
// so the layer tar is complete); missing ones are created with the copy's
// dirMode, owned by Chown (or root), as BuildKit's copy does.
//
// It walks p once, fd-relative in layerDir and from the previous level's
// lookup in under, so it costs one step per level, and works on paths
// longer than PATH_MAX.
func (c *copier) ensureDir(p string) error { return c.ensureDirMode(p, c.dirMode) }

// ensureDirMode is ensureDir creating missing directories with mode.
func (c *copier) ensureDirMode(p string, mode fs.FileMode) error {
	if fi, err := os.Lstat(c.layerPath(p)); err == nil && fi.IsDir() {
		return nil // its parents are there too
	}
	under := Stack{Dirs: c.view.Dirs[:len(c.view.Dirs)-1]}
	uh, err := under.find("/")
	if err != nil {
		return err
	}
	cur, err := openCursor(c.layerDir)
	if err != nil {
		return err
	}
	defer cur.close()
	for len(cur.rel) < len(p) {
		next := cur.next(p)
		if uh, err = c.ensureIn(cur, uh, next, mode); err != nil {
			return err
		}
		if err := cur.down(next); err != nil {
			return err
		}
	}
	return nil
}

// ensureIn makes the directory next, a child of the cursor's, exist in
// layerDir (created with mode when missing in under too), given uh, the
// cursor's dir in under, and returns next's.
// Layer dirs are never opaque (overlay xattrs are not copied), so under
// shows through all of them.
func (c *copier) ensureIn(cur *cursor, uh hit, next string, mode fs.FileMode) (hit, error) {
	name := next[strings.LastIndexByte(next, '/')+1:]
	var st unix.Stat_t
	lerr := unix.Fstatat(cur.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if lerr != nil && !errors.Is(lerr, unix.ENOENT) {
		return hit{}, &fs.PathError{Op: "lstat", Path: next, Err: lerr}
	}
	if lerr == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return hit{}, fmt.Errorf("cannot copy to non-directory: %s", next)
	}
	h, err := lookupIn(uh.dirs, name)
	missing := errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
	if err != nil && !missing {
		return hit{}, &fs.PathError{Op: "lstat", Path: next, Err: err}
	}
	switch {
	case lerr == nil && (missing || !h.fi.IsDir()):
		return hit{}, nil // a layer dir over nothing, or over a non-dir it hides
	case lerr == nil:
		return h, nil
	case missing:
		c.fresh[next] = true
		return hit{}, c.mkdirNew(cur.fd, name, next, mode)
	case !h.fi.IsDir():
		return hit{}, fmt.Errorf("cannot copy to non-directory: %s", next)
	}
	return h, c.copyUp(cur.fd, name, next, h)
}

// copyUp creates name in the dir fd (rel, in layerDir) as a copy of the
// metadata of the directory h.
func (c *copier) copyUp(fd int, name, rel string, h hit) error {
	st, ok := h.fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("copying up %s: no stat", rel)
	}
	if err := unix.Mkdirat(fd, name, 0o700); err != nil {
		return &fs.PathError{Op: "mkdir", Path: rel, Err: err}
	}
	if err := setOwnerModeAt(fd, name, int(st.Uid), int(st.Gid), st.Mode&0o7777); err != nil {
		return &fs.PathError{Op: "copy up", Path: rel, Err: err}
	}
	if err := copyXattrs(h.host, procPath(fd, name)); err != nil {
		return err
	}
	c.dirTimes = append(c.dirTimes, dirTime{rel: rel, mtime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec)})
	return nil
}

func (c *copier) mkdirNew(fd int, name, rel string, mode fs.FileMode) error {
	if err := unix.Mkdirat(fd, name, 0o700); err != nil {
		return &fs.PathError{Op: "mkdir", Path: rel, Err: err}
	}
	o := Owner{}
	if c.opts.Chown != nil {
		o = *c.opts.Chown
	}
	if err := setOwnerModeAt(fd, name, o.UID, o.GID, unixMode(mode)); err != nil {
		return &fs.PathError{Op: "mkdir", Path: rel, Err: err}
	}
	c.dirTimes = append(c.dirTimes, dirTime{rel: rel, mtime: c.newTime})
	return nil
}

// setOwnerModeAt chowns then chmods (chown clears setuid) the directory
// name in the dir fd.
func setOwnerModeAt(fd int, name string, uid, gid int, mode uint32) error {
	if err := unix.Fchownat(fd, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	return unix.Fchmodat(fd, name, mode, 0)
}

func copyStat(lp string, st *unix.Stat_t) error {
	if err := os.Lchown(lp, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	return unix.Fchmodat(unix.AT_FDCWD, lp, st.Mode&0o7777, 0)
}

// procPath names the entry name of the dir fd by a short path, for the
// calls that take no fd (xattrs of what may be a symlink): the magic link
// resolves to the dir itself, and the l-variants do not follow name.
func procPath(fd int, name string) string {
	return "/proc/self/fd/" + strconv.Itoa(fd) + "/" + name
}

// cursor is an open directory of a tree, moved from one directory to
// another fd-relatively: up through "..", down one name at a time, never
// following a symlink. No path a syscall sees is longer than a name, so
// trees deeper than PATH_MAX work, and moving between neighbours costs
// their distance, not their depth.
type cursor struct {
	fd  int    // O_PATH
	rel string // its canonical path in the tree, "/" for the root
}

func openCursor(root string) (*cursor, error) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: root, Err: err}
	}
	return &cursor{fd: fd, rel: "/"}, nil
}

func (c *cursor) close() { unix.Close(c.fd) }

// moveTo moves the cursor to the directory p (canonical).
func (c *cursor) moveTo(p string) error {
	for !within(p, c.rel) {
		if err := c.open(".."); err != nil {
			return &fs.PathError{Op: "open", Path: c.rel + "/..", Err: err}
		}
		c.rel = c.rel[:max(strings.LastIndexByte(c.rel, '/'), 1)]
	}
	for len(c.rel) < len(p) {
		if err := c.down(c.next(p)); err != nil {
			return err
		}
	}
	return nil
}

// next is the child of the cursor's dir on the way to p, below it.
func (c *cursor) next(p string) string {
	start := len(c.rel) + 1
	if c.rel == "/" {
		start = 1
	}
	if end := strings.IndexByte(p[start:], '/'); end >= 0 {
		return p[:start+end]
	}
	return p
}

// down moves the cursor into its child dir next (canonical).
func (c *cursor) down(next string) error {
	if err := c.open(next[strings.LastIndexByte(next, '/')+1:]); err != nil {
		return &fs.PathError{Op: "open", Path: next, Err: err}
	}
	c.rel = next
	return nil
}

func (c *cursor) open(name string) error {
	fd, err := unix.Openat(c.fd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	unix.Close(c.fd)
	c.fd = fd
	return nil
}

// within reports whether the canonical path p is dir or below it.
func within(p, dir string) bool {
	return dir == "/" || p == dir || len(p) > len(dir) && p[len(dir)] == '/' && p[:len(dir)] == dir
}

// copyUpRoot gives layerDir's root the owner and mode of under's root (or
// 0755 root for scratch): overlayfs shows the upper root's.
func (c *copier) copyUpRoot(under Stack) error {
	if len(under.Dirs) == 0 {
		if err := os.Lchown(c.layerDir, 0, 0); err != nil {
			return err
		}
		return os.Chmod(c.layerDir, 0o755)
	}
	var st unix.Stat_t
	if err := unix.Stat(under.Dirs[len(under.Dirs)-1], &st); err != nil {
		return fmt.Errorf("reading root of %s: %w", under.Dirs[len(under.Dirs)-1], err)
	}
	return copyStat(c.layerDir, &st)
}
