package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"syscall"
)

// maxSymlinks bounds symlink expansion in one path, as Linux does.
const maxSymlinks = 40

// physical is what path resolution needs from a filesystem: entries named by
// paths with no symlink among their parents.
type physical interface {
	lstatPhys(p string) (fs.FileInfo, error)
	readlinkPhys(p string) (string, error)
}

// resolve returns the canonical form of the absolute path p inside a root:
// symlinks among the parents (and p itself when follow) replaced by their
// targets, with absolute targets and ".." confined to the root as chroot(2)
// confines them. Components after a missing one are kept as written.
func resolve(fsys physical, p string, follow bool) (string, error) {
	cur := "/"
	rest := splitPath(p)
	links := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		if c == ".." {
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		if len(rest) == 0 && !follow {
			return next, nil
		}
		fi, err := fsys.lstatPhys(next)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return path.Join(append([]string{next}, rest...)...), nil
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if links++; links > maxSymlinks {
			return "", &fs.PathError{Op: "resolve", Path: p, Err: syscall.ELOOP}
		}
		target, err := fsys.readlinkPhys(next)
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) {
			cur = "/"
		}
		rest = append(splitPath(target), rest...)
	}
	return cur, nil
}

// splitPath splits p into its non-empty, non-"." components.
func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

// cleanAbs makes p absolute and clean ("a/../b" is "/b").
func cleanAbs(p string) string {
	return path.Clean("/" + p)
}

// NotFoundError reports a COPY source that does not exist.
type NotFoundError struct {
	Path    string // as written in the instruction
	Context bool   // the source is the build context
}

func (e *NotFoundError) Error() string {
	if e.Context {
		return fmt.Sprintf("%q not found in build context", e.Path)
	}
	return fmt.Sprintf("%q not found", e.Path)
}

func (e *NotFoundError) Unwrap() error { return fs.ErrNotExist }
