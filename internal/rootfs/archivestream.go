package rootfs

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// ArchiveStream reads r as docker build reads a context from stdin or a
// URL: a tar archive, plain or compressed (gzip, bzip2, xz, zstd), or
// something else (a Dockerfile). ok reports an archive, and then tr is
// its tar stream; rest reads r from its first byte either way. It reads
// at most 512 bytes to decide.
func ArchiveStream(r io.Reader) (tr io.ReadCloser, rest io.Reader, ok bool, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(6)
	if compressed(magic) {
		dec, closeDec, err := decompressor(magic, br)
		if err != nil {
			return nil, br, false, err
		}
		db := bufio.NewReaderSize(dec, 64<<10)
		if block, _ := db.Peek(512); !isTarHeader(block) {
			closeDec()
			return nil, br, false, errors.New("compressed, but not a tar archive")
		}
		return readCloser{db, func() error { closeDec(); return nil }}, br, true, nil
	}
	if block, _ := br.Peek(512); isTarHeader(block) {
		return io.NopCloser(br), br, true, nil
	}
	return nil, br, false, nil
}

// compressed reports whether magic starts a stream decompressor reads.
func compressed(magic []byte) bool {
	for _, m := range [][]byte{{0x1f, 0x8b}, []byte("BZh"), {0xfd, '7', 'z', 'X', 'Z', 0}, {0x28, 0xb5, 0x2f, 0xfd}} {
		if bytes.HasPrefix(magic, m) {
			return true
		}
	}
	return false
}
