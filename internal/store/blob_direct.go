package store

import (
	"errors"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Big blobs (a layer of hundreds of MB) are written with O_DIRECT, in
// aligned blocks, on a goroutine of their own: the bytes go from the
// writer's buffer to the disk, not through the page cache, where copying
// them into newly allocated pages costs as much CPU as compressing them,
// and the wait for the disk overlaps the compression of what follows. The
// tail (under a block) and blobs under directMin go through the page
// cache as before. The file is fsynced and renamed into place either way.
const (
	directBlock = 4 << 20 // bytes of one O_DIRECT write
	directAlign = 4096    // of its address, length and offset
	directMin   = directBlock
)

// directFile writes one blob file: through the page cache until it is
// directMin bytes, then in directBlock blocks through an O_DIRECT
// descriptor of the same file, falling back to the page cache where the
// filesystem refuses O_DIRECT.
type directFile struct {
	f    *os.File
	head []byte // what was written before the first block (page cache)
	cur  []byte // the block being filled (aligned); nil before the first
	off  int64  // file offset of cur[0] (or of head[0])
	dfd  int    // the O_DIRECT descriptor, -1 if none

	full chan dblock // blocks to write, to the goroutine
	free chan []byte // blocks written
	done chan struct{}

	mu  sync.Mutex
	err error // the goroutine's first error
}

// dblock is one full block and where it goes.
type dblock struct {
	b   []byte
	off int64
}

func newDirectFile(f *os.File) *directFile {
	return &directFile{f: f, dfd: -1}
}

// Write buffers p, handing each full block to the writing goroutine.
func (d *directFile) Write(p []byte) (int, error) {
	if err := d.failed(); err != nil {
		return 0, err
	}
	n := len(p)
	if d.cur == nil {
		if len(d.head)+len(p) < directMin {
			d.head = append(d.head, p...)
			return n, nil
		}
		d.start()
	}
	for len(p) > 0 {
		k := copy(d.cur[len(d.cur):cap(d.cur)], p)
		d.cur, p = d.cur[:len(d.cur)+k], p[k:]
		if len(d.cur) == cap(d.cur) {
			d.full <- dblock{d.cur, d.off}
			d.off += int64(len(d.cur))
			d.cur = (<-d.free)[:0]
			if err := d.failed(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// start opens the O_DIRECT descriptor and the writing goroutine (two
// blocks: one filled while the other is written), and moves head into
// the first block.
func (d *directFile) start() {
	if fd, err := unix.Open(d.f.Name(), unix.O_WRONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0); err == nil {
		d.dfd = fd
	}
	d.full = make(chan dblock, 1)
	d.free = make(chan []byte, 2)
	d.done = make(chan struct{})
	d.free <- alignedBlock()
	d.cur = append(alignedBlock(), d.head...)
	d.head = nil
	go d.run()
}

// alignedBlock is an empty directBlock-capacity buffer at an address
// O_DIRECT accepts.
func alignedBlock() []byte {
	b := make([]byte, directBlock+directAlign)
	skip := (directAlign - int(uintptr(unsafe.Pointer(&b[0]))%directAlign)) % directAlign
	return b[skip : skip : skip+directBlock]
}

func (d *directFile) run() {
	defer close(d.done)
	for blk := range d.full {
		if d.failed() == nil {
			if err := d.writeBlock(blk); err != nil {
				d.fail(err)
			}
		}
		d.free <- blk.b[:0]
	}
}

// writeBlock writes one block, through the page cache when O_DIRECT is
// refused or falls short.
func (d *directFile) writeBlock(blk dblock) error {
	b, off := blk.b, blk.off
	for d.dfd >= 0 && len(b) > 0 {
		n, err := unix.Pwrite(d.dfd, b, off)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EINVAL) || (err == nil && n < len(b)) {
			// refused here (or a short write): the page cache from now on
			unix.Close(d.dfd)
			d.dfd = -1
			if n > 0 {
				b, off = b[n:], off+int64(n)
			}
			break
		}
		if err != nil {
			return &os.PathError{Op: "write", Path: d.f.Name(), Err: err}
		}
		b, off = b[n:], off+int64(n)
	}
	if len(b) == 0 {
		return nil
	}
	_, err := d.f.WriteAt(b, off)
	return err
}

func (d *directFile) fail(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err == nil {
		d.err = err
	}
}

func (d *directFile) failed() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// finish waits for the blocks and writes the tail through the page cache;
// the caller fsyncs the file.
func (d *directFile) finish() error {
	if d.cur == nil {
		_, err := d.f.WriteAt(d.head, 0)
		return err
	}
	d.stop()
	if err := d.failed(); err != nil {
		return err
	}
	_, err := d.f.WriteAt(d.cur, d.off)
	return err
}

// stop ends the goroutine, once the blocks handed to it are written, and
// closes the O_DIRECT descriptor; it may be called again.
func (d *directFile) stop() {
	if d.full != nil {
		close(d.full)
		<-d.done
		d.full = nil
	}
	if d.dfd >= 0 {
		unix.Close(d.dfd)
		d.dfd = -1
	}
}
