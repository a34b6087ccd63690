package layer

import (
	"crypto/sha256"
	"io"
)

// hashPipe writes to w and hashes the same bytes (sha256) on a goroutine
// of its own, so hashing a big layer's tar overlaps reading it and
// compressing it rather than adding to them (the machine's SHA extensions
// make it about a sixth of gzip's cost, serialised it is still felt).
type hashPipe struct {
	w    io.Writer
	sum  *countingHash
	free chan []byte // buffers the hasher is done with
	work chan []byte // copies for the hasher, in order
	done chan struct{}
}

// hashPipeBufs buffers of hashPipeBufSize let the writer run that far
// ahead of the hasher.
const (
	hashPipeBufs    = 4
	hashPipeBufSize = copyBufSize
)

func newHashPipe(w io.Writer) *hashPipe {
	p := &hashPipe{
		w:    w,
		sum:  &countingHash{h: sha256.New()},
		free: make(chan []byte, hashPipeBufs),
		work: make(chan []byte, hashPipeBufs),
		done: make(chan struct{}),
	}
	for range hashPipeBufs {
		p.free <- make([]byte, 0, hashPipeBufSize)
	}
	go func() {
		defer close(p.done)
		for b := range p.work {
			p.sum.Write(b)
			p.free <- b[:0]
		}
	}()
	return p
}

// Write hands a copy of b to the hasher, then writes b to w.
func (p *hashPipe) Write(b []byte) (int, error) {
	for rest := b; len(rest) > 0; {
		buf := <-p.free
		n := min(len(rest), cap(buf))
		p.work <- append(buf, rest[:n]...)
		rest = rest[n:]
	}
	return p.w.Write(b)
}

// close waits for the hasher and returns the sum and count of what was
// written; the pipe is not to be used afterwards.
func (p *hashPipe) close() *countingHash {
	close(p.work)
	<-p.done
	return p.sum
}
