package rootfs

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

var _ Source = Stack{}

// hit is a path found in a Stack: the topmost host path holding it and, for
// a directory, the host directories merged into it, top first.
type hit struct {
	host string
	fi   fs.FileInfo
	dirs []string
}

// find looks up p, a canonical path (no symlink among its parents), in the
// merged view: a whiteout hides lower entries, a non-directory hides lower
// entries, an opaque directory hides lower directories.
func (s Stack) find(p string) (hit, error) {
	h := hit{fi: rootInfo{}}
	for i := len(s.Dirs) - 1; i >= 0; i-- {
		h.dirs = append(h.dirs, s.Dirs[i])
	}
	if len(h.dirs) > 0 {
		h.host = h.dirs[0]
		fi, err := os.Lstat(h.host)
		if err != nil {
			return hit{}, err
		}
		h.fi = fi
	}
	for _, c := range splitPath(p) {
		if !h.fi.IsDir() {
			return hit{}, &fs.PathError{Op: "lstat", Path: p, Err: syscall.ENOTDIR}
		}
		next, err := lookupIn(h.dirs, c)
		if err != nil {
			return hit{}, &fs.PathError{Op: "lstat", Path: p, Err: err}
		}
		h = next
	}
	return h, nil
}

// lookupIn finds name in the merged directories dirs (top first).
func lookupIn(dirs []string, name string) (hit, error) {
	var h hit
	for _, d := range dirs {
		hp := filepath.Join(d, name)
		fi, err := os.Lstat(hp)
		if err != nil {
			if os.IsNotExist(err) || isENOTDIR(err) {
				continue
			}
			return hit{}, err
		}
		if isWhiteout(fi) {
			break
		}
		if h.fi == nil {
			h.host, h.fi = hp, fi
		}
		if !fi.IsDir() || !h.fi.IsDir() {
			break
		}
		h.dirs = append(h.dirs, hp)
		if isOpaque(hp) {
			break
		}
	}
	if h.fi == nil {
		return hit{}, fs.ErrNotExist
	}
	return h, nil
}

func isENOTDIR(err error) bool {
	pe, ok := err.(*os.PathError)
	return ok && pe.Err == syscall.ENOTDIR
}

func isWhiteout(fi fs.FileInfo) bool {
	if fi.Mode()&fs.ModeCharDevice == 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Rdev == 0
}

// isOpaque reports an opaque dir: trusted.overlay.opaque as root,
// user.overlay.opaque in a user namespace (overlayfs with userxattr).
func isOpaque(host string) bool {
	for _, x := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		var b [1]byte
		if n, err := unix.Lgetxattr(host, x, b[:]); err == nil && n == 1 && b[0] == 'y' {
			return true
		}
	}
	return false
}

// walker is a Stack looked up along one path: resolve asks for each
// prefix in turn, and a lookup below the previous one starts from it
// rather than from the root, so n components cost n lookups, not n².
type walker struct {
	s    Stack
	path string // of h, when ok
	h    hit
	ok   bool
}

func (w *walker) find(p string) (hit, error) {
	if w.ok && p == w.path {
		return w.h, nil
	}
	i := strings.LastIndexByte(p, '/')
	parent := p[:max(i, 1)]
	var h hit
	var err error
	if w.ok && w.h.fi.IsDir() && parent == w.path && i >= 0 && p != "/" {
		if h, err = lookupIn(w.h.dirs, p[i+1:]); err != nil {
			err = &fs.PathError{Op: "lstat", Path: p, Err: err}
		}
	} else {
		h, err = w.s.find(p)
	}
	if err != nil {
		return hit{}, err
	}
	w.path, w.h, w.ok = p, h, true
	return h, nil
}

func (w *walker) lstatPhys(p string) (fs.FileInfo, error) {
	h, err := w.find(p)
	return h.fi, err
}

func (w *walker) readlinkPhys(p string) (string, error) {
	h, err := w.find(p)
	if err != nil {
		return "", err
	}
	return os.Readlink(h.host)
}

// lookup resolves p (symlinks in parents, and in p when follow) and finds it.
func (s Stack) lookup(p string, follow bool) (string, hit, error) {
	w := &walker{s: s}
	c, err := resolve(w, cleanAbs(p), follow)
	if err != nil {
		return "", hit{}, err
	}
	h, err := w.find(c)
	return c, h, err
}

// Lstat describes p in the merged view without following p itself.
func (s Stack) Lstat(p string) (fs.FileInfo, error) {
	_, h, err := s.lookup(p, false)
	return h.fi, err
}

// Readlink returns the target of the symlink p.
func (s Stack) Readlink(p string) (string, error) {
	_, h, err := s.lookup(p, false)
	if err != nil {
		return "", err
	}
	return os.Readlink(h.host)
}

// RealPath returns the host path of the topmost layer entry for p (for a
// directory, only the topmost of the merged directories).
func (s Stack) RealPath(p string) (string, error) {
	_, h, err := s.lookup(p, false)
	return h.host, err
}

// ReadDir lists the merged directory p (following p if a symlink), sorted by
// name, without whiteouts or what they hide.
func (s Stack) ReadDir(p string) ([]fs.DirEntry, error) {
	_, h, err := s.lookup(p, true)
	if err != nil {
		return nil, err
	}
	if !h.fi.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: p, Err: syscall.ENOTDIR}
	}
	return mergeDirs(h.dirs)
}

func mergeDirs(dirs []string) ([]fs.DirEntry, error) {
	seen := map[string]bool{}
	var out []fs.DirEntry
	for _, d := range dirs {
		names, err := readNames(d)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if seen[n] {
				continue
			}
			seen[n] = true
			hp := filepath.Join(d, n)
			fi, err := os.Lstat(hp)
			if err != nil {
				return nil, err
			}
			if !isWhiteout(fi) {
				out = append(out, entry{fi: fi, host: hp})
			}
		}
		if isOpaque(d) {
			break
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// entry is a directory entry that knows its host path.
type entry struct {
	fi   fs.FileInfo
	host string
}

func (e entry) Name() string               { return e.fi.Name() }
func (e entry) IsDir() bool                { return e.fi.IsDir() }
func (e entry) Type() fs.FileMode          { return e.fi.Mode().Type() }
func (e entry) Info() (fs.FileInfo, error) { return e.fi, nil }

// hostPath lets Copy skip a second lookup.
func (e entry) hostPath() string { return e.host }

// rootInfo describes the root of an empty Stack.
type rootInfo struct{}

func (rootInfo) Name() string       { return "/" }
func (rootInfo) Size() int64        { return 0 }
func (rootInfo) Mode() fs.FileMode  { return fs.ModeDir | 0o755 }
func (rootInfo) ModTime() time.Time { return time.Unix(0, 0) }
func (rootInfo) IsDir() bool        { return true }
func (rootInfo) Sys() any           { return nil }

// dirName is path.Dir for canonical paths.
func dirName(p string) string { return path.Dir(p) }
