// Package layer turns an overlay-format directory (a COPY result or a RUN's
// overlay upper dir) into a deterministic OCI layer tar, and extracts layer
// tars back into overlay-format directories, refusing anything that would
// escape the target directory.
//
// Overlay format: a whiteout is a character device 0/0, an opaque directory
// carries the xattr trusted.overlay.opaque="y". In a tar these become the OCI
// ".wh.NAME" and ".wh..wh..opq" entries.
//
// It may be imported by anything but build, plan and store must not be
// imported by it.
package layer

import (
	"context"
	"io"
	"io/fs"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// WriteOptions control how a layer tar is written.
type WriteOptions struct {
	// Clamp, when set, lowers every mtime after it to it (reproducible builds).
	Clamp *time.Time
	// Compression is how WriteCompressed compresses: gzip (the zero
	// value) at DefaultLevel unless set. It is part of what makes a
	// layer's digest, never its diff ID.
	Compression Compression
	// Lower, when set, is what the dir was an overlay upper dir over. An
	// entry other than a directory that is there alike (type, mode,
	// owner, device, file capabilities, size, mtime; and content or link
	// target when both mtimes are whole seconds) was only copied up, by a
	// hard link made to it or a chown to its own owner, and is left out
	// of the layer, as BuildKit's overlay differ leaves it out
	// (util/overlay sameDirent).
	Lower LowerFS
	// Since, with Lower, is when the step started: what has a later mtime
	// the step wrote itself, and is not looked up in Lower (what was only
	// copied up keeps its older one). The zero time looks everything up.
	Since time.Time
}

// LowerFS is the filesystem under an overlay upper dir, as
// WriteOptions.Lower reads it (rootfs.Stack is one). Names are absolute.
type LowerFS interface {
	// Lstat describes name without following it.
	Lstat(name string) (fs.FileInfo, error)
	// RealPath is the host path of name's entry (not followed).
	RealPath(name string) (string, error)
}

// DefaultLevel is gzip's default level, the one BuildKit uses: layers are
// as small as Docker's. Level 1 is about twice as fast and 10-15% larger.
const DefaultLevel = 6

// Descriptor describes a written, compressed layer blob.
type Descriptor struct {
	DiffID    v1.Hash         // sha256 of the uncompressed tar
	Digest    v1.Hash         // sha256 of the blob (the diff ID when uncompressed)
	Size      int64           // bytes of the blob
	MediaType types.MediaType // the OCI layer media type of its compression
	// TarSize is the bytes of the uncompressed tar (what strata images
	// shows as SIZE), when the tar was written here.
	TarSize int64
}

// Write writes dir as a deterministic uncompressed tar to w: entries sorted,
// no atime/ctime, uid/gid numeric without names, overlay whiteouts as
// ".wh.NAME" and opaque dirs as ".wh..wh..opq", hard links kept, xattrs kept.
// It returns the sha256 of what it wrote (the layer's DiffID).
func Write(ctx context.Context, dir string, w io.Writer, opts WriteOptions) (v1.Hash, error) {
	opts.Compression = Compression{Kind: Uncompressed}
	d, err := writeCompressed(ctx, dir, w, opts)
	return d.DiffID, err
}

// WriteCompressed writes dir as a layer blob compressed as
// opts.Compression says to w. gzip is compressed in parallel fixed-size
// blocks with an empty header, zstd as independent frames of fixed-size
// chunks compressed in parallel, so the same tree and compression always
// give the same digest, whatever the number of cores.
func WriteCompressed(ctx context.Context, dir string, w io.Writer, opts WriteOptions) (Descriptor, error) {
	return writeCompressed(ctx, dir, w, opts)
}

// ExtractOptions control extraction.
type ExtractOptions struct {
	// Devices allows character and block device nodes (root only). In a
	// user namespace, where the kernel refuses to make them, they are
	// left out.
	Devices bool
	// Archive extracts an ordinary tar (ADD of a local archive) rather than
	// a layer: ".wh." entries are plain files, not whiteouts.
	Archive bool
	// Owner, when set, maps each entry's uid and gid (ADD --chown).
	Owner func(uid, gid int) (int, int)
}

// Extract reads an uncompressed layer tar from r into dir in overlay format:
// ".wh.NAME" becomes a 0/0 character device, ".wh..wh..opq" the opaque
// xattr. Paths escaping dir, links to outside and (unless allowed) devices
// are refused with an error. No symlink is ever followed while writing.
func Extract(ctx context.Context, r io.Reader, dir string, opts ExtractOptions) error {
	return extract(ctx, r, dir, opts)
}
