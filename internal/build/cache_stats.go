package build

import (
	"fmt"
	"sync"
	"time"
)

// CacheStats are the figures of a build's cache phases, for the build
// summary: nil phases did not happen (no --cache-from, no --cache-to).
type CacheStats struct {
	Import *CachePhase // reading --cache-from and fetching the blobs the build read
	Export *CachePhase // writing --cache-to
}

// CachePhase is one cache phase. Duration is wall time: for an import,
// reading the caches' manifests and configs plus the time some blob was
// being fetched (fetches happen during the build, several at once count
// once).
type CachePhase struct {
	Duration time.Duration
	// Blobs and Bytes are what was transferred: layer blobs fetched from a
	// --cache-from, or sent to a --cache-to (uploaded or written).
	Blobs int
	Bytes int64
	// Present counts the layer blobs an export found at its target
	// already; Mounted those the registry mounted from another repository
	// instead of receiving them (neither is in Blobs).
	Present int
	Mounted int
	// Records is how many records the exported cache holds, Kept how many
	// of them earlier exports made and this build did not use, Dropped
	// how many such records were dropped (see cacheKeepExports).
	Records, Kept, Dropped int

	mu     sync.Mutex
	active int       // fetches under way
	since  time.Time // when active last went from 0 to 1
}

// importing is the import phase, made on first use.
func (s *CacheStats) importing() *CachePhase {
	if s.Import == nil {
		s.Import = &CachePhase{}
	}
	return s.Import
}

// add counts d of wall time.
func (p *CachePhase) add(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.Duration += d
}

// begin starts a transfer; the returned func ends it with its size and
// whether it succeeded. Overlapping transfers count their wall time once.
func (p *CachePhase) begin() func(n int64, ok bool) {
	p.mu.Lock()
	if p.active == 0 {
		p.since = time.Now()
	}
	p.active++
	p.mu.Unlock()
	return func(n int64, ok bool) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.active--
		if p.active == 0 {
			p.Duration += time.Since(p.since)
		}
		if ok {
			p.Blobs++
			p.Bytes += n
		}
	}
}

// merge adds o's figures to p's.
func (p *CachePhase) merge(o *CachePhase) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.Duration += o.Duration
	p.Blobs += o.Blobs
	p.Bytes += o.Bytes
	p.Present += o.Present
	p.Mounted += o.Mounted
	p.Records += o.Records
	p.Kept += o.Kept
	p.Dropped += o.Dropped
}

// sent says what an export sent: "3 blobs, 41.2 MB sent, 1 mounted, 12
// already there".
func (p *CachePhase) sent() string {
	plural := "s"
	if p.Blobs == 1 {
		plural = ""
	}
	return fmt.Sprintf("%d blob%s, %.1f MB sent, %d mounted, %d already there", p.Blobs, plural, float64(p.Bytes)/1e6, p.Mounted, p.Present)
}

// cacheStats is the figures of this build's cache phases so far; the
// import phase goes on while blobs are fetched (the target image written
// to the store, its outputs).
func (r *run) cacheStats() *CacheStats {
	return &r.imported.stats
}
