package sandbox

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// The copy fallback, for kernels or filesystems where overlayfs cannot be
// mounted: the layers are merged into a plain dir (whiteouts and opaque
// dirs applied), the step runs with that dir as its root, and the
// difference from the layers is then written to the upper dir in overlay
// format (new and changed entries, 0/0 char devices for deletions), so
// callers cannot tell but by the time it takes, which is proportional to
// the size of the image. Hard links inside a layer become copies.

// meta is what the diff compares: a changed mtime, size, mode, owner,
// link target or device makes an entry part of the layer.
type meta struct {
	mode     uint32
	uid, gid uint32
	size     int64
	mtime    unix.Timespec
	rdev     uint64
	link     string
}

func metaOf(path string) (meta, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return meta{}, err
	}
	m := meta{mode: st.Mode, uid: st.Uid, gid: st.Gid, mtime: st.Mtim, rdev: st.Rdev}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		m.size = st.Size
	case unix.S_IFLNK:
		l, err := os.Readlink(path)
		if err != nil {
			return meta{}, err
		}
		m.link = l
	}
	return m, nil
}

func (m meta) isDir() bool { return m.mode&unix.S_IFMT == unix.S_IFDIR }

// withCopiedRoot runs the step (run gets the root dir) on a merged copy of
// the layers and writes the difference into step.Upper.
func withCopiedRoot(step *Step, dir *stepDir, run func(root string) (*stubs, error)) error {
	root := filepath.Join(dir.dir, "copy")
	if err := os.Mkdir(root, 0o755); err != nil {
		return fmt.Errorf("copying layers: %w", err)
	}
	// Nothing is mounted on root in the host's namespace: the builtin
	// binds it in the init's namespace, runc in the container's.
	defer os.RemoveAll(root)
	base, err := mergeLayers(root, step.Lower)
	if err != nil {
		return err
	}
	st, err := run(root)
	if cerr := st.unstub(root, base); err != nil || cerr != nil {
		return errors.Join(err, cerr)
	}
	return diffInto(step.Upper, root, base)
}

// unstub removes the stubs from the copied root and gives the dirs they
// were made in back their times. The step wrote root: as in clean, a
// symlink on the way makes a stub not ours any more.
func (s *stubs) unstub(root string, base map[string]meta) error {
	if s == nil {
		return nil
	}
	t, err := openTree(root)
	if err != nil {
		return fmt.Errorf("removing mount stubs: %w", err)
	}
	defer t.Close()
	var errs []error
	for _, p := range slices.Backward(s.Created) {
		errs = append(errs, t.removeEmpty(p))
	}
	for _, d := range s.Touched {
		if m, ok := base[d.Path]; ok {
			errs = append(errs, t.setTimes(d.Path, m.mtime))
		}
	}
	return errors.Join(errs...)
}

// mergeLayers applies the overlay-format layers (bottom first) into root
// and returns the metadata of every merged entry by relative path.
func mergeLayers(root string, layers []string) (map[string]meta, error) {
	base := map[string]meta{}
	for _, l := range layers {
		if err := mergeLayer(root, l, base); err != nil {
			return nil, fmt.Errorf("copying layer %s: %w", l, err)
		}
	}
	// Directory times last: adding entries changed them.
	dirs := slices.Sorted(func(yield func(string) bool) {
		for p, m := range base {
			if m.isDir() && !yield(p) {
				return
			}
		}
	})
	for _, p := range slices.Backward(dirs) {
		if err := setTimes(filepath.Join(root, p), base[p].mtime); err != nil {
			return nil, err
		}
	}
	return base, nil
}

func mergeLayer(root, layer string, base map[string]meta) error {
	return filepath.WalkDir(layer, func(src string, d fs.DirEntry, err error) error {
		if err != nil || src == layer {
			return err
		}
		rel, _ := filepath.Rel(layer, src)
		dst := filepath.Join(root, rel)
		m, err := metaOf(src)
		if err != nil {
			return err
		}
		if isWhiteout(m) {
			forget(base, rel)
			return os.RemoveAll(dst)
		}
		if m.isDir() {
			if isOpaqueDir(src) {
				forget(base, rel)
			}
			if old, ok := base[rel]; ok && !old.isDir() || !ok {
				if err := os.RemoveAll(dst); err != nil {
					return err
				}
			}
		} else if err := os.RemoveAll(dst); err != nil {
			return err
		}
		if _, ok := base[rel]; !ok || !m.isDir() {
			forget(base, rel)
			if err := copyEntry(src, dst, m); err != nil {
				return err
			}
		} else if err := copyMeta(src, dst, m); err != nil {
			return err
		}
		base[rel] = m
		return nil
	})
}

// forget drops rel and everything under it from base, removing the copies
// of what is under it from the tree is the caller's business.
func forget(base map[string]meta, rel string) {
	for p := range base {
		if p == rel || strings.HasPrefix(p, rel+"/") {
			delete(base, p)
		}
	}
}

func isWhiteout(m meta) bool { return m.mode&unix.S_IFMT == unix.S_IFCHR && m.rdev == 0 }

// diffInto writes into upper, in overlay format, how root differs from
// base.
func diffInto(upper, root string, base map[string]meta) error {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		m, err := metaOf(p)
		if err != nil {
			return err
		}
		if b, ok := base[rel]; ok && b == m {
			return nil
		}
		if err := upperParents(upper, root, rel, &dirs); err != nil {
			return err
		}
		dst := filepath.Join(upper, rel)
		if _, err := os.Lstat(dst); err == nil {
			return copyMeta(p, dst, m) // made already as a parent
		}
		if m.isDir() {
			dirs = append(dirs, rel)
		}
		return copyEntry(p, dst, m)
	})
	if err != nil {
		return fmt.Errorf("diffing root: %w", err)
	}
	if err := whiteouts(upper, root, base, &dirs); err != nil {
		return err
	}
	for _, rel := range slices.Backward(dirs) {
		if m, err := metaOf(filepath.Join(root, rel)); err == nil {
			if err := setTimes(filepath.Join(upper, rel), m.mtime); err != nil {
				return err
			}
		}
	}
	return nil
}

// whiteouts marks in upper every base entry gone from root whose parent
// is still a directory there. root is looked up as a tree: a parent the
// step replaced by a symlink is not a directory, and neither is anything
// behind it, so upper only ever gets real dirs of root.
func whiteouts(upper, root string, base map[string]meta, dirs *[]string) error {
	t, err := openTree(root)
	if err != nil {
		return fmt.Errorf("writing whiteouts: %w", err)
	}
	defer t.Close()
	for _, rel := range slices.Sorted(func(yield func(string) bool) {
		for p := range base {
			if !yield(p) {
				return
			}
		}
	}) {
		if _, err := t.lstat(rel); err == nil {
			continue
		}
		parent := filepath.Dir(rel)
		if pm, err := t.lstat(parent); err != nil || pm.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		if bp, ok := base[parent]; parent != "." && (!ok || !bp.isDir()) {
			continue
		}
		if err := upperParents(upper, root, rel, dirs); err != nil {
			return err
		}
		if err := unix.Mknod(filepath.Join(upper, rel), unix.S_IFCHR, 0); err != nil {
			return fmt.Errorf("writing whiteout %s: %w", rel, err)
		}
	}
	return nil
}

// upperParents creates rel's missing parent dirs in upper as they are in
// root.
func upperParents(upper, root, rel string, dirs *[]string) error {
	parts := strings.Split(filepath.Dir(rel), "/")
	for i := range parts {
		p := filepath.Join(parts[:i+1]...)
		if p == "." {
			continue
		}
		if _, err := os.Lstat(filepath.Join(upper, p)); err == nil {
			continue
		}
		m, err := metaOf(filepath.Join(root, p))
		if err != nil {
			return err
		}
		if err := copyEntry(filepath.Join(root, p), filepath.Join(upper, p), m); err != nil {
			return err
		}
		*dirs = append(*dirs, p)
	}
	return nil
}

// copyEntry copies one entry (not a dir's contents) from src to dst.
func copyEntry(src, dst string, m meta) error {
	var err error
	switch m.mode & unix.S_IFMT {
	case unix.S_IFDIR:
		err = os.Mkdir(dst, 0o700)
	case unix.S_IFREG:
		err = copyFile(src, dst)
	case unix.S_IFLNK:
		err = os.Symlink(m.link, dst)
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
		err = unix.Mknod(dst, m.mode&unix.S_IFMT|0o600, int(m.rdev))
	default:
		return nil // sockets are not part of layers
	}
	if err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	return copyMeta(src, dst, m)
}

func copyFile(src, dst string) error {
	in, err := os.OpenFile(src, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// copyMeta gives dst src's owner, mode, xattrs (but overlay's own) and
// times.
func copyMeta(src, dst string, m meta) error {
	if err := unix.Lchown(dst, int(m.uid), int(m.gid)); err != nil {
		return fmt.Errorf("copying owner of %s: %w", src, err)
	}
	if m.mode&unix.S_IFMT != unix.S_IFLNK {
		if err := unix.Chmod(dst, m.mode&0o7777); err != nil {
			return fmt.Errorf("copying mode of %s: %w", src, err)
		}
	}
	if err := copyXattrs(src, dst); err != nil {
		return err
	}
	return setTimes(dst, m.mtime)
}

func copyXattrs(src, dst string) error {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(src, buf)
	if err != nil {
		if errors.Is(err, unix.ENOTSUP) {
			return nil
		}
		return fmt.Errorf("listing xattrs of %s: %w", src, err)
	}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if name == "" || strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.") {
			continue
		}
		val := make([]byte, 64<<10)
		vn, err := unix.Lgetxattr(src, name, val)
		if err != nil {
			return fmt.Errorf("reading xattr %s of %s: %w", name, src, err)
		}
		if err := unix.Lsetxattr(dst, name, val[:vn], 0); err != nil {
			return fmt.Errorf("writing xattr %s of %s: %w", name, dst, err)
		}
	}
	return nil
}

func setTimes(path string, mtime unix.Timespec) error {
	ts := []unix.Timespec{mtime, mtime}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting times of %s: %w", path, err)
	}
	return nil
}

func getxattr(path, name string) (string, error) {
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(path, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}
