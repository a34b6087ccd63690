package build

import (
	"context"
	"encoding/hex"
	"fmt"
	"io/fs"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/strata-build/strata/internal/rootfs"
)

// hashWalked adds to k what hashTree adds for the entries below directory
// p, from t, p's walked tree: every entry with its path, mode, owner, and
// link target or content digest, in the same order and the same bytes.
// A tree the stat cache's key memos know as it is (keymemo.go) takes the
// hash's state remembered after it. Otherwise the work is per directory
// and runs on every core: each directory's files are looked up in the
// stat cache, those it does not know are read, and each directory's
// entries are encoded as the keyer encodes them, while this goroutine
// hashes the encodings in the tree's order as they become ready.
func hashWalked(ctx context.Context, k *keyer, p string, t *rootfs.Tree, sc *statCache) error {
	start := time.Now()
	prefix := p
	if p == "/" {
		prefix = ""
	}
	dirs := flattenTree(nil, t, prefix)
	workers := runtime.NumCPU()
	var (
		id   [32]byte
		memo bool // whether to remember the state after the tree
	)
	if before := sc.keyState(k); before != nil {
		racy := fingerprints(workers, dirs, sc, start)
		_, view := keyOwners(ctx) // a memo holds the owners as its build saw them
		id = treeID(before, t.Host+view, prefix, dirs)
		if after := sc.memo(id); after != nil && k.restore(after) {
			return nil
		}
		memo = !racy
	}
	if err := hashEncoded(ctx, k, dirs, workers, sc, start); err != nil {
		return err
	}
	if memo {
		if after := k.state(); after != nil {
			sc.remember(id, after)
		}
	}
	return nil
}

// fingerprints sets every directory's fingerprint, on workers goroutines,
// and reports whether an entry changed within the racy margin of start.
func fingerprints(workers int, dirs []*walkedDir, sc *statCache, start time.Time) bool {
	bufs := make(chan []byte, workers)
	for range workers {
		bufs <- nil
	}
	var racy atomic.Bool
	limit := start.Add(-sc.racy).UnixNano() // as isRacy
	eachDir(workers, dirs, func(d *walkedDir) {
		buf := <-bufs
		bufs <- d.fingerprint(limit, buf)
		if d.racy {
			racy.Store(true)
		}
	})
	return racy.Load()
}

// hashEncoded adds dirs to k by encoding their entries, with the digests
// the stat cache knows or the files' content.
func hashEncoded(ctx context.Context, k *keyer, dirs []*walkedDir, workers int, sc *statCache, start time.Time) error {
	eachDir(workers, dirs, func(d *walkedDir) { d.lookup(sc) })
	if err := hashMisses(ctx, dirs, workers); err != nil {
		return err
	}
	owners, _ := keyOwners(ctx)
	e := &treeEncoding{dirs: dirs, free: make(chan []byte, 4*workers)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		eachDir(workers, dirs, func(d *walkedDir) {
			if sc != nil {
				sc.learn(d, start)
			}
			d.encode(e.buffer(), owners)
			close(d.ready)
		})
	}()
	e.add(k, 0)
	wg.Wait()
	return nil
}

// walkedDir is a directory of a walked tree on its way into a key.
type walkedDir struct {
	t    *rootfs.Tree
	path string // its path in the source, "" for the root directory
	kids []int  // the walkedDir of each of its subdirectories, in order

	rec  *dirStats  // the stat cache's record when the walk began
	sums [][32]byte // content digests, aligned with t.Nodes
	hits int        // regular files whose digest rec knew
	miss []int      // regular files whose digest it did not know

	fprint [32]byte // fingerprint of its entries (keymemo.go)
	racy   bool     // an entry changed within the racy margin

	enc   []byte        // its entries, encoded as the keyer encodes them
	cuts  []int         // where in enc each subdirectory's entries go
	ready chan struct{} // closed once enc is
}

// flattenTree appends t, the tree of the directory at path, and every
// directory below it to dirs, depth first.
func flattenTree(dirs []*walkedDir, t *rootfs.Tree, path string) []*walkedDir {
	d := &walkedDir{t: t, path: path, ready: make(chan struct{})}
	dirs = append(dirs, d)
	for i := range t.Nodes {
		if n := &t.Nodes[i]; n.Dir != nil {
			d.kids = append(d.kids, len(dirs))
			dirs = flattenTree(dirs, n.Dir, path+"/"+n.Name)
		}
	}
	return dirs
}

// eachDir calls fn for every directory on workers goroutines, taking
// them in order.
func eachDir(workers int, dirs []*walkedDir, fn func(*walkedDir)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, len(dirs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(dirs); i = int(next.Add(1) - 1) {
				fn(dirs[i])
			}
		}()
	}
	wg.Wait()
}

// lookup takes the digests the stat cache knows of d's regular files:
// the record's names and the nodes are both in name order, so one merge.
func (d *walkedDir) lookup(sc *statCache) {
	nodes := d.t.Nodes
	d.sums = make([][32]byte, len(nodes))
	if sc != nil {
		d.rec = sc.record(d.t.Host)
	}
	var names []string
	if d.rec != nil {
		names = d.rec.names
	}
	j := 0
	for i := range nodes {
		n := &nodes[i]
		if !n.Mode.IsRegular() {
			continue
		}
		for j < len(names) && names[j] < n.Name {
			j++
		}
		if j < len(names) && names[j] == n.Name {
			if f := d.rec.file(j); f.sameStat(nodeStat(n)) {
				d.sums[i] = f.sum
				d.hits++
				continue
			}
		}
		d.miss = append(d.miss, i)
	}
}

// hashMisses reads the files the stat cache did not know, several at
// once.
func hashMisses(ctx context.Context, dirs []*walkedDir, workers int) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for _, d := range dirs {
		for _, i := range d.miss {
			g.Go(func() error {
				if err := gctx.Err(); err != nil {
					return err
				}
				n := &d.t.Nodes[i]
				sum, err := fileDigest(d.t.Host + "/" + n.Name)
				if err != nil {
					return fmt.Errorf("hashing %s: %w", d.path+"/"+n.Name, err)
				}
				d.sums[i] = sum
				return nil
			})
		}
	}
	return g.Wait()
}

// encode fills d.enc, from buf on, with what the keyer adds for d's
// entries: path, mode and owner, then a symlink's target or a regular
// file's digest in hex; a subdirectory's entries follow its own (d.cuts).
// Changing what it adds means changing treeKeyVersion (key memos).
// owners is how the key sees an entry's owner.
func (d *walkedDir) encode(buf []byte, owners func(uid, gid uint32) (uint32, uint32)) {
	nodes := d.t.Nodes
	b := buf[:0]
	if n := len(nodes) * (len(d.path) + 112); cap(b) < n {
		b = make([]byte, 0, n)
	}
	var (
		last    *rootfs.Node // the node meta was made for
		meta    []byte       // its mode and owner fields, encoded
		metaBuf [64]byte
	)
	for i := range nodes {
		n := &nodes[i]
		b = strconv.AppendInt(b, int64(len(d.path)+1+len(n.Name)), 10)
		b = append(append(append(append(append(b, ':'), d.path...), '/'), n.Name...), ';')
		if last == nil || n.Mode != last.Mode || n.UID != last.UID || n.GID != last.GID {
			last = n
			meta = appendField(metaBuf[:0], n.Mode.String())
			var owner [24]byte
			uid, gid := owners(n.UID, n.GID)
			o := strconv.AppendUint(owner[:0], uint64(uid), 10)
			meta = appendField(meta, strconv.AppendUint(append(o, ':'), uint64(gid), 10))
		}
		b = append(b, meta...)
		switch {
		case n.Mode&fs.ModeSymlink != 0:
			b = appendField(b, n.Target)
		case n.Mode.IsRegular():
			b = append(b, "64:"...)
			b = hex.AppendEncode(b, d.sums[i][:])
			b = append(b, ';')
		case n.Dir != nil:
			d.cuts = append(d.cuts, len(b))
		}
	}
	d.enc = b
}

// appendField appends f as keyer.add encodes a field.
func appendField[T string | []byte](b []byte, f T) []byte {
	b = strconv.AppendInt(b, int64(len(f)), 10)
	return append(append(append(b, ':'), f...), ';')
}

// treeEncoding is the encoded directories of a walked tree, on their way
// into a key; the buffers of those hashed are used again.
type treeEncoding struct {
	dirs []*walkedDir
	free chan []byte
}

// buffer returns a buffer hashed already, or nil.
func (e *treeEncoding) buffer() []byte {
	select {
	case b := <-e.free:
		return b
	default:
		return nil
	}
}

// add adds to k the encoded entries of dirs[i] and of the directories
// below it, each once it is ready.
func (e *treeEncoding) add(k *keyer, i int) {
	d := e.dirs[i]
	<-d.ready
	pos := 0
	for c, kid := range d.kids {
		k.addEncoded(d.enc[pos:d.cuts[c]])
		pos = d.cuts[c]
		e.add(k, kid)
	}
	k.addEncoded(d.enc[pos:])
	select {
	case e.free <- d.enc:
	default:
	}
	d.enc = nil
}

// addEncoded adds fields already encoded.
func (k *keyer) addEncoded(b []byte) {
	if len(b) >= keyerFlush {
		k.flush(0)
		k.h.Write(b)
		return
	}
	k.buf = append(k.buf, b...)
	k.flush(keyerFlush)
}

// learn replaces the record of walked directory t when it changed: files
// hashed again, files gone from the directory, a new listing. Files and
// listings that changed within the racy margin are not remembered; the
// record's older entry for such a file stays (it no longer matches its
// stat), so that an edit does not rewrite the cache on every build.
// Entries of files the walk left out (.dockerignore) stay while the
// directory holds them.
func (sc *statCache) learn(d *walkedDir, start time.Time) {
	t, rec := d.t, d.rec
	if rec == nil {
		rec = &dirStats{}
	}
	next := &dirStats{}
	changed := false
	all := t.Listed // every name in the directory, when known
	switch {
	case t.Listed != nil && !sc.isRacy(t.Stat.Ctime, start):
		next.listed, next.listStat = t.Listed, t.Stat
		changed = rec.listStat != t.Stat || !slices.Equal(rec.listed, t.Listed)
	case rec.listed != nil && rec.listStat == t.Stat:
		next.listed, next.listStat = rec.listed, rec.listStat
		all = rec.listed // the walk's listing
	}
	if !changed && d.hits == len(rec.names) && len(d.miss) == 0 {
		return
	}
	keep := func(j int) {
		next.names = append(next.names, rec.names[j])
		next.stats = append(next.stats, rec.stats[j*fileStatSize:(j+1)*fileStatSize]...)
	}
	j := 0
	for i := range t.Nodes {
		n := &t.Nodes[i]
		if !n.Mode.IsRegular() {
			continue
		}
		for ; j < len(rec.names) && rec.names[j] < n.Name; j++ { // not walked
			if _, ok := slices.BinarySearch(all, rec.names[j]); ok || all == nil {
				keep(j)
			} else {
				changed = true
			}
		}
		s := nodeStat(n)
		old := j < len(rec.names) && rec.names[j] == n.Name
		switch {
		case old && rec.file(j).sameStat(s):
			keep(j)
		case sc.isRacy(s.ctime, start):
			if old {
				keep(j)
			}
		default:
			s.sum = d.sums[i]
			next.names, next.stats = append(next.names, n.Name), appendFileStat(next.stats, &s)
			changed = true
		}
		if old {
			j++
		}
	}
	for ; j < len(rec.names); j++ {
		if _, ok := slices.BinarySearch(all, rec.names[j]); ok || all == nil {
			keep(j)
		} else {
			changed = true
		}
	}
	if changed {
		sc.replace(t.Host, next)
	}
}
