package layer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Errors of hostile or unsupported layer entries.
var (
	errEscape      = errors.New("path escapes the root")
	errNotDir      = errors.New("parent is not a directory")
	errDevice      = errors.New("device nodes are not allowed")
	errLinkTarget  = errors.New("hard link target is missing or a directory")
	errUnsupported = errors.New("unsupported entry type")
)

// extractor applies tar entries to an overlay-format directory. Every
// parent is opened with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS) and
// every change is made relative to that descriptor, so nothing is ever
// written through a symlink or outside the root.
type extractor struct {
	root     int // O_PATH descriptor of the target directory
	opts     ExtractOptions
	buf      []byte
	dirTimes []dirTime // applied last, deepest first
	cache    parentCache
}

type dirTime struct {
	rel   string
	mtime time.Time
}

// parentCache keeps the descriptor of the last parent directory: entries
// come sorted, so consecutive entries usually share it.
type parentCache struct {
	rel string
	fd  int
}

func extract(ctx context.Context, r io.Reader, dir string, opts ExtractOptions) error {
	root, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("extracting layer: opening %s: %w", dir, err)
	}
	x := &extractor{root: root, opts: opts, cache: parentCache{fd: -1}}
	defer x.close()
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("extracting layer: %w", err)
		}
		if opts.Owner != nil {
			hdr.Uid, hdr.Gid = opts.Owner(hdr.Uid, hdr.Gid)
		}
		if err := x.apply(hdr, tr); err != nil {
			return fmt.Errorf("extracting layer: %q: %w", hdr.Name, err)
		}
	}
	return x.finish()
}

func (x *extractor) close() {
	x.dropCache()
	unix.Close(x.root)
}

func (x *extractor) dropCache() {
	if x.cache.fd >= 0 {
		unix.Close(x.cache.fd)
	}
	x.cache = parentCache{fd: -1}
}

// cleanName turns a tar name into a clean path relative to the root ("."
// for the root itself), refusing any that climbs out of it.
func cleanName(name string) (string, error) {
	p := path.Clean(strings.TrimLeft(name, "/"))
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", errEscape
	}
	return p, nil
}

func (x *extractor) apply(hdr *tar.Header, r io.Reader) error {
	rel, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return nil
	case tar.TypeChar, tar.TypeBlock:
		if !x.opts.Devices {
			return errDevice
		}
	}
	dirRel, base := path.Split(rel)
	dirRel = path.Clean(dirRel)
	if rel == "." {
		dirRel, base = ".", "."
	}
	if base == opaqueMarker && !x.opts.Archive {
		return x.markOpaque(dirRel)
	}
	parent, err := x.parent(dirRel)
	if err != nil {
		return err
	}
	if strings.HasPrefix(base, whiteoutMetaPrefix) && !x.opts.Archive {
		return nil // aufs bookkeeping (.wh..wh.plnk and friends), as Docker skips it
	}
	if name, ok := strings.CutPrefix(base, whiteoutPrefix); ok && !x.opts.Archive {
		return x.whiteout(parent, dirRel, name, hdr.ModTime)
	}
	if base == "." {
		if hdr.Typeflag != tar.TypeDir {
			return errEscape
		}
		return x.setDirMeta(x.root, ".", rel, hdr)
	}
	return x.create(parent, rel, base, hdr, r)
}

// parent returns an O_PATH descriptor of the directory rel, creating missing
// directories (0755) on the way and refusing symlinks and non-directories.
func (x *extractor) parent(rel string) (int, error) {
	if rel == "." {
		return x.root, nil
	}
	if x.cache.fd >= 0 && x.cache.rel == rel {
		return x.cache.fd, nil
	}
	var fd int
	var err error
	if sub, ok := strings.CutPrefix(rel, x.cache.rel+"/"); ok && x.cache.fd >= 0 {
		fd, err = openDirIn(x.cache.fd, sub) // tar order: a child of the last parent
	} else {
		fd, err = x.openDir(rel)
	}
	if errors.Is(err, unix.ENOENT) {
		fd, err = x.mkdirAll(rel)
	}
	if err != nil {
		return -1, err
	}
	x.dropCache()
	x.cache = parentCache{rel: rel, fd: fd}
	return fd, nil
}

func (x *extractor) openDir(rel string) (int, error) {
	return openDirIn(x.root, rel)
}

// openDirIn opens the directory rel below dirfd (O_PATH).
func openDirIn(dirfd int, rel string) (int, error) {
	fd, err := openBeneath(dirfd, rel, unix.O_PATH|unix.O_DIRECTORY)
	switch {
	case err == nil:
		return fd, nil
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR), errors.Is(err, unix.EXDEV):
		return -1, errNotDir
	}
	return -1, err
}

// mkdirAll creates rel component by component, never following a symlink.
func (x *extractor) mkdirAll(rel string) (int, error) {
	fd, err := unix.Dup(x.root)
	if err != nil {
		return -1, err
	}
	for _, c := range strings.Split(rel, "/") {
		if err := unix.Mkdirat(fd, c, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			unix.Close(fd)
			return -1, err
		}
		next, err := unix.Openat(fd, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return -1, errNotDir
		}
		if err != nil {
			return -1, err
		}
		fd = next
	}
	return fd, nil
}

// markOpaque sets the opaque xattr on directory rel.
func (x *extractor) markOpaque(rel string) error {
	if _, err := x.parent(rel); err != nil {
		return err
	}
	fd, err := x.openDirRW(rel)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	err = unix.Fsetxattr(fd, opaqueXattr, []byte("y"), 0)
	if errors.Is(err, unix.EPERM) {
		// A user namespace: overlayfs there reads user.overlay.*.
		err = unix.Fsetxattr(fd, userOpaqueXattr, []byte("y"), 0)
	}
	return err
}

// openDirRW opens directory rel for metadata changes (fsetxattr refuses
// O_PATH descriptors).
func (x *extractor) openDirRW(rel string) (int, error) {
	return openBeneath(x.root, rel, unix.O_RDONLY|unix.O_DIRECTORY)
}

// openBeneath opens rel below dirfd with openat2, refusing symlinks and
// escapes; a rel longer than a syscall takes (deep trees pass PATH_MAX)
// is opened a piece at a time, each piece beneath the last.
func openBeneath(dirfd int, rel string, flags int) (int, error) {
	how := &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	if len(rel) < unix.PathMax {
		return unix.Openat2(dirfd, rel, how)
	}
	cut := strings.LastIndexByte(rel[:unix.PathMax], '/')
	if cut <= 0 {
		return -1, unix.ENAMETOOLONG
	}
	fd, err := openBeneath(dirfd, rel[:cut], unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return -1, err
	}
	defer unix.Close(fd)
	return openBeneath(fd, rel[cut+1:], flags)
}

// whiteout replaces whatever is at name with a 0/0 character device.
func (x *extractor) whiteout(parent int, dirRel, name string, mtime time.Time) error {
	if name == "" || name == "." || name == ".." {
		return errEscape
	}
	if err := x.remove(parent, path.Join(dirRel, name), name); err != nil {
		return err
	}
	if err := unix.Mknodat(parent, name, unix.S_IFCHR, 0); err != nil {
		return err
	}
	return unix.UtimesNanoAt(parent, name, mtimes(mtime), unix.AT_SYMLINK_NOFOLLOW)
}

// remove deletes whatever is at name in parent (recursively for a
// directory); a missing entry is fine.
func (x *extractor) remove(parent int, rel, name string) error {
	err := unix.Unlinkat(parent, name, 0)
	switch {
	case err == nil, errors.Is(err, unix.ENOENT):
		return nil
	case !errors.Is(err, unix.EISDIR):
		return err
	}
	x.dropCacheUnder(rel)
	return removeAllAt(parent, name)
}

// dropCacheUnder forgets the cached parent if rel is it or one of its
// ancestors.
func (x *extractor) dropCacheUnder(rel string) {
	if x.cache.fd >= 0 && (x.cache.rel == rel || strings.HasPrefix(x.cache.rel, rel+"/")) {
		x.dropCache()
	}
}

// removeAllAt removes the directory name in parent and everything in it,
// never following symlinks.
func removeAllAt(parent int, name string) error {
	fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	names, err := f.Readdirnames(-1)
	if err != nil {
		f.Close()
		return err
	}
	for _, n := range names {
		err := unix.Unlinkat(fd, n, 0)
		if errors.Is(err, unix.EISDIR) {
			err = removeAllAt(fd, n)
		}
		if err != nil && !errors.Is(err, unix.ENOENT) {
			f.Close()
			return err
		}
	}
	f.Close()
	return unix.Unlinkat(parent, name, unix.AT_REMOVEDIR)
}

// create makes the entry base in parent, replacing an existing entry unless
// both are directories.
func (x *extractor) create(parent int, rel, base string, hdr *tar.Header, r io.Reader) error {
	var st unix.Stat_t
	err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	exists := err == nil
	if exists && hdr.Typeflag == tar.TypeDir && st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return x.setDirMeta(parent, base, rel, hdr)
	}
	if exists {
		if err := x.remove(parent, rel, base); err != nil {
			return err
		}
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(parent, base, 0o700); err != nil {
			return err
		}
		return x.setDirMeta(parent, base, rel, hdr)
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
		return x.createFile(parent, base, hdr, r)
	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, parent, base); err != nil {
			return err
		}
		return x.setNodeMeta(parent, base, hdr, false)
	case tar.TypeLink:
		if err := x.hardlink(parent, base, hdr.Linkname); err != nil {
			return err
		}
		return x.setLinkMeta(parent, base, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return x.mknod(parent, base, hdr)
	}
	return fmt.Errorf("%w %q", errUnsupported, hdr.Typeflag)
}

func (x *extractor) createFile(parent int, base string, hdr *tar.Header, r io.Reader) error {
	fd, err := unix.Openat(parent, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), base)
	defer f.Close()
	if x.buf == nil {
		x.buf = make([]byte, copyBufSize)
	}
	if _, err := io.CopyBuffer(onlyWriter{f}, r, x.buf); err != nil {
		return err
	}
	return setFdMeta(fd, hdr)
}

// onlyWriter hides ReadFrom so CopyBuffer uses our buffer.
type onlyWriter struct{ io.Writer }

// setFdMeta sets owner, mode (after chown, which clears setuid), xattrs and
// mtime through an open descriptor.
func setFdMeta(fd int, hdr *tar.Header) error {
	if err := chownErr(unix.Fchown(fd, hdr.Uid, hdr.Gid), hdr); err != nil {
		return err
	}
	if err := unix.Fchmod(fd, tarMode(hdr)); err != nil {
		return err
	}
	for k, v := range tarXattrs(hdr) {
		if err := unix.Fsetxattr(fd, k, []byte(v), 0); err != nil {
			return fmt.Errorf("setting xattr %s: %w", k, err)
		}
	}
	return futimes(fd, hdr.ModTime)
}

// chownErr explains a chown that failed because the owner has no id in
// this user namespace. When only the user's own id is mapped (no
// subordinate range), the entry stays root's: strata said once that files
// cannot belong to other users then.
func chownErr(err error, hdr *tar.Header) error {
	if !errors.Is(err, unix.EINVAL) {
		return err
	}
	if singleMapping() {
		return nil
	}
	return fmt.Errorf("owner %d:%d is not mapped in this user namespace (a larger range in /etc/subuid and /etc/subgid maps it): %w", hdr.Uid, hdr.Gid, err)
}

// singleMapping reports a user namespace that maps one id alone.
func singleMapping() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	f := strings.Fields(lines[0])
	return len(lines) == 1 && len(f) == 3 && f[2] == "1"
}

func mtimes(t time.Time) []unix.Timespec {
	ts := unix.NsecToTimespec(t.UnixNano())
	return []unix.Timespec{ts, ts}
}

// tarMode maps the tar mode (permissions plus setuid, setgid, sticky) to
// chmod bits.
func tarMode(hdr *tar.Header) uint32 {
	return uint32(hdr.Mode & 0o7777)
}

// tarXattrs returns the xattrs of hdr that may be set; overlay's own are
// refused so a tar cannot forge opaque dirs or redirects.
func tarXattrs(hdr *tar.Header) map[string]string {
	var out map[string]string
	for k, v := range hdr.PAXRecords {
		key, ok := strings.CutPrefix(k, paxXattr)
		if !ok || !keepXattr(key) {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[key] = v
	}
	return out
}

// setDirMeta updates a directory; its mtime is applied at the end, after
// its children are written.
func (x *extractor) setDirMeta(parent int, base, rel string, hdr *tar.Header) error {
	fd, err := unix.Openat(parent, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := chownErr(unix.Fchown(fd, hdr.Uid, hdr.Gid), hdr); err != nil {
		return err
	}
	if err := unix.Fchmod(fd, tarMode(hdr)); err != nil {
		return err
	}
	for k, v := range tarXattrs(hdr) {
		if err := unix.Fsetxattr(fd, k, []byte(v), 0); err != nil {
			return fmt.Errorf("setting xattr %s: %w", k, err)
		}
	}
	x.dirTimes = append(x.dirTimes, dirTime{rel: rel, mtime: hdr.ModTime})
	return nil
}

// setNodeMeta sets owner, mode (unless a symlink), xattrs and mtime of a
// node that cannot be opened for writing (symlink, device, fifo).
func (x *extractor) setNodeMeta(parent int, base string, hdr *tar.Header, chmod bool) error {
	if err := chownErr(unix.Fchownat(parent, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW), hdr); err != nil {
		return err
	}
	if chmod {
		// Not a symlink: we just created it with mknodat.
		if err := unix.Fchmodat(parent, base, tarMode(hdr), 0); err != nil {
			return err
		}
	}
	if xs := tarXattrs(hdr); len(xs) > 0 {
		p := "/proc/self/fd/" + strconv.Itoa(parent) + "/" + base
		for k, v := range xs {
			if err := unix.Lsetxattr(p, k, []byte(v), 0); err != nil {
				return fmt.Errorf("setting xattr %s: %w", k, err)
			}
		}
	}
	return unix.UtimesNanoAt(parent, base, mtimes(hdr.ModTime), unix.AT_SYMLINK_NOFOLLOW)
}

func (x *extractor) mknod(parent int, base string, hdr *tar.Header) error {
	mode := uint32(unix.S_IFIFO)
	switch hdr.Typeflag {
	case tar.TypeChar:
		mode = unix.S_IFCHR
	case tar.TypeBlock:
		mode = unix.S_IFBLK
	}
	dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
	if err := unix.Mknodat(parent, base, mode|0o600, int(dev)); err != nil {
		if errors.Is(err, unix.EPERM) && mode != unix.S_IFIFO {
			// A user namespace cannot make device nodes: the extracted
			// tree goes without (a step could not open one anyway).
			return nil
		}
		return err
	}
	return x.setNodeMeta(parent, base, hdr, true)
}

// hardlink links base in parent to target, which must be a non-directory
// already inside the root, reached without symlinks.
func (x *extractor) hardlink(parent int, base, linkname string) error {
	target, err := cleanName(linkname)
	if err != nil || target == "." {
		return fmt.Errorf("hard link to %q: %w", linkname, errEscape)
	}
	tdir, tbase := path.Split(target)
	tfd, err := x.openDir(path.Clean(tdir))
	if err != nil {
		return fmt.Errorf("hard link to %q: %w", linkname, err)
	}
	defer unix.Close(tfd)
	var st unix.Stat_t
	if err := unix.Fstatat(tfd, tbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fmt.Errorf("hard link to %q: %w", linkname, errLinkTarget)
	}
	return unix.Linkat(tfd, tbase, parent, base, 0)
}

// setLinkMeta gives the file a hard link entry shares the entry's owner,
// mode, xattrs and mtime, as containerd's and moby's untar do (Lchown,
// Chmod unless a symlink, Chtimes on every entry): a tar whose link entry
// records other metadata than its target changes the shared file, as
// BuildKit extracts it.
func (x *extractor) setLinkMeta(parent int, base string, hdr *tar.Header) error {
	var st unix.Stat_t
	if err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	return x.setNodeMeta(parent, base, hdr, st.Mode&unix.S_IFMT != unix.S_IFLNK)
}

// finish applies directory mtimes, deepest first, now that no more
// children will be written.
func (x *extractor) finish() error {
	for i := len(x.dirTimes) - 1; i >= 0; i-- {
		d := x.dirTimes[i]
		if err := x.setDirTime(d); err != nil {
			return fmt.Errorf("extracting layer: setting mtime of %q: %w", d.rel, err)
		}
	}
	return nil
}

// setDirTime sets the mtime of a directory written earlier, if it is still
// a directory reachable without symlinks.
func (x *extractor) setDirTime(d dirTime) error {
	fd, err := x.openDirRW(d.rel)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) {
		return nil // replaced later in the tar
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return futimes(fd, d.mtime)
}

func futimes(fd int, t time.Time) error {
	tv := unix.NsecToTimeval(t.UnixNano())
	return unix.Futimes(fd, []unix.Timeval{tv, tv})
}
