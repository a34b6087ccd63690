package rootfs

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/moby/patternmatcher"
)

// Dir is a build context: a host directory seen as a root, optionally
// filtered by .dockerignore patterns. Symlinks inside it resolve inside it.
type Dir struct {
	root   string
	ignore *selection // nil: nothing ignored
	err    error      // invalid patterns, reported on use
}

var _ Source = (*Dir)(nil)

// NewDir returns the host directory root as a Source holding what
// BuildKit's context transfer sends with the .dockerignore patterns ignore
// (see selection): excluded paths do not exist in it.
func NewDir(root string, ignore []string) *Dir {
	d := &Dir{root: root}
	if len(ignore) > 0 {
		pm, err := patternmatcher.New(ignore)
		if err != nil {
			d.err = fmt.Errorf("parsing .dockerignore patterns: %w", err)
			return d
		}
		d.ignore = newSelection(root, pm)
	}
	return d
}

func (d *Dir) host(p string) string { return filepath.Join(d.root, p) }

// lstatPhys describes p for path resolution: a symlink the context does
// not hold cannot be followed (BuildKit resolves in what it received).
func (d *Dir) lstatPhys(p string) (fs.FileInfo, error) {
	fi, err := os.Lstat(d.host(p))
	if err != nil || d.ignore == nil || fi.Mode()&fs.ModeSymlink == 0 {
		return fi, err
	}
	if ig, err := d.ignored(p, false); err != nil || ig {
		if err == nil {
			err = &fs.PathError{Op: "lstat", Path: p, Err: fs.ErrNotExist}
		}
		return nil, err
	}
	return fi, nil
}

func (d *Dir) readlinkPhys(p string) (string, error) { return os.Readlink(d.host(p)) }

// ignored reports whether the canonical path p is not in the context.
func (d *Dir) ignored(p string, isDir bool) (bool, error) {
	if d.err != nil {
		return false, d.err
	}
	rel := strings.TrimPrefix(p, "/")
	if d.ignore == nil || rel == "" {
		return false, nil
	}
	ok, err := d.ignore.exists(rel, isDir)
	if err != nil {
		return false, fmt.Errorf("matching .dockerignore patterns: %w", err)
	}
	return !ok, nil
}

func (d *Dir) lookup(p string, follow bool) (string, fs.FileInfo, error) {
	c, err := resolve(d, cleanAbs(p), follow)
	if err != nil {
		return "", nil, err
	}
	if d.ignore != nil {
		// Past an ignored symlink, resolve keeps the rest as written: the
		// host must not follow that symlink.
		if err := d.ignore.realParents(c); err != nil {
			return "", nil, &fs.PathError{Op: "lstat", Path: p, Err: err}
		}
	}
	fi, err := os.Lstat(d.host(c))
	if err != nil {
		return "", nil, err
	}
	if ig, err := d.ignored(c, fi.IsDir()); err != nil || ig {
		if err == nil {
			err = &fs.PathError{Op: "lstat", Path: p, Err: fs.ErrNotExist}
		}
		return "", nil, err
	}
	return c, fi, nil
}

// Lstat describes p without following p itself.
func (d *Dir) Lstat(p string) (fs.FileInfo, error) {
	_, fi, err := d.lookup(p, false)
	return fi, err
}

// Readlink returns the target of the symlink p.
func (d *Dir) Readlink(p string) (string, error) {
	c, _, err := d.lookup(p, false)
	if err != nil {
		return "", err
	}
	return os.Readlink(d.host(c))
}

// RealPath returns the host path of p.
func (d *Dir) RealPath(p string) (string, error) {
	c, _, err := d.lookup(p, false)
	if err != nil {
		return "", err
	}
	return d.host(c), nil
}

// ReadDir lists directory p (following p if a symlink), sorted, without
// ignored entries.
func (d *Dir) ReadDir(p string) ([]fs.DirEntry, error) {
	c, fi, err := d.lookup(p, true)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: p, Err: syscall.ENOTDIR}
	}
	des, err := os.ReadDir(d.host(c))
	if err != nil {
		return nil, err
	}
	out := make([]fs.DirEntry, 0, len(des))
	for _, de := range des {
		child := strings.TrimSuffix(c, "/") + "/" + de.Name()
		if ig, err := d.ignored(child, de.IsDir()); err != nil {
			return nil, err
		} else if ig {
			continue
		}
		info, err := de.Info()
		if err != nil {
			return nil, err
		}
		out = append(out, entry{fi: info, host: d.host(child)})
	}
	return out, nil
}
