package rootfs

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/strata-build/strata/internal/layer"
	"github.com/ulikunitz/xz"
)

// tryExtract extracts a local tar archive (plain, gzip, bzip2, xz or zstd,
// recognised by content) into the directory dst, as ADD does. It reports
// false when the file is not an archive or ADD's extraction is off.
func (c *copier) tryExtract(fi fs.FileInfo, host, dst string) (bool, error) {
	if !c.opts.Extract || !c.isCtx || !fi.Mode().IsRegular() {
		return false, nil
	}
	r, ok, err := openArchive(host)
	if err != nil || !ok {
		return false, err
	}
	defer r.Close()
	// BuildKit's unpack makes the destination 0755 whatever --chmod says.
	if err := c.ensureDirMode(dst, c.opts.Mkdir); err != nil {
		return true, err
	}
	opts := layer.ExtractOptions{Archive: true, Devices: os.Geteuid() == 0}
	if o := c.opts.Chown; o != nil {
		opts.Owner = func(int, int) (int, int) { return o.UID, o.GID }
	}
	if err := layer.Extract(c.ctx, r, c.layerPath(dst), opts); err != nil {
		return true, fmt.Errorf("extracting %s: %w", fi.Name(), err)
	}
	return true, nil
}

// openArchive opens host as a tar stream if it is one, decompressing it.
func openArchive(host string) (io.ReadCloser, bool, error) {
	f, err := os.Open(host)
	if err != nil {
		return nil, false, err
	}
	br := bufio.NewReaderSize(f, 64<<10)
	magic, _ := br.Peek(6)
	dec, closeDec, err := decompressor(magic, br)
	if err != nil {
		f.Close()
		return nil, false, nil // looks compressed but is not: copy as a file
	}
	tr := bufio.NewReaderSize(dec, 64<<10)
	block, err := tr.Peek(512)
	if err != nil || !isTarHeader(block) {
		closeDec()
		f.Close()
		return nil, false, nil
	}
	return readCloser{tr, func() error { closeDec(); return f.Close() }}, true, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

func decompressor(magic []byte, r io.Reader) (io.Reader, func(), error) {
	nop := func() {}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, err
		}
		return z, func() { z.Close() }, nil
	case bytes.HasPrefix(magic, []byte("BZh")):
		return bzip2.NewReader(r), nop, nil
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		z, err := xz.NewReader(r)
		return z, nop, err
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		z, err := zstd.NewReader(r)
		if err != nil {
			return nil, nil, err
		}
		return z, z.Close, nil
	}
	return r, nop, nil
}

// isTarHeader reports whether block is a tar header with a valid checksum.
func isTarHeader(block []byte) bool {
	if len(block) < 512 || bytes.Equal(block, make([]byte, 512)) {
		return false
	}
	field := strings.Trim(string(block[148:156]), " \x00")
	want, err := strconv.ParseInt(field, 8, 64)
	if err != nil {
		return false
	}
	var sum int64
	for i, b := range block[:512] {
		if i >= 148 && i < 156 {
			b = ' '
		}
		sum += int64(b)
	}
	return sum == want
}
