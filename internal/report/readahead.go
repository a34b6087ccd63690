package report

import (
	"errors"
	"io"
)

// Read-ahead sizes: a layer is decompressed up to aheadChunks × aheadSize
// bytes ahead of the tar reader (2 MiB per layer being read).
const (
	aheadChunks = 8
	aheadSize   = 256 << 10
)

// chunk is one buffer filled by the reading goroutine; err is the read
// error that ended it (io.EOF at the end of the stream).
type chunk struct {
	b   []byte
	err error
}

// aheadReader reads its source in a goroutine it owns, into a bounded set
// of buffers, so that decompressing a layer (the source) and parsing its tar
// run on two cores. Close stops the goroutine and waits for it.
type aheadReader struct {
	full   chan chunk
	free   chan []byte
	done   chan struct{}
	exited chan struct{}
	cur    chunk
	off    int
}

// newAheadReader starts reading r. The caller must Close the reader, and
// close r only after that.
func newAheadReader(r io.Reader) *aheadReader {
	a := &aheadReader{
		full:   make(chan chunk, aheadChunks),
		free:   make(chan []byte, aheadChunks),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	for range aheadChunks {
		a.free <- make([]byte, aheadSize)
	}
	go a.fill(r)
	return a
}

// fill is the reading goroutine.
func (a *aheadReader) fill(r io.Reader) {
	defer close(a.exited)
	for {
		var buf []byte
		select {
		case buf = <-a.free:
		case <-a.done:
			return
		}
		n, err := io.ReadFull(r, buf)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		select {
		case a.full <- chunk{b: buf[:n], err: err}:
		case <-a.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// Read implements io.Reader.
func (a *aheadReader) Read(p []byte) (int, error) {
	for a.off == len(a.cur.b) {
		if a.cur.err != nil {
			return 0, a.cur.err
		}
		if a.cur.b != nil {
			a.free <- a.cur.b[:cap(a.cur.b)]
		}
		a.cur, a.off = <-a.full, 0
	}
	n := copy(p, a.cur.b[a.off:])
	a.off += n
	return n, nil
}

// Close stops the reading goroutine and waits until it has returned.
func (a *aheadReader) Close() error {
	close(a.done)
	<-a.exited
	return nil
}
