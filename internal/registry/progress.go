package registry

import (
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// DefaultJobs is how many blobs a push or pull moves at once when
// Options.Jobs is 0: go-containerregistry's default, and Docker's
// max-concurrent-uploads is 5.
const DefaultJobs = 4

// Progress is told how each layer of a push or pull goes (Options.Progress).
// Update is called from one goroutine per layer in flight, so an
// implementation synchronises itself; it should return quickly.
type Progress interface {
	Update(Event)
}

// ProgressFunc adapts a function to Progress.
type ProgressFunc func(Event)

// Update implements Progress.
func (f ProgressFunc) Update(e Event) { f(e) }

// EventKind says what happened to a layer.
type EventKind int

const (
	// Started: the layer's transfer begins.
	Started EventKind = iota
	// Transferred: Bytes of Size have moved in the current attempt.
	Transferred
	// Retrying: an attempt failed with Err; the next one starts after
	// Wait. Attempt counts from 1.
	Retrying
	// Done: all Size bytes moved (and, pulled, matched the digest).
	Done
	// Exists: the destination has the blob already; nothing moved.
	Exists
	// Mounted: the registry took the blob from another repository
	// (cross-repository mount); nothing moved.
	Mounted
)

var kindNames = [...]string{"started", "transferred", "retrying", "done", "exists", "mounted"}

func (k EventKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Event is one step of one layer's transfer.
type Event struct {
	Digest  v1.Hash // the layer blob
	Kind    EventKind
	Size    int64         // the blob's size
	Bytes   int64         // moved so far in this attempt (Transferred, Done)
	Attempt int           // Retrying: the attempt that failed, from 1
	Err     error         // Retrying: why
	Wait    time.Duration // Retrying: the backoff before the next attempt
}

// reporter sends one layer's events; a nil Progress makes it a no-op.
type reporter struct {
	p    Progress
	d    v1.Hash
	size int64
}

func (r reporter) send(e Event) {
	if r.p == nil {
		return
	}
	e.Digest, e.Size = r.d, r.size
	r.p.Update(e)
}

// progressReader reports the bytes read through it to r.
type progressReader struct {
	rc  interface{ Read([]byte) (int, error) }
	r   reporter
	n   int64
	fin func() error // Close
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.rc.Read(b)
	if n > 0 {
		p.n += int64(n)
		p.r.send(Event{Kind: Transferred, Bytes: p.n})
	}
	return n, err
}

func (p *progressReader) Close() error { return p.fin() }
