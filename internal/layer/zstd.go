package layer

import (
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// zstdChunkSize is the input of one zstd frame. The stream is a
// concatenation of independent frames, each the EncodeAll of a fixed-size
// chunk: a valid zstd stream every decoder reads (RFC 8878 3.1), made on
// every core, and the same bytes whatever their number. Changing it
// changes every zstd layer digest.
const zstdChunkSize = 4 << 20

// zstdWriter compresses fixed-size chunks into frames in parallel and
// writes the frames in order.
type zstdWriter struct {
	out   io.Writer
	enc   *zstd.Encoder
	buf   []byte        // the chunk being filled
	queue chan *zframe  // frames in stream order, to the writer goroutine
	slots chan struct{} // bounds the frames in flight
	done  chan struct{} // closed when the writer goroutine ends
	pool  sync.Pool     // chunk buffers
	outs  sync.Pool     // frame buffers
	err   error         // the first write error, read after done
}

// zframe is one chunk on its way to becoming a frame.
type zframe struct {
	in, out []byte
	ready   chan struct{}
}

func newZstdWriter(w io.Writer, level int) *zstdWriter {
	n := runtime.GOMAXPROCS(0)
	enc, _ := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
		zstd.WithEncoderConcurrency(n),
		zstd.WithWindowSize(zstdChunkSize))
	z := &zstdWriter{
		out: w,
		enc: enc,
		// n frames compressing and two more (one being written, one
		// being filled) keep every core busy: 4 MiB in and out each.
		queue: make(chan *zframe, n+2),
		slots: make(chan struct{}, n+2),
		done:  make(chan struct{}),
	}
	z.pool.New = func() any { return make([]byte, 0, zstdChunkSize) }
	z.outs.New = func() any { return make([]byte, 0, enc.MaxEncodedSize(zstdChunkSize)) }
	z.buf = z.pool.Get().([]byte)
	go z.writeFrames()
	return z
}

// Write fills chunks; each full one is compressed on its own goroutine.
func (z *zstdWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := copy(z.buf[len(z.buf):cap(z.buf)], p)
		z.buf = z.buf[:len(z.buf)+k]
		p = p[k:]
		if len(z.buf) == cap(z.buf) {
			if err := z.flushChunk(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// flushChunk hands the current chunk to a compressing goroutine.
func (z *zstdWriter) flushChunk() error {
	select {
	case z.slots <- struct{}{}:
	case <-z.done:
		return z.err
	}
	f := &zframe{in: z.buf, ready: make(chan struct{})}
	z.buf = z.pool.Get().([]byte)[:0]
	go func() {
		f.out = z.enc.EncodeAll(f.in, z.outs.Get().([]byte)[:0])
		close(f.ready)
	}()
	z.queue <- f
	return nil
}

// writeFrames writes frames in stream order as they are done.
func (z *zstdWriter) writeFrames() {
	defer close(z.done)
	for f := range z.queue {
		<-f.ready
		if z.err == nil {
			_, z.err = z.out.Write(f.out)
		}
		z.pool.Put(f.in[:0])
		z.outs.Put(f.out[:0])
		<-z.slots
	}
}

// Close compresses the last chunk (none for an empty stream: zero frames
// are an empty zstd stream) and waits for every frame to be written.
func (z *zstdWriter) Close() error {
	var err error
	if len(z.buf) > 0 {
		err = z.flushChunk()
	}
	close(z.queue)
	<-z.done
	z.enc.Close()
	if err != nil {
		return err
	}
	return z.err
}
