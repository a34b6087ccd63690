package layer

import (
	"io"
	"runtime"

	"github.com/klauspost/compress/zstd"
)

// zstdChunkSize is the input of one zstd frame. The stream is a
// concatenation of independent frames, each the EncodeAll of a fixed-size
// chunk of the tar: a valid zstd stream every decoder reads (RFC 8878
// 3.1), made on every core, and the same bytes whatever their number.
// Changing it changes every zstd layer digest.
const zstdChunkSize = 4 << 20

// zstdEncoder compresses each chunk into a frame on a goroutine of its
// own and writes the frames in order.
type zstdEncoder struct {
	out   io.Writer
	enc   *zstd.Encoder
	queue chan *zframe  // frames in stream order, to the writer goroutine
	slots chan struct{} // bounds the frames in flight
	outs  chan []byte   // frame buffers done with
	done  chan struct{} // closed when the writer goroutine ends

	firstError // the first write error
}

// zframe is one chunk on its way to becoming a frame.
type zframe struct {
	out   []byte
	ready chan struct{}
}

func newZstdEncoder(w io.Writer, level int) *zstdEncoder {
	n := runtime.GOMAXPROCS(0)
	enc, _ := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
		zstd.WithEncoderConcurrency(n),
		zstd.WithWindowSize(zstdChunkSize))
	// n frames compressing and two more (one being written, one waiting)
	// keep every core busy.
	z := &zstdEncoder{
		out:   w,
		enc:   enc,
		queue: make(chan *zframe, n+2),
		slots: make(chan struct{}, n+2),
		outs:  make(chan []byte, n+2),
		done:  make(chan struct{}),
	}
	go z.writeFrames()
	return z
}

// put compresses c into a frame on a goroutine of its own.
func (z *zstdEncoder) put(c *chunk) error {
	z.slots <- struct{}{}
	f := &zframe{ready: make(chan struct{})}
	buf := z.frameBuf()
	go func() {
		f.out = z.enc.EncodeAll(c.b, buf)
		c.release()
		close(f.ready)
	}()
	z.queue <- f
	return z.failed()
}

// frameBuf is a buffer for a frame: one written already, or a new one.
func (z *zstdEncoder) frameBuf() []byte {
	select {
	case b := <-z.outs:
		return b
	default:
		return make([]byte, 0, z.enc.MaxEncodedSize(zstdChunkSize))
	}
}

// writeFrames writes frames in stream order as they are done; after a
// failure it only waits for them.
func (z *zstdEncoder) writeFrames() {
	defer close(z.done)
	for f := range z.queue {
		<-f.ready
		if z.failed() == nil {
			if _, err := z.out.Write(f.out); err != nil {
				z.fail(err)
			}
		}
		select {
		case z.outs <- f.out[:0]:
		default:
		}
		<-z.slots
	}
}

// finish waits for every frame to be written (none for an empty stream:
// zero frames are an empty zstd stream).
func (z *zstdEncoder) finish() error {
	close(z.queue)
	<-z.done
	z.enc.Close()
	return z.failed()
}

var _ encoder = (*zstdEncoder)(nil)
