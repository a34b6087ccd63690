package layer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
)

// Kind is how a layer blob is compressed, as BuildKit names it in
// compression=.
type Kind string

// The kinds of layer compression. The zero Kind is Gzip.
const (
	Gzip         Kind = "gzip"
	Zstd         Kind = "zstd"
	Uncompressed Kind = "uncompressed"
)

// DockerZstdLayer is the Docker-style zstd layer media type BuildKit
// writes for zstd layers with oci-mediatypes=false (containerd's
// MediaTypeDockerSchema2LayerZstd).
const DockerZstdLayer types.MediaType = "application/vnd.docker.image.rootfs.diff.tar.zstd"

// ParseKind reads a compression= value.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case Gzip, Zstd, Uncompressed:
		return k, nil
	}
	return "", fmt.Errorf("unsupported compression type %q: use gzip, zstd or uncompressed", s)
}

// KindOf is the compression a layer media type names (Docker's or OCI's).
func KindOf(mt types.MediaType) (Kind, bool) {
	switch mt {
	case types.OCILayer, types.DockerLayer, types.DockerForeignLayer, types.OCIRestrictedLayer:
		return Gzip, true
	case types.OCILayerZStd, DockerZstdLayer:
		return Zstd, true
	case types.OCIUncompressedLayer, types.DockerUncompressedLayer, types.OCIUncompressedRestrictedLayer:
		return Uncompressed, true
	}
	return "", false
}

// DefaultZstdLevel is the zstd level BuildKit uses when none is given:
// klauspost/compress's SpeedDefault, which zstd level 3 maps to.
const DefaultZstdLevel = 3

// Compression is how a layer blob is made: a kind and a level (0 is the
// kind's default: gzip 6, zstd 3, as BuildKit's).
type Compression struct {
	Kind  Kind
	Level int
}

// Normalized fills in the defaults: gzip for no kind, the kind's default
// level for none.
func (c Compression) Normalized() Compression {
	if c.Kind == "" {
		c.Kind = Gzip
	}
	if c.Level == 0 {
		switch c.Kind {
		case Gzip:
			c.Level = DefaultLevel
		case Zstd:
			c.Level = DefaultZstdLevel
		}
	}
	return c
}

// Validate checks the level against the kind's range: gzip 1-9, zstd 1-22
// (mapped to klauspost/compress's four speeds as BuildKit maps them),
// none for uncompressed.
func (c Compression) Validate() error {
	c = c.Normalized()
	switch c.Kind {
	case Gzip:
		if c.Level < 1 || c.Level > 9 {
			return fmt.Errorf("gzip compression level %d is not in 1..9", c.Level)
		}
	case Zstd:
		if c.Level < 1 || c.Level > 22 {
			return fmt.Errorf("zstd compression level %d is not in 1..22", c.Level)
		}
	case Uncompressed:
		if c.Level != 0 {
			return errors.New("uncompressed layers take no compression level")
		}
	default:
		_, err := ParseKind(string(c.Kind))
		return err
	}
	return nil
}

// ID names the compression and level, "gzip-6", "zstd-3" or
// "uncompressed": blobs of one ID are the same bytes for the same tar.
func (c Compression) ID() string {
	c = c.Normalized()
	if c.Kind == Uncompressed {
		return string(c.Kind)
	}
	return string(c.Kind) + "-" + strconv.Itoa(c.Level)
}

// String is the ID.
func (c Compression) String() string { return c.ID() }

// MediaType is the OCI layer media type of the kind.
func (c Compression) MediaType() types.MediaType {
	switch c.Normalized().Kind {
	case Zstd:
		return types.OCILayerZStd
	case Uncompressed:
		return types.OCIUncompressedLayer
	}
	return types.OCILayer
}

// blobWriter writes a layer's tar, given to its stream, as a blob
// compressed as c: gzip in parallel fixed-size blocks with an empty
// header, zstd as independent frames of fixed-size chunks compressed in
// parallel, so the same tar and compression always give the same bytes,
// whatever the number of cores.
type blobWriter struct {
	*stream
	c    Compression
	blob func() (v1.Hash, int64) // the blob's digest and size; nil: the tar's
}

func newBlobWriter(w io.Writer, c Compression) (*blobWriter, error) {
	c = c.Normalized()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("compressing layer: %w", err)
	}
	write := func(w io.Writer) func([]byte) error {
		return func(b []byte) error { _, err := w.Write(b); return err }
	}
	if c.Kind == Uncompressed {
		// The blob is the tar: one hash does, the blob writer's if it has one.
		bh, ok := w.(BlobHasher)
		bw := &blobWriter{stream: newStream(newSerialEncoder(write(w), nil), !ok, serialChunks), c: c}
		if ok {
			bw.blob = bh.BlobDigest
		}
		return bw, nil
	}
	out, blob := blobSink(w)
	if c.Kind == Zstd {
		return &blobWriter{stream: newStream(newZstdEncoder(out, c.Level), true, zstdChunks()), c: c, blob: blob}, nil
	}
	gz, err := pgzip.NewWriterLevel(out, c.Level)
	if err != nil {
		return nil, fmt.Errorf("creating gzip writer: %w", err)
	}
	gz.ModTime = time.Unix(0, 0) // pgzip writes ModTime.Unix() as is
	gz.OS = 255
	if err := gz.SetConcurrency(gzipBlockSize, gzipBlocks()); err != nil {
		return nil, fmt.Errorf("configuring gzip writer: %w", err)
	}
	return &blobWriter{stream: newStream(newSerialEncoder(write(gz), gz.Close), true, serialChunks), c: c, blob: blob}, nil
}

// close finishes the blob and describes it; werr, a failure writing the
// tar, is returned after the stream is drained.
func (b *blobWriter) close(werr error) (Descriptor, error) {
	sum, err := b.stream.close(werr)
	if err != nil {
		return Descriptor{}, err
	}
	d := Descriptor{MediaType: b.c.MediaType(), TarSize: sum.n}
	switch {
	case b.stream.hashQ != nil && b.blob != nil:
		d.DiffID = sum.hash()
		d.Digest, d.Size = b.blob()
	case b.stream.hashQ != nil: // uncompressed, hashed here
		d.DiffID, d.Digest, d.Size = sum.hash(), sum.hash(), sum.n
	default: // uncompressed, hashed by the blob writer
		d.Digest, d.Size = b.blob()
		d.DiffID = d.Digest
	}
	return d, nil
}

// gzipBlocks is how many gzip blocks are compressed at once: the block
// boundaries, not this, decide the bytes, so it may follow the cores.
func gzipBlocks() int {
	return max(4, 2*runtime.GOMAXPROCS(0))
}

// Magic numbers of compressed streams.
var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// Decompress reads a layer blob of any kind (gzip, zstd or a plain tar,
// told by its first bytes) as its tar.
func Decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	head, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading layer: %w", err)
	}
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading gzip layer: %w", err)
		}
		return zr, nil
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(0))
		if err != nil {
			return nil, fmt.Errorf("reading zstd layer: %w", err)
		}
		return zr.IOReadCloser(), nil
	}
	return io.NopCloser(br), nil
}

// Recompress reads a layer blob of any kind from r and writes the same tar
// compressed as c to w: the diff ID stays, the digest is the new blob's.
func Recompress(r io.Reader, w io.Writer, c Compression) (Descriptor, error) {
	tr, err := Decompress(r)
	if err != nil {
		return Descriptor{}, err
	}
	defer tr.Close()
	bw, err := newBlobWriter(w, c)
	if err != nil {
		return Descriptor{}, err
	}
	_, err = bw.ReadFrom(tr)
	if err != nil {
		err = fmt.Errorf("recompressing layer: %w", err)
	}
	return bw.close(err)
}
