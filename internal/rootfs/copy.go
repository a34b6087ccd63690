package rootfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/moby/patternmatcher"
	"golang.org/x/sys/unix"
)

// copier carries one COPY/ADD: where it reads, the merged view it writes
// over (under plus layerDir on top) and the options.
type copier struct {
	ctx      context.Context
	src      Source
	isCtx    bool  // src is a build context: owners become 0:0
	view     Stack // under with layerDir on top
	layerDir string
	opts     CopyOptions
	chmod    chmodFunc
	dirMode  fs.FileMode // mode of directories created for the destination
	exclude  *patternmatcher.PatternMatcher
	newTime  time.Time          // mtime of directories created for the destination
	links    map[fileKey]string // source inode -> first destination path
	fresh    map[string]bool    // directories new in layerDir: nothing below them in under
	dirTimes []dirTime          // applied last, deepest first
	wroteDst bool               // a non-directory was written at the destination itself
}

type fileKey struct{ dev, ino uint64 }

type dirTime struct {
	rel   string // canonical path in layerDir
	mtime time.Time
}

func newCopier(ctx context.Context, src Source, under Stack, layerDir string, opts CopyOptions) (*copier, error) {
	chmod, err := parseChmod(opts.Chmod)
	if err != nil {
		return nil, err
	}
	c := &copier{
		ctx:      ctx,
		view:     Stack{Dirs: append(append([]string(nil), under.Dirs...), layerDir)},
		layerDir: layerDir,
		opts:     opts,
		chmod:    chmod,
		newTime:  time.Now(),
		links:    map[fileKey]string{},
		fresh:    map[string]bool{},
	}
	c.use(src)
	if opts.Clamp != nil && c.newTime.After(*opts.Clamp) {
		c.newTime = *opts.Clamp
	}
	if c.opts.Mkdir == 0 {
		c.opts.Mkdir = 0o755
	}
	c.dirMode = createdDirMode(opts.Chmod, c.opts.Mkdir)
	if len(opts.Exclude) > 0 {
		if c.exclude, err = patternmatcher.New(opts.Exclude); err != nil {
			return nil, fmt.Errorf("parsing --exclude patterns: %w", err)
		}
	}
	if err := c.copyUpRoot(under); err != nil {
		return nil, err
	}
	return c, nil
}

// item is one source to copy: its path as matched (before following it)
// and, for --parents, the part of it kept under the destination.
type item struct {
	orig string // the pattern as written, for errors
	path string
	rel  string // with --parents, the path after the pivot (also what --exclude matches)
}

// errSeveral is the classic builder's refusal of several sources onto one
// non-directory destination.
var errSeveral = errors.New("When using COPY with more than one source file, the destination must be a directory and end with a /")

func (c *copier) run(groups []Sources, dst string) error {
	dstIsDir := strings.HasSuffix(dst, "/") || c.opts.Parents
	dstCanon, err := resolve(&walker{s: c.view}, cleanAbs(dst), true)
	if err != nil {
		return fmt.Errorf("resolving destination %s: %w", dst, err)
	}
	for _, g := range groups {
		c.use(g.From)
		for _, s := range g.Paths {
			items, err := c.expand(s)
			if err != nil {
				return err
			}
			for _, it := range items {
				if err := c.copyItem(it, dstCanon, dstIsDir); err != nil {
					return err
				}
			}
		}
	}
	return c.finish()
}

// use makes src the source of the following items.
func (c *copier) use(src Source) {
	c.src = src
	_, c.isCtx = src.(*Dir)
}

func (c *copier) isDirInView(p string) bool {
	fi, err := c.existing(p)
	return err == nil && fi.IsDir()
}

// existing describes what is at the canonical path p in the view; under a
// directory new in layerDir only layerDir needs a look.
func (c *copier) existing(p string) (fs.FileInfo, error) {
	if c.fresh[path.Dir(p)] {
		return os.Lstat(c.layerPath(p))
	}
	h, err := c.view.find(p)
	return h.fi, err
}

// copyItem copies one source following Docker's rules: the source itself
// is followed if a symlink; a directory's contents go into the destination;
// a file goes to dst/name when dst is a directory (or ends with "/") by
// now, else to dst itself. Items are copied one after the other as
// BuildKit's FileOp copies its sources (and fsutil's Copy the matches of a
// wildcard), so a directory copied first makes dst a directory the
// following files go into. With --parents, the path after the pivot is kept.
func (c *copier) copyItem(it item, dst string, dstIsDir bool) error {
	srcPath, err := resolve(physOf(c.src), it.path, true)
	if err != nil {
		return fmt.Errorf("resolving %s: %w", it.path, err)
	}
	fi, err := c.src.Lstat(srcPath)
	if err != nil {
		return c.notFound(it.orig, err)
	}
	// --exclude matches paths under the root of BuildKit's copy (fsutil
	// copy.Copy, srcComponents): the source itself, each match of a
	// wildcard, is never excluded; with --parents the root is the pivot
	// (or the context root), so the item's own path after it counts, and
	// the destination is made all the same.
	if c.opts.Parents {
		if err := c.ensureDir(dst); err != nil {
			return err
		}
	}
	if ex, err := c.excluded(it.rel, fi.IsDir()); err != nil || ex {
		return err
	}
	host, err := c.src.RealPath(srcPath)
	if err != nil {
		return err
	}
	if c.opts.Parents {
		return c.copyParents(it, srcPath, fi, host, dst)
	}
	if fi.IsDir() {
		if err := c.ensureDir(dst); err != nil {
			return err
		}
		return c.copyChildren(srcPath, dst, "")
	}
	if ok, err := c.tryExtract(fi, host, dst); ok || err != nil {
		return err
	}
	target := dst
	switch {
	case dstIsDir || c.isDirInView(dst):
		target = path.Join(dst, path.Base(it.path))
	case c.wroteDst:
		// BuildKit copies each source in turn onto dst, the last one
		// replacing the others without a word; strata refuses instead.
		return errSeveral
	default:
		c.wroteDst = true
	}
	if err := c.ensureDir(path.Dir(target)); err != nil {
		return err
	}
	return c.copyEntry(srcPath, fi, host, target, "")
}

// copyParents copies an item under dst keeping its path after the pivot;
// the directories on that path take their metadata from the source.
func (c *copier) copyParents(it item, srcPath string, fi fs.FileInfo, host, dst string) error {
	segs := splitPath(it.rel)
	srcDir := strings.TrimSuffix(it.path, it.rel)
	for i := range len(segs) - 1 {
		sp := path.Join(srcDir, path.Join(segs[:i+1]...))
		sfi, err := c.src.Lstat(sp)
		if err != nil {
			return err
		}
		h, err := c.src.RealPath(sp)
		if err != nil {
			return err
		}
		if err := c.writeDir(path.Join(dst, path.Join(segs[:i+1]...)), sfi, h); err != nil {
			return err
		}
	}
	return c.copyEntry(srcPath, fi, host, path.Join(dst, it.rel), it.rel)
}

// copyChildren copies the entries of the source directory srcDir into dst.
func (c *copier) copyChildren(srcDir, dst, rel string) error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	des, err := c.src.ReadDir(srcDir)
	if err != nil {
		return fmt.Errorf("reading %s: %w", srcDir, err)
	}
	for _, de := range des {
		fi, err := de.Info()
		if err != nil {
			return err
		}
		sp := path.Join(srcDir, de.Name())
		host, err := c.hostOf(de, sp)
		if err != nil {
			return err
		}
		if err := c.copyEntry(sp, fi, host, path.Join(dst, de.Name()), path.Join(rel, de.Name())); err != nil {
			return err
		}
	}
	return nil
}

// hostOf returns the host path of a directory entry, without a second
// lookup when the Source already knows it.
func (c *copier) hostOf(de fs.DirEntry, p string) (string, error) {
	if h, ok := de.(interface{ hostPath() string }); ok {
		return h.hostPath(), nil
	}
	return c.src.RealPath(p)
}

func (c *copier) excluded(rel string, isDir bool) (bool, error) {
	if c.exclude == nil || rel == "" {
		return false, nil
	}
	m, err := c.exclude.MatchesOrParentMatches(rel)
	if err != nil || !m {
		return false, err
	}
	if isDir && c.exclude.Exclusions() {
		for _, pat := range c.exclude.Patterns() {
			if pat.Exclusion() && strings.HasPrefix(pat.String()+"/", rel+"/") {
				return false, nil
			}
		}
	}
	return true, nil
}

// copyEntry copies one source entry (not followed) to dst in layerDir.
func (c *copier) copyEntry(srcPath string, fi fs.FileInfo, host, dst, rel string) error {
	if ex, err := c.excluded(rel, fi.IsDir()); err != nil || ex {
		return err
	}
	switch {
	case fi.IsDir():
		if err := c.writeDir(dst, fi, host); err != nil {
			return err
		}
		return c.copyChildren(srcPath, dst, rel)
	case fi.Mode().IsRegular():
		return c.writeFile(fi, host, dst)
	case fi.Mode()&fs.ModeSymlink != 0:
		return c.writeSymlink(fi, host, dst)
	case fi.Mode()&(fs.ModeDevice|fs.ModeNamedPipe) != 0:
		if isWhiteout(fi) {
			return nil // only an overlay whiteout, never content
		}
		return c.writeNode(fi, host, dst)
	}
	return nil // sockets are not copied
}

// layerPath is the host path of dst in layerDir.
func (c *copier) layerPath(dst string) string { return filepath.Join(c.layerDir, dst) }

// prepare makes room for a non-directory at dst: refuses a directory there
// (BuildKit: "cannot replace to directory ... with file") and removes an
// earlier non-directory in layerDir.
func (c *copier) prepare(dst string) error {
	if c.isDirInView(dst) {
		return fmt.Errorf("cannot replace to directory %s with file", dst)
	}
	err := os.Remove(c.layerPath(dst))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (c *copier) writeDir(dst string, fi fs.FileInfo, host string) error {
	fi0, err := c.existing(dst)
	if err == nil && !fi0.IsDir() {
		return fmt.Errorf("cannot copy to non-directory: %s", dst)
	}
	if errors.Is(err, fs.ErrNotExist) {
		c.fresh[dst] = true
	}
	if err := c.ensureDir(path.Dir(dst)); err != nil {
		return err
	}
	lp := c.layerPath(dst)
	if err := os.Mkdir(lp, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return c.setMeta(dst, fi, host, true)
}

func (c *copier) writeFile(fi fs.FileInfo, host, dst string) error {
	if err := c.prepare(dst); err != nil {
		return err
	}
	lp := c.layerPath(dst)
	key, multi := inodeKey(fi)
	if multi {
		if first, ok := c.links[key]; ok {
			return os.Link(c.layerPath(first), lp)
		}
		c.links[key] = dst
	}
	if err := copyContent(host, lp); err != nil {
		return fmt.Errorf("copying %s: %w", dst, err)
	}
	return c.setMeta(dst, fi, host, false)
}

func inodeKey(fi fs.FileInfo) (fileKey, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Nlink < 2 {
		return fileKey{}, false
	}
	return fileKey{uint64(st.Dev), st.Ino}, true
}

func copyContent(from, to string) error {
	in, err := os.OpenFile(from, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func (c *copier) writeSymlink(fi fs.FileInfo, host, dst string) error {
	if err := c.prepare(dst); err != nil {
		return err
	}
	target, err := os.Readlink(host)
	if err != nil {
		return err
	}
	lp := c.layerPath(dst)
	if err := os.Symlink(target, lp); err != nil {
		return err
	}
	return c.setMeta(dst, fi, host, false)
}

func (c *copier) writeNode(fi fs.FileInfo, host, dst string) error {
	if err := c.prepare(dst); err != nil {
		return err
	}
	st := fi.Sys().(*syscall.Stat_t)
	lp := c.layerPath(dst)
	if err := unix.Mknod(lp, st.Mode&unix.S_IFMT|0o600, int(st.Rdev)); err != nil {
		return err
	}
	return c.setMeta(dst, fi, host, false)
}

// owner is the owner written for a source entry.
func (c *copier) owner(fi fs.FileInfo) Owner {
	switch {
	case c.opts.Chown != nil:
		return *c.opts.Chown
	case c.isCtx:
		return Owner{}
	}
	st := fi.Sys().(*syscall.Stat_t)
	return Owner{UID: int(st.Uid), GID: int(st.Gid)}
}

func (c *copier) mtime(t time.Time) time.Time {
	if c.opts.Clamp != nil && t.After(*c.opts.Clamp) {
		return *c.opts.Clamp
	}
	return t
}

// setMeta gives lp the owner, mode (after chown: chown clears setuid),
// xattrs and mtime of the source entry; a directory's mtime waits until
// its children are written.
func (c *copier) setMeta(dst string, fi fs.FileInfo, host string, isDir bool) error {
	lp := c.layerPath(dst)
	o := c.owner(fi)
	if err := os.Lchown(lp, o.UID, o.GID); err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		mode := c.chmod(unixMode(fi.Mode()), isDir)
		if err := unix.Fchmodat(unix.AT_FDCWD, lp, mode, 0); err != nil {
			return err
		}
	}
	if err := copyXattrs(host, lp); err != nil {
		return err
	}
	if isDir {
		c.dirTimes = append(c.dirTimes, dirTime{rel: dst, mtime: c.mtime(fi.ModTime())})
		return nil
	}
	return setMtime(lp, c.mtime(fi.ModTime()))
}

func setMtime(p string, t time.Time) error {
	ts := unix.NsecToTimespec(t.UnixNano())
	return unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}

// finish applies directory mtimes, deepest (latest written) first, moving
// a cursor from one to the next: neighbours in that order are close.
func (c *copier) finish() error {
	if len(c.dirTimes) == 0 {
		return nil
	}
	cur, err := openCursor(c.layerDir)
	if err != nil {
		return err
	}
	defer cur.close()
	for _, d := range slices.Backward(c.dirTimes) {
		if err := cur.moveTo(d.rel[:max(strings.LastIndexByte(d.rel, '/'), 1)]); err != nil {
			return err
		}
		ts := unix.NsecToTimespec(d.mtime.UnixNano())
		dir, name := cur.fd, d.rel[strings.LastIndexByte(d.rel, '/')+1:]
		if name == "" {
			dir, name = unix.AT_FDCWD, c.layerDir
		}
		if err := unix.UtimesNanoAt(dir, name, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &fs.PathError{Op: "utimensat", Path: d.rel, Err: err}
		}
	}
	return nil
}

// copyXattrs copies the xattrs of from to to, except overlay's own.
func copyXattrs(from, to string) error {
	keys, err := listXattrs(from)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if strings.HasPrefix(k, "trusted.overlay.") || strings.HasPrefix(k, "user.overlay.") || k == "security.selinux" {
			continue
		}
		v, err := getXattr(from, k)
		if err != nil {
			return err
		}
		if err := unix.Lsetxattr(to, k, v, 0); err != nil {
			return fmt.Errorf("setting xattr %s on %s: %w", k, to, err)
		}
	}
	return nil
}

func listXattrs(p string) ([]string, error) {
	buf := make([]byte, 1024)
	for {
		n, err := unix.Llistxattr(p, buf)
		if err == unix.ERANGE {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if err == unix.ENOTSUP {
			return nil, nil
		}
		if err != nil {
			return nil, &fs.PathError{Op: "llistxattr", Path: p, Err: err}
		}
		var keys []string
		for _, k := range strings.Split(string(buf[:n]), "\x00") {
			if k != "" {
				keys = append(keys, k)
			}
		}
		return keys, nil
	}
}

func getXattr(p, k string) ([]byte, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(p, k, buf)
		if err == unix.ERANGE {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "lgetxattr " + k, Path: p, Err: err}
		}
		return buf[:n], nil
	}
}

// physOf returns src's own resolution primitives, or ones built from its
// Lstat and Readlink (which already resolve parents inside the source).
func physOf(src Source) physical {
	if s, ok := src.(Stack); ok {
		return &walker{s: s}
	}
	if p, ok := src.(physical); ok {
		return p
	}
	return sourcePhys{src}
}

type sourcePhys struct{ src Source }

func (s sourcePhys) lstatPhys(p string) (fs.FileInfo, error) { return s.src.Lstat(p) }
func (s sourcePhys) readlinkPhys(p string) (string, error)   { return s.src.Readlink(p) }
