package layer

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
)

// chunkSize is the unit a layer's tar stream moves in: the tar writer
// reads files straight into a chunk, and each full chunk goes, without a
// copy, to the diff ID hasher and to the encoder (a zstd frame is the
// EncodeAll of one chunk). It is zstdChunkSize, which fixes zstd digests.
const chunkSize = zstdChunkSize

// firstChunkCap is the first chunk buffer's capacity: small layers (most
// of them) never allocate a whole chunk; a big one grows it by doubling.
const firstChunkCap = 64 << 10

// chunk is a piece of the tar stream shared, read-only, by the diff ID
// hasher and the encoder; its buffer is reused once both are done.
type chunk struct {
	b    []byte
	refs atomic.Int32
	s    *stream
}

// release says one reader is done with c.
func (c *chunk) release() {
	if c.refs.Add(-1) == 0 {
		c.s.putBuf(c.b)
	}
}

// encoder takes the chunks of a tar stream in order and writes them,
// compressed or not, to the blob.
type encoder interface {
	// put hands c over; the encoder releases it when done with its
	// bytes, also after a failure. The error is the encoder's first.
	put(c *chunk) error
	// finish writes what is left, waits for it and returns the first
	// error.
	finish() error
}

// stream is a layer's tar stream cut into chunks. Each full chunk goes to
// the diff ID hasher (on a goroutine of its own, unless the blob's digest
// is the diff ID) and to the encoder; chunk buffers are reused, so at
// most a few are in memory. Write and space are for one goroutine.
type stream struct {
	cur    []byte // the chunk being filled: len is what it holds
	enc    encoder
	free   chan []byte // chunk buffers done with
	made   int         // chunk buffers allocated
	hashQ  chan *chunk // to the diff ID hasher; nil without one
	hashed chan struct{}
	sum    countingHash
	n      int64 // bytes written
	err    error // the encoder's first error
}

// Chunk buffers a stream may have: for zstd, one for every frame in
// flight (GOMAXPROCS+2), one being filled and one for the hasher to lag
// by; for the others (whose encoder copies a chunk at once: pgzip keeps
// blocks of its own) one being filled, one being encoded and two for the
// hasher. More only hold memory: the reader outruns the rest.
func zstdChunks() int { return runtime.GOMAXPROCS(0) + 4 }

const serialChunks = 4

// newStream returns a stream into enc with at most chunks buffers; with
// hashTar, it hashes the tar (the diff ID) on the way.
func newStream(enc encoder, hashTar bool, chunks int) *stream {
	s := &stream{enc: enc, free: make(chan []byte, chunks), sum: countingHash{h: sha256.New()}}
	if hashTar {
		s.hashQ = make(chan *chunk, chunks)
		s.hashed = make(chan struct{})
		go s.hash()
	}
	return s
}

func (s *stream) hash() {
	defer close(s.hashed)
	for c := range s.hashQ {
		s.sum.Write(c.b)
		c.release()
	}
}

// putBuf takes back a chunk buffer (any goroutine).
func (s *stream) putBuf(b []byte) {
	if cap(b) == chunkSize {
		s.free <- b[:0] // never blocks: at most cap(free) buffers exist
	}
}

// getBuf returns an empty chunk buffer, waiting for one when all are in
// use.
func (s *stream) getBuf() []byte {
	select {
	case b := <-s.free:
		return b
	default:
	}
	if s.made < cap(s.free) {
		s.made++
		return make([]byte, 0, chunkSize)
	}
	return <-s.free
}

// space returns the free part of the chunk being filled (never empty):
// reading into it and then writing that slice appends without a copy.
func (s *stream) space() ([]byte, error) {
	if s.cur == nil {
		s.cur = make([]byte, 0, firstChunkCap)
	}
	if len(s.cur) == cap(s.cur) {
		if cap(s.cur) < chunkSize {
			s.cur = append(make([]byte, 0, min(2*cap(s.cur), chunkSize)), s.cur...)
			if cap(s.cur) == chunkSize {
				s.made++ // a chunk buffer from now on
			}
		} else if err := s.emit(); err != nil {
			return nil, err
		}
	}
	return s.cur[len(s.cur):cap(s.cur)], nil
}

// Write appends p; when p is the start of what space returned, the bytes
// are already in place.
func (s *stream) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	written := 0
	for len(p) > 0 {
		sp, err := s.space()
		if err != nil {
			return written, err
		}
		k := min(len(p), len(sp))
		if &p[0] != &sp[0] {
			copy(sp, p[:k])
		}
		s.cur = s.cur[:len(s.cur)+k]
		p, written, s.n = p[k:], written+k, s.n+int64(k)
	}
	return written, nil
}

// ReadFrom appends what r has, read straight into the chunks.
func (s *stream) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		sp, err := s.space()
		if err != nil {
			return total, err
		}
		n, err := r.Read(sp)
		if n > 0 {
			s.Write(sp[:n])
			total += int64(n)
		}
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// emit hands the full current chunk on and starts a new one.
func (s *stream) emit() error {
	if len(s.cur) == 0 {
		return nil
	}
	c := &chunk{b: s.cur, s: s}
	s.cur = s.getBuf()
	c.refs.Store(1)
	if s.hashQ != nil {
		c.refs.Add(1)
		s.hashQ <- c
	}
	if err := s.enc.put(c); err != nil {
		s.err = err
		return err
	}
	return nil
}

// close emits the last chunk, waits for the hasher and the encoder, and
// returns the tar's sha256 (when hashed) and size. A failed write is
// given as werr: the stream is still drained.
func (s *stream) close(werr error) (*countingHash, error) {
	err := werr
	if err == nil {
		err = s.emit()
	}
	if s.hashQ != nil {
		close(s.hashQ)
		<-s.hashed
	}
	if ferr := s.enc.finish(); err == nil && ferr != nil {
		err = fmt.Errorf("compressing layer: %w", ferr)
	}
	s.sum.n = s.n
	return &s.sum, err
}

// serialEncoder hands chunks, in order, to write on a goroutine of its
// own (the gzip compressor, or the blob itself when uncompressed), so
// reading the files overlaps writing.
type serialEncoder struct {
	q     chan *chunk
	done  chan struct{}
	write func([]byte) error
	close func() error

	firstError
}

func newSerialEncoder(write func([]byte) error, close func() error) *serialEncoder {
	e := &serialEncoder{q: make(chan *chunk, serialChunks), done: make(chan struct{}), write: write, close: close}
	go e.run()
	return e
}

func (e *serialEncoder) run() {
	defer close(e.done)
	for c := range e.q {
		if e.failed() == nil {
			if err := e.write(c.b); err != nil {
				e.fail(err)
			}
		}
		c.release()
	}
}

// firstError keeps the first error that goroutines report.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

func (f *firstError) failed() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (e *serialEncoder) put(c *chunk) error {
	e.q <- c
	return e.failed()
}

func (e *serialEncoder) finish() error {
	close(e.q)
	<-e.done
	if err := e.failed(); err != nil {
		if e.close != nil {
			e.close()
		}
		return err
	}
	if e.close != nil {
		return e.close()
	}
	return nil
}

var _ encoder = (*serialEncoder)(nil)
