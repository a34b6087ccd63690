package build

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/strata-build/strata/internal/rootfs"
	"github.com/strata-build/strata/internal/store"
)

// statCache remembers content digests of files by what stat says, so an
// unchanged context is not read again. Records are per host directory,
// entries in name order, so a walked directory is matched against its
// record in one merge; an entry is valid while size, mtime, ctime, inode,
// device and mode are the same.
//
// Racy entries are not remembered: a file whose ctime is not older than
// the walk's start by racyMargin could change again within the same
// timestamp tick after it was read (git's "racy clean" problem); it is
// hashed again next time.
type statCache struct {
	racy  time.Duration          // racyMargin; tests change it
	ready chan struct{}          // closed once loadStatCache's goroutine has set lists; nil: ready
	lists map[string]*dirListing // the listings' file (statlist.go); nil: none, the records' listings serve
	full  func()                 // reads the whole cache into dirs, once; nil: nothing to read
	mu    sync.Mutex
	dirs  map[string]*dirStats // host directory → its regular files; a record is never changed, only replaced
	dirty bool
	// listsDirty: the listings' file is missing or damaged, so written
	// with the next save, even of an unchanged cache.
	listsDirty bool

	memos      []keyMemo // keymemo.go
	memosDirty bool
}

// dirStats is a directory's record: its regular files, by name, and
// the directory's listing when the walk could trust it (rootfs.Listings).
// A record read from the store stays encoded (raw) until it is first
// used, by the walk's goroutines in parallel; a record that was not
// replaced is written back as it was read.
type dirStats struct {
	listOnce sync.Once // decodes the listing: all a walk needs of a directory its key memo knows
	once     sync.Once // decodes the files
	raw      []byte    // the encoded record, nil for one made here
	rawS     string    // the same bytes, for names without copying
	entries  int       // where in raw the entries start; -1: damaged

	names []string // sorted
	stats []byte   // each name's fileStat as the encoding has it (fileStatSize bytes)

	listStat rootfs.DirStat
	listed   []string // sorted; nil: not remembered
}

// decode makes a record read from the store usable; a damaged one is
// empty.
func (r *dirStats) decode() {
	if r == nil {
		return
	}
	r.decodeListing()
	r.once.Do(func() {
		if r.raw == nil || r.entries < 0 {
			return
		}
		r.decodeNames()
	})
}

// decodeListing decodes a record's listing and checks the whole of it;
// its files' names are left for decode.
func (r *dirStats) decodeListing() {
	if r == nil {
		return
	}
	r.listOnce.Do(func() {
		if r.raw == nil {
			return
		}
		if err := r.decodeList(); err != nil {
			r.entries, r.stats, r.listed = -1, nil, nil
		}
	})
}

var _ rootfs.Listings = (*statCache)(nil)

// Listing implements rootfs.Listings.
func (sc *statCache) Listing(dir string, st rootfs.DirStat) []string {
	if sc == nil {
		return nil
	}
	if sc.listsLoaded(); sc.lists != nil {
		l := sc.lists[dir]
		l.decode()
		if l == nil || l.listed == nil || l.listStat != st {
			return nil
		}
		return l.listed
	}
	sc.loaded()
	sc.mu.Lock()
	r := sc.dirs[dir]
	sc.mu.Unlock()
	r.decodeListing()
	if r == nil || r.listed == nil || r.listStat != st {
		return nil
	}
	return r.listed
}

// fileStat is what stat said of a file when its content had digest sum.
type fileStat struct {
	size, mtime, ctime int64
	ino, dev           uint64
	mode               uint32 // fs.FileMode
	sum                [32]byte
}

// racyMargin: entries whose ctime is this close to (or after) the walk's
// start are not remembered. The kernel stamps files with a coarse clock
// (a tick of 1 to 10 ms); a second leaves room for clocks that disagree a
// little.
const racyMargin = time.Second

// statCacheName is the record in the store's meta directory;
// statCacheMagic starts it and names its format, so that a cache of
// another format is ignored (statcache.json was the first).
const (
	statCacheName  = "statcache"
	statCacheMagic = "strata statcache 4\n"
)

func newStatCache() *statCache {
	return &statCache{racy: racyMargin, dirs: map[string]*dirStats{}}
}

// loadStatCache returns the store's stat cache: the key memos and the
// listings are read and decoded on a goroutine of its own while the build
// starts, the whole cache (some 9 MB for a 100,000-file context) when
// first needed. Every method waits for what it needs.
func loadStatCache(ctx context.Context, st *store.Store) *statCache {
	sc := newStatCache()
	sc.ready = make(chan struct{})
	sc.full = sync.OnceFunc(func() {
		if b, err := st.Meta(ctx, statCacheName); err == nil {
			if dirs, err := decodeStatCache(b); err == nil { // a damaged cache is only slower
				sc.dirs = dirs
			}
		}
	})
	go func() {
		defer close(sc.ready)
		if b, err := st.Meta(ctx, keyMemoName); err == nil {
			if memos, err := decodeKeyMemos(b); err == nil { // a damaged memo is only slower
				sc.memos = memos
			}
		}
		if b, err := st.Meta(ctx, statListName); err == nil {
			if lists, err := decodeStatList(b); err == nil {
				sc.lists = lists
				return
			}
		}
		sc.full() // the records' listings serve
		sc.listsDirty = len(sc.dirs) > 0
	}()
	return sc
}

// listsLoaded waits for loadStatCache's goroutine.
func (sc *statCache) listsLoaded() {
	if sc.ready != nil {
		<-sc.ready
	}
}

// loaded waits for the whole cache.
func (sc *statCache) loaded() {
	sc.listsLoaded()
	if sc.full != nil {
		sc.full()
	}
}

// save writes the cache and its listings when they changed, leaving out
// directories that are gone, and the key memos when they changed. A cache
// that changed was read whole.
func (sc *statCache) save(ctx context.Context, st *store.Store) error {
	if sc == nil {
		return nil
	}
	sc.listsLoaded()
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.memosDirty {
		if err := st.PutMeta(ctx, keyMemoName, encodeKeyMemos(sc.memos)); err != nil {
			return err
		}
		sc.memosDirty = false
	}
	if !sc.dirty && !sc.listsDirty {
		return nil
	}
	for dir := range sc.dirs {
		if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
			delete(sc.dirs, dir)
		}
	}
	if sc.dirty {
		if err := st.PutMeta(ctx, statCacheName, encodeStatCache(sc.dirs)); err != nil {
			return err
		}
		sc.dirty = false
	}
	if err := st.PutMeta(ctx, statListName, encodeStatList(sc.dirs)); err != nil {
		return err
	}
	sc.listsDirty = false
	return nil
}

// record returns host directory dir's record, nil when there is none.
func (sc *statCache) record(dir string) *dirStats {
	sc.loaded()
	sc.mu.Lock()
	r := sc.dirs[dir]
	sc.mu.Unlock()
	r.decode()
	return r
}

// replace makes r directory dir's record.
func (sc *statCache) replace(dir string, r *dirStats) {
	sc.loaded()
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.dirs[dir], sc.dirty = r, true
}

// lookup returns the digest remembered for name in r, if stat still
// matches.
func (r *dirStats) lookup(name string, fs fileStat) ([32]byte, bool) {
	if r == nil {
		return [32]byte{}, false
	}
	i, ok := slices.BinarySearch(r.names, name)
	if !ok {
		return [32]byte{}, false
	}
	f := r.file(i)
	if !f.sameStat(fs) {
		return [32]byte{}, false
	}
	return f.sum, true
}

// file returns the stat of r.names[i].
func (r *dirStats) file(i int) fileStat {
	le, b := binary.LittleEndian, r.stats[i*fileStatSize:(i+1)*fileStatSize]
	f := fileStat{
		size: int64(le.Uint64(b)), mtime: int64(le.Uint64(b[8:])), ctime: int64(le.Uint64(b[16:])),
		ino: le.Uint64(b[24:]), dev: le.Uint64(b[32:]), mode: le.Uint32(b[40:]),
	}
	copy(f.sum[:], b[44:])
	return f
}

// appendFileStat appends f as the encoding has it.
func appendFileStat(b []byte, f *fileStat) []byte {
	le := binary.LittleEndian
	b = le.AppendUint64(b, uint64(f.size))
	b = le.AppendUint64(b, uint64(f.mtime))
	b = le.AppendUint64(b, uint64(f.ctime))
	b = le.AppendUint64(b, f.ino)
	b = le.AppendUint64(b, f.dev)
	b = le.AppendUint32(b, f.mode)
	return append(b, f.sum[:]...)
}

func (a fileStat) sameStat(b fileStat) bool {
	return a.size == b.size && a.mtime == b.mtime && a.ctime == b.ctime && a.ino == b.ino && a.dev == b.dev && a.mode == b.mode
}

// nodeStat is what the cache compares of a walked node.
func nodeStat(n *rootfs.Node) fileStat {
	return fileStat{size: n.Size, mtime: n.Mtime, ctime: n.Ctime, ino: n.Ino, dev: n.Dev, mode: uint32(n.Mode)}
}

// infoStat is what the cache compares of a FileInfo from os.Lstat.
func infoStat(fi fs.FileInfo) fileStat {
	s := fileStat{size: fi.Size(), mtime: fi.ModTime().UnixNano(), mode: uint32(fi.Mode())}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino, s.dev, s.ctime = sys.Ino, sys.Dev, sys.Ctim.Nano()
	}
	return s
}

// digest returns the sha256 of the file at host path p, described by fi,
// for sources that are not walked as a tree.
func (sc *statCache) digest(p string, fi fs.FileInfo) ([32]byte, error) {
	if sc == nil {
		return fileDigest(p)
	}
	start := time.Now()
	dir, name := filepath.Dir(p), filepath.Base(p)
	s := infoStat(fi)
	if sum, ok := sc.record(dir).lookup(name, s); ok {
		return sum, nil
	}
	sum, err := fileDigest(p)
	if err != nil {
		return sum, err
	}
	s.sum = sum
	if !sc.isRacy(s.ctime, start) {
		sc.loaded()
		sc.mu.Lock()
		sc.dirs[dir], sc.dirty = sc.dirs[dir].with(name, s), true
		sc.mu.Unlock()
	}
	return sum, nil
}

// isRacy reports whether a file or directory whose ctime is ctime changed
// too recently before start to be remembered.
func (sc *statCache) isRacy(ctime int64, start time.Time) bool {
	return ctime >= start.Add(-sc.racy).UnixNano()
}

// with returns a copy of r with name set to s.
func (r *dirStats) with(name string, s fileStat) *dirStats {
	out := &dirStats{}
	r.decode()
	if r != nil {
		out.names, out.stats = slices.Clone(r.names), slices.Clone(r.stats)
	}
	i, ok := slices.BinarySearch(out.names, name)
	enc := appendFileStat(nil, &s)
	if ok {
		copy(out.stats[i*fileStatSize:], enc)
		return out
	}
	out.names = slices.Insert(out.names, i, name)
	out.stats = slices.Insert(out.stats, i*fileStatSize, enc...)
	return out
}

// The encoding: magic, then per directory its path and its record's
// length and bytes, then a CRC-32C of everything before it. A record is
// laid out to be decoded fast: whether it holds a listing (1 or 0) and
// if so the directory's inode, device, mtime and ctime (fixed 8 bytes
// each); its entries, every name it lists or has a file of, in name
// order, each with a byte saying which (entryListed, entryFile); then
// each file's size, mtime, ctime, inode, device (8 bytes each), mode (4)
// and sum (32). Numbers are little-endian; counts and lengths varints.

const (
	entryListed = 1 << iota
	entryFile
	fileStatSize = 5*8 + 4 + 32
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func encodeStatCache(dirs map[string]*dirStats) []byte {
	keys := make([]string, 0, len(dirs))
	n := len(statCacheMagic)
	for k, r := range dirs {
		keys = append(keys, k)
		n += len(k) + 20 + len(r.raw) + len(r.names)*(fileStatSize+32) + len(r.listed)*32
	}
	slices.Sort(keys)
	b := make([]byte, 0, n)
	b = append(b, statCacheMagic...)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	var body []byte
	for _, k := range keys {
		r := dirs[k]
		b = appendString(b, k)
		if r.raw != nil {
			b = append(binary.AppendUvarint(b, uint64(len(r.raw))), r.raw...)
			continue
		}
		body = r.appendBody(body[:0])
		b = append(binary.AppendUvarint(b, uint64(len(body))), body...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// appendBody appends the record's encoding.
func (r *dirStats) appendBody(b []byte) []byte {
	le := binary.LittleEndian
	if r.listed == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = le.AppendUint64(b, r.listStat.Ino)
		b = le.AppendUint64(b, r.listStat.Dev)
		b = le.AppendUint64(b, uint64(r.listStat.Mtime))
		b = le.AppendUint64(b, uint64(r.listStat.Ctime))
	}
	n := 0 // entries: the union of listed and names, both sorted
	for i, j := 0, 0; i < len(r.listed) || j < len(r.names); n++ {
		switch {
		case j == len(r.names) || i < len(r.listed) && r.listed[i] < r.names[j]:
			i++
		case i == len(r.listed) || r.names[j] < r.listed[i]:
			j++
		default:
			i, j = i+1, j+1
		}
	}
	b = binary.AppendUvarint(b, uint64(n))
	for i, j := 0, 0; i < len(r.listed) || j < len(r.names); {
		switch {
		case j == len(r.names) || i < len(r.listed) && r.listed[i] < r.names[j]:
			b = append(appendString(b, r.listed[i]), entryListed)
			i++
		case i == len(r.listed) || r.names[j] < r.listed[i]:
			b = append(appendString(b, r.names[j]), entryFile)
			j++
		default:
			b = append(appendString(b, r.names[j]), entryListed|entryFile)
			i, j = i+1, j+1
		}
	}
	return append(b, r.stats...)
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

var errBadStatCache = errors.New("damaged stat cache")

// decodeStatCache checks the whole and splits it into records, decoded
// when first used.
func decodeStatCache(b []byte) (map[string]*dirStats, error) {
	return splitRecords(b, statCacheMagic, func(raw []byte, rawS string) *dirStats {
		return &dirStats{raw: raw, rawS: rawS}
	})
}

// splitRecords checks a file of per-directory records (magic, their
// count, each directory's path and its record's length and bytes, a
// CRC-32C of everything before it) and makes each record with mk, from
// its bytes and the same bytes as a string.
func splitRecords[T any](b []byte, magic string, mk func(raw []byte, rawS string) T) (map[string]T, error) {
	if len(b) < len(magic)+4 || !bytes.HasPrefix(b, []byte(magic)) {
		return nil, errBadStatCache
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, errBadStatCache
	}
	d := statDecoder{b: body[len(magic):]}
	// Every name is a piece of one string of the same bytes, which nothing
	// changes after this (b is the caller's, read for this alone).
	d.s = unsafe.String(unsafe.SliceData(d.b), len(d.b))
	ndirs := d.uvarint()
	recs := make(map[string]T, min(ndirs, uint64(len(d.b))))
	for i := uint64(0); i < ndirs && d.err == nil; i++ {
		dir := d.string()
		n := d.uvarint()
		if n > uint64(len(d.b)) {
			return nil, errBadStatCache
		}
		off := len(d.s) - len(d.b)
		recs[dir] = mk(d.b[:n:n], d.s[off:off+int(n)])
		d.b = d.b[n:]
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, errBadStatCache
	}
	return recs, nil
}

// decodeList decodes r.raw's listing and checks its entries, leaving the
// names of its files for decodeNames.
func (r *dirStats) decodeList() error {
	d := statDecoder{b: r.raw, s: r.rawS}
	le := binary.LittleEndian
	listed := d.byte()
	if listed > 1 {
		return errBadStatCache
	}
	if listed == 1 {
		st := d.fixed(32)
		if st == nil {
			return errBadStatCache
		}
		r.listStat.Ino, r.listStat.Dev = le.Uint64(st), le.Uint64(st[8:])
		r.listStat.Mtime, r.listStat.Ctime = int64(le.Uint64(st[16:])), int64(le.Uint64(st[24:]))
	}
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		return errBadStatCache
	}
	if listed == 1 {
		r.listed = make([]string, 0, n)
	}
	r.entries = len(r.raw) - len(d.b)
	files := 0
	prev := ""
	for j := uint64(0); j < n && d.err == nil; j++ {
		name := d.string()
		kind := d.byte()
		if j > 0 && name <= prev || kind == 0 || kind > entryListed|entryFile || kind&entryListed != 0 && listed == 0 {
			return errBadStatCache
		}
		if kind&entryListed != 0 {
			r.listed = append(r.listed, name)
		}
		if kind&entryFile != 0 {
			files++
		}
		prev = name
	}
	if d.err != nil || len(d.b) != files*fileStatSize {
		return errBadStatCache
	}
	r.stats = d.b
	return nil
}

// decodeNames decodes the names of r's files, from a record decodeList
// checked.
func (r *dirStats) decodeNames() {
	d := statDecoder{b: r.raw[r.entries:], s: r.rawS[r.entries:]}
	n := len(r.stats) / fileStatSize
	r.names = make([]string, 0, n)
	for len(r.names) < n {
		name := d.string()
		if d.byte()&entryFile != 0 {
			r.names = append(r.names, name)
		}
	}
}

// statDecoder reads the encoding; the first error sticks. s holds the
// same bytes as b did at the start, so strings are taken from it without
// copying.
type statDecoder struct {
	b   []byte
	s   string
	err error
}

func (d *statDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err, d.b = errBadStatCache, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *statDecoder) byte() byte {
	if len(d.b) == 0 {
		d.err = errBadStatCache
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// fixed returns the next n bytes, nil when there are fewer.
func (d *statDecoder) fixed(n int) []byte {
	if len(d.b) < n {
		d.err, d.b = errBadStatCache, nil
		return nil
	}
	b := d.b[:n]
	d.b = d.b[n:]
	return b
}

func (d *statDecoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err, d.b = errBadStatCache, nil
		return ""
	}
	off := len(d.s) - len(d.b)
	d.b = d.b[n:]
	return d.s[off : off+int(n)]
}
