package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

const (
	whiteoutPrefix     = ".wh."
	opaqueMarker       = ".wh..wh..opq"
	whiteoutMetaPrefix = ".wh..wh."
	// opaqueXattr marks an opaque dir as overlayfs reads it; where
	// trusted xattrs cannot be set (a user namespace, where overlayfs is
	// mounted with userxattr), userOpaqueXattr does.
	opaqueXattr     = "trusted.overlay.opaque"
	userOpaqueXattr = "user.overlay.opaque"
	paxXattr        = "SCHILY.xattr."
)

// Compression parameters are fixed (the kind and level are
// WriteOptions.Compression): changing any of them changes every layer
// digest of that kind.
const gzipBlockSize = 1 << 20

// copyBufSize is the buffer extraction copies files with.
const copyBufSize = 1 << 20

// writeCompressed tars dir into a blob compressed as opts.Compression
// says, hashing both the tar and the blob on the way.
func writeCompressed(ctx context.Context, dir string, w io.Writer, opts WriteOptions) (Descriptor, error) {
	bw, err := newBlobWriter(w, opts.Compression)
	if err != nil {
		return Descriptor{}, err
	}
	return bw.close(writeTar(ctx, dir, bw.stream, opts))
}

// BlobHasher is a writer that hashes (sha256) and counts what it is given,
// as the store's blob writer does: WriteCompressed and Recompress then
// take the blob's digest and size from it rather than hashing the blob a
// second time.
type BlobHasher interface {
	io.Writer
	// BlobDigest is the sha256 and size of what was written so far.
	BlobDigest() (v1.Hash, int64)
}

// blobSink is where a blob is written, and how its digest and size are
// known once it is: w's own when it is a BlobHasher.
func blobSink(w io.Writer) (io.Writer, func() (v1.Hash, int64)) {
	if bh, ok := w.(BlobHasher); ok {
		return w, bh.BlobDigest
	}
	ch := &countingHash{h: sha256.New()}
	return io.MultiWriter(w, ch), func() (v1.Hash, int64) { return ch.hash(), ch.n }
}

// countingHash is an io.Writer that hashes and counts.
type countingHash struct {
	h hash.Hash
	n int64
}

func (c *countingHash) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

func (c *countingHash) hash() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", c.h.Sum(nil))}
}

// writeTar writes the deterministic tar of dir to out.
func writeTar(ctx context.Context, dir string, out *stream, opts WriteOptions) error {
	tw := &tarWriter{
		ctx:   ctx,
		tw:    tar.NewWriter(out),
		out:   out,
		clamp: opts.Clamp,
		lower: opts.Lower,
		since: opts.Since,
		links: map[fileID]string{},
	}
	if err := tw.writeAll(dir); err != nil {
		return fmt.Errorf("writing layer %s: %w", dir, err)
	}
	return nil
}

// writeAll walks dir into the tar and ends it.
func (t *tarWriter) writeAll(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	fd, err = t.walk(fd, "")
	if fd >= 0 {
		unix.Close(fd)
	}
	if err != nil {
		return err
	}
	return t.tw.Close()
}

type fileID struct{ dev, ino uint64 }

// tarWriter walks one overlay-format directory into a tar stream.
type tarWriter struct {
	ctx   context.Context
	tw    *tar.Writer
	out   *stream // what tw writes to: file contents are read into it
	clamp *time.Time
	lower LowerFS
	since time.Time
	links map[fileID]string // first tar name of each multiply-linked file
}

// child is one directory entry with the name it gets in the tar.
type child struct {
	name string // name in the tar (".wh.NAME" for whiteouts)
	base string // name in its directory
	st   unix.Stat_t
}

// walk writes the children of the directory open as fd (tar name prefix
// rel, "" for the root) sorted by their tar names, each directory followed
// by its own children. Everything is fd-relative, so depth is not limited
// by PATH_MAX, and at most two directories are open at once: fd is closed
// while a child is walked and opened again through "..". walk returns the
// descriptor then open for the directory (-1 if none).
func (t *tarWriter) walk(fd int, rel string) (int, error) {
	if err := t.ctx.Err(); err != nil {
		return fd, err
	}
	kids, err := readChildren(fd, rel)
	if err != nil {
		return fd, err
	}
	for _, k := range kids {
		name := path.Join(rel, k.name)
		if err := t.entry(fd, k, name); err != nil {
			return fd, err
		}
		if k.st.Mode&unix.S_IFMT == unix.S_IFDIR {
			if fd, err = t.descend(fd, k.base, name); err != nil {
				return fd, err
			}
		}
	}
	return fd, nil
}

// descend walks the child directory base of fd and returns fd's directory
// opened again.
func (t *tarWriter) descend(fd int, base, name string) (int, error) {
	var self unix.Stat_t
	if err := unix.Fstat(fd, &self); err != nil {
		return fd, err
	}
	cfd, err := unix.Openat(fd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fd, &os.PathError{Op: "open", Path: name, Err: err}
	}
	unix.Close(fd)
	cfd, werr := t.walk(cfd, name)
	if cfd < 0 {
		return -1, werr
	}
	fd, err = unix.Openat(cfd, "..", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	unix.Close(cfd)
	if err != nil {
		return -1, errors.Join(werr, &os.PathError{Op: "open", Path: name + "/..", Err: err})
	}
	var back unix.Stat_t
	if err := unix.Fstat(fd, &back); err != nil || back.Dev != self.Dev || back.Ino != self.Ino {
		return fd, errors.Join(werr, err, fmt.Errorf("%s moved while being written", name))
	}
	return fd, werr
}

// readChildren lists and stats the entries of the directory fd (rel in
// the layer, for errors).
func readChildren(fd int, rel string) ([]child, error) {
	names, err := readNames(fd)
	if err != nil {
		return nil, &os.PathError{Op: "readdir", Path: rel, Err: err}
	}
	kids := make([]child, 0, len(names))
	for _, n := range names {
		k := child{name: n, base: n}
		if err := unix.Fstatat(fd, n, &k.st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return nil, &os.PathError{Op: "lstat", Path: path.Join(rel, n), Err: err}
		}
		if isWhiteout(&k.st) {
			k.name = whiteoutPrefix + n
		}
		kids = append(kids, k)
	}
	sort.Slice(kids, func(i, j int) bool { return kids[i].name < kids[j].name })
	return kids, nil
}

// readNames reads the names in the directory fd, from its current offset
// (fresh descriptors only).
func readNames(fd int) ([]string, error) {
	buf := make([]byte, 8<<10)
	var names []string
	for {
		n, err := unix.ReadDirent(fd, buf)
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

func isWhiteout(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

// entry writes one tar entry, k in the directory fd (plus the opaque
// marker of an opaque dir).
func (t *tarWriter) entry(fd int, k child, name string) error {
	if isWhiteout(&k.st) {
		return t.tw.WriteHeader(t.marker(name, &k.st))
	}
	if t.lower != nil && k.st.Mode&unix.S_IFMT != unix.S_IFDIR && time.Unix(k.st.Mtim.Unix()).Before(t.since) {
		same, err := t.copiedUp(fd, k, name)
		if err != nil {
			return err
		}
		if same {
			// Left out before header records it: another name of the
			// same file becomes the first of its links.
			return nil
		}
	}
	hdr, err := t.header(fd, k, name)
	if err != nil {
		return err
	}
	if err := t.tw.WriteHeader(hdr); err != nil {
		return err
	}
	switch {
	case hdr.Typeflag == tar.TypeReg && hdr.Size > 0:
		return t.copyFile(fd, k.base, name, hdr.Size)
	case hdr.Typeflag == tar.TypeDir && isOpaque(procPath(fd, k.base)):
		return t.tw.WriteHeader(t.marker(path.Join(name, opaqueMarker), &k.st))
	}
	return nil
}

// copiedUp reports an entry that is in the lower filesystem alike: only
// copied up by overlayfs, not changed (see WriteOptions.Lower).
func (t *tarWriter) copiedUp(fd int, k child, name string) (bool, error) {
	fi, err := t.lower.Lstat("/" + name)
	if err != nil {
		return false, nil // not there (or not reachable): an addition
	}
	ls, ok := fi.Sys().(*syscall.Stat_t)
	st := &k.st
	if !ok || ls.Mode != st.Mode || ls.Uid != st.Uid || ls.Gid != st.Gid || ls.Rdev != st.Rdev ||
		ls.Size != st.Size || ls.Mtim.Sec != st.Mtim.Sec {
		return false, nil
	}
	host, err := t.lower.RealPath("/" + name)
	if err != nil {
		return false, nil
	}
	upperCaps, _ := getxattrBytes(procPath(fd, k.base), "security.capability")
	lowerCaps, _ := getxattrBytes(host, "security.capability")
	if !bytes.Equal(upperCaps, lowerCaps) {
		return false, nil
	}
	if ls.Mtim.Nsec != 0 || st.Mtim.Nsec != 0 {
		return ls.Mtim.Nsec == st.Mtim.Nsec, nil
	}
	// Whole seconds on both sides (unpacked from a tar): compare.
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		a, err := readlinkAt(fd, k.base)
		if err != nil {
			return false, &os.PathError{Op: "readlink", Path: name, Err: err}
		}
		b, err := os.Readlink(host)
		return err == nil && a == b, nil
	case unix.S_IFREG:
		return st.Size == 0 || sameContent(fd, k.base, host), nil
	}
	return true, nil
}

// sameContent compares the file base of the directory fd with the host
// file lower, neither followed if a symlink.
func sameContent(fd int, base, lower string) bool {
	ufd, err := unix.Openat(fd, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	uf := os.NewFile(uintptr(ufd), base)
	defer uf.Close()
	lf, err := os.OpenFile(lower, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return false
	}
	defer lf.Close()
	b1, b2 := make([]byte, 32<<10), make([]byte, 32<<10)
	done := func(err error) bool { return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) }
	for {
		n1, err1 := io.ReadFull(uf, b1)
		n2, err2 := io.ReadFull(lf, b2)
		if n1 != n2 || !bytes.Equal(b1[:n1], b2[:n2]) {
			return false
		}
		if err1 != nil || err2 != nil {
			return done(err1) && done(err2)
		}
	}
}

// getxattrBytes reads one xattr of path (not followed); none is nil.
func getxattrBytes(path, key string) ([]byte, error) {
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(path, key, buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// procPath names the entry base of the directory fd by a short path for
// the calls that take no descriptor (xattrs of what may be a symlink): the
// magic link resolves to the directory itself and the l-variants do not
// follow base.
func procPath(fd int, base string) string {
	return "/proc/self/fd/" + strconv.Itoa(fd) + "/" + base
}

// marker is the header of an empty whiteout or opaque marker file.
func (t *tarWriter) marker(name string, st *unix.Stat_t) *tar.Header {
	return &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Mode:     0o644,
		ModTime:  t.mtime(st),
		Format:   tar.FormatPAX,
	}
}

func (t *tarWriter) mtime(st *unix.Stat_t) time.Time {
	m := time.Unix(st.Mtim.Sec, 0).UTC()
	if t.clamp != nil && m.After(*t.clamp) {
		m = t.clamp.Truncate(time.Second).UTC()
	}
	return m
}

func (t *tarWriter) header(fd int, k child, name string) (*tar.Header, error) {
	st := &k.st
	hdr := &tar.Header{
		Name:    name,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: t.mtime(st),
		Format:  tar.FormatPAX,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		if st.Nlink > 1 {
			id := fileID{uint64(st.Dev), st.Ino}
			if first, ok := t.links[id]; ok {
				hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
				break
			}
			t.links[id] = name
		}
		hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
	case unix.S_IFDIR:
		hdr.Typeflag, hdr.Name = tar.TypeDir, name+"/"
	case unix.S_IFLNK:
		target, err := readlinkAt(fd, k.base)
		if err != nil {
			return nil, &os.PathError{Op: "readlink", Path: name, Err: err}
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil, fmt.Errorf("%s: unsupported file type %#o", name, st.Mode&unix.S_IFMT)
	}
	xattrs, err := readXattrs(procPath(fd, k.base))
	if err != nil {
		return nil, err
	}
	if len(xattrs) > 0 {
		hdr.PAXRecords = make(map[string]string, len(xattrs))
		for key, v := range xattrs {
			hdr.PAXRecords[paxXattr+key] = v
		}
	}
	return hdr, nil
}

// copyFile copies the content of the file base of the directory fd (name
// in the tar), read straight into the stream's chunks: tw's write of
// what was read finds it in place.
func (t *tarWriter) copyFile(fd int, base, name string, size int64) error {
	ffd, err := unix.Openat(fd, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(ffd)
	var n int64
	for n < size {
		sp, err := t.out.space()
		if err != nil {
			return err
		}
		sp = sp[:min(int64(len(sp)), size-n)]
		k, err := unix.Read(ffd, sp)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		if k == 0 {
			return fmt.Errorf("reading %s: file shrank from %d to %d bytes while writing", name, size, n)
		}
		if _, err := t.tw.Write(sp[:k]); err != nil {
			return err
		}
		n += int64(k)
	}
	return nil
}

func readlinkAt(fd int, base string) (string, error) {
	for size := 256; ; size *= 4 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(fd, base, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

func isOpaque(host string) bool {
	for _, x := range []string{opaqueXattr, userOpaqueXattr} {
		var b [1]byte
		if n, err := unix.Lgetxattr(host, x, b[:]); err == nil && n == 1 && b[0] == 'y' {
			return true
		}
	}
	return false
}

// keepXattr reports whether an xattr belongs in a layer: overlay's own
// bookkeeping and host SELinux labels do not.
func keepXattr(key string) bool {
	return !strings.HasPrefix(key, "trusted.overlay.") &&
		!strings.HasPrefix(key, "user.overlay.") &&
		key != "security.selinux"
}

// readXattrs returns the xattrs of host worth keeping.
func readXattrs(host string) (map[string]string, error) {
	keys, err := listXattrs(host)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	out := map[string]string{}
	for _, key := range keys {
		if !keepXattr(key) {
			continue
		}
		v, err := getXattr(host, key)
		if err != nil {
			return nil, err
		}
		out[key] = v
	}
	return out, nil
}

func listXattrs(host string) ([]string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Llistxattr(host, buf)
		switch {
		case err == unix.ERANGE:
			buf = make([]byte, len(buf)*4)
			continue
		case err == unix.ENOTSUP:
			return nil, nil
		case err != nil:
			return nil, &os.PathError{Op: "llistxattr", Path: host, Err: err}
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

func getXattr(host, key string) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(host, key, buf)
		switch {
		case err == unix.ERANGE:
			buf = make([]byte, len(buf)*4)
			continue
		case err != nil:
			return "", &os.PathError{Op: "lgetxattr " + key, Path: host, Err: err}
		}
		return string(buf[:n]), nil
	}
}
