package sandbox

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Host-side work on a tree a step wrote (an upper dir after the step, the
// copied root of the fallback) goes through a tree: every lookup starts
// from the tree's open dir fd and refuses any symlink, any ".." out of it
// and any mount crossing. A step that swaps a dir for a symlink to a host
// path (absolute symlinks would resolve on the host) then only makes the
// lookup fail; strata never acts on what the link points to.

// resolveBeneath are the openat2 resolve flags of every lookup in a tree.
const resolveBeneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS |
	unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

// openatFunc opens rel below the dir fd dirfd with flags, following no
// symlink and staying below dirfd.
type openatFunc func(dirfd int, rel string, flags int) (int, error)

// tree is an open dir whose contents a step controlled.
type tree struct {
	fd   int
	open openatFunc
}

// openTree opens dir (a path strata made, itself trusted) as a tree.
func openTree(dir string) (*tree, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", dir, err)
	}
	return &tree{fd: fd, open: openBeneath}, nil
}

func (t *tree) Close() error { return unix.Close(t.fd) }

// openBeneath opens rel with openat2, or component by component where
// the kernel lacks it (before 5.6; EPERM is what seccomp profiles older
// than the syscall answer).
func openBeneath(dirfd int, rel string, flags int) (int, error) {
	how := &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC | unix.O_NOFOLLOW), Resolve: resolveBeneath}
	for range 16 {
		fd, err := unix.Openat2(dirfd, rel, how)
		switch {
		case errors.Is(err, unix.EAGAIN): // a rename or mount raced the lookup
			continue
		case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM):
			return openByComponent(dirfd, rel, flags)
		}
		return fd, err
	}
	return -1, unix.EAGAIN
}

// openByComponent is openBeneath without openat2: one openat with
// O_NOFOLLOW per component, refusing "..", absolute paths and a change of
// device on the way.
func openByComponent(dirfd int, rel string, flags int) (int, error) {
	if filepath.IsAbs(rel) {
		return -1, unix.EXDEV
	}
	var parts []string
	for _, c := range strings.Split(rel, "/") {
		switch c {
		case "", ".":
		case "..":
			return -1, unix.EXDEV
		default:
			parts = append(parts, c)
		}
	}
	if len(parts) == 0 {
		parts = []string{"."}
	}
	var root unix.Stat_t
	if err := unix.Fstat(dirfd, &root); err != nil {
		return -1, err
	}
	fd := dirfd
	for i, c := range parts {
		f := unix.O_PATH | unix.O_DIRECTORY
		if i == len(parts)-1 {
			f = flags
		}
		next, err := unix.Openat(fd, c, f|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		if fd != dirfd {
			unix.Close(fd)
		}
		if err != nil {
			return -1, err
		}
		fd = next
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Dev != root.Dev {
			unix.Close(fd)
			return -1, errors.Join(err, unix.EXDEV)
		}
	}
	return fd, nil
}

// openParent opens the dir holding rel and returns it with rel's last
// component.
func (t *tree) openParent(rel string) (int, string, error) {
	rel = filepath.Clean(rel)
	if rel == "." || filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
		return -1, "", unix.EXDEV
	}
	dir, name := filepath.Split(rel)
	if dir == "" {
		dir = "."
	}
	fd, err := t.open(t.fd, dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return -1, "", err
	}
	return fd, name, nil
}

// lstat stats rel without following it or any symlink on the way.
func (t *tree) lstat(rel string) (unix.Stat_t, error) {
	var st unix.Stat_t
	if filepath.Clean(rel) == "." {
		return st, unix.Fstat(t.fd, &st)
	}
	fd, name, err := t.openParent(rel)
	if err != nil {
		return st, err
	}
	defer unix.Close(fd)
	return st, unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
}

// gone reports whether err from a lookup in a tree means the path is not
// (or no longer) what strata made: missing, or behind a symlink, a
// non-dir or a mount.
func gone(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) ||
		errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV)
}

// removeEmpty removes rel if it is an empty dir or an empty regular file.
func (t *tree) removeEmpty(rel string) error {
	fd, name, err := t.openParent(rel)
	if gone(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing mount stub %s: %w", rel, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil
	}
	flags := 0
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFDIR:
		flags = unix.AT_REMOVEDIR
	case st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != 0:
		return nil
	}
	if err := unix.Unlinkat(fd, name, flags); err != nil && !errors.Is(err, unix.ENOTEMPTY) && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("removing mount stub %s: %w", rel, err)
	}
	return nil
}

// removeCopiedUp removes the dir m.Path if overlayfs only copied it up to
// hold a stub: empty, not opaque, mode and owner as before the step.
func (t *tree) removeCopiedUp(m dirMeta) error {
	fd, name, err := t.openParent(m.Path)
	if gone(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing copied-up dir %s: %w", m.Path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil
	}
	if st.Mode != m.Mode || st.Uid != m.UID || st.Gid != m.GID {
		return nil
	}
	if opaque, err := t.opaque(fd, name); err != nil || opaque {
		return err
	}
	if err := unix.Unlinkat(fd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOTEMPTY) && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("removing copied-up dir %s: %w", m.Path, err)
	}
	return nil
}

// opaque reports whether the dir name in the dir fd is an opaque overlay
// dir. An xattr of a path (or of /proc/self/fd of an O_PATH fd) could act
// on a symlink's target; the dir itself is opened instead.
func (t *tree) opaque(dirfd int, name string) (bool, error) {
	fd, err := t.open(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY)
	if gone(err) {
		return true, nil // not a dir any more: leave it
	}
	if err != nil {
		return false, fmt.Errorf("opening %s: %w", name, err)
	}
	defer unix.Close(fd)
	for _, x := range opaqueXattrs() {
		buf := make([]byte, 16)
		if n, err := unix.Fgetxattr(fd, x, buf); err == nil && string(buf[:n]) == "y" {
			return true, nil
		}
	}
	return false, nil
}

// setTimes sets rel's access and modification times to mtime.
func (t *tree) setTimes(rel string, mtime unix.Timespec) error {
	fd, name, err := t.openParent(rel)
	if gone(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("setting times of %s: %w", rel, err)
	}
	defer unix.Close(fd)
	ts := []unix.Timespec{mtime, mtime}
	if err := unix.UtimesNanoAt(fd, name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil && !gone(err) {
		return fmt.Errorf("setting times of %s: %w", rel, err)
	}
	return nil
}
