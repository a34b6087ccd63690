package build

import (
	"encoding/binary"
	"hash/crc32"
	"slices"
	"sync"

	"github.com/strata-build/strata/internal/rootfs"
)

// The stat cache's listings are also kept in a file of their own, some
// 1 MB for a 100,000-file context against the whole cache's 9 MB: a walk
// needs only the listings, and a tree its key memo knows needs nothing
// else, so a no-op build reads this file and never the whole cache (read
// on first use, as soon as a directory's files are looked up). Each
// listing is right for its directory's DirStat whichever cache it came
// with, so the two files need not be written together.

// statListName is the listings' record in the store's meta directory;
// statListMagic starts it and names its format.
const (
	statListName  = "statlist"
	statListMagic = "strata statlist 1\n"
)

// dirListing is a directory's listing read from the listings' file,
// decoded when first used.
type dirListing struct {
	once     sync.Once
	raw      []byte
	rawS     string
	listStat rootfs.DirStat
	listed   []string // sorted; nil: damaged
}

// encodeStatList: magic, then per directory whose record holds a listing
// (in path order) its path and its listing's length and bytes: the
// directory's inode, device, mtime and ctime (fixed 8 bytes each), the
// number of names and the names; then a CRC-32C of everything before it.
func encodeStatList(dirs map[string]*dirStats) []byte {
	keys := make([]string, 0, len(dirs))
	for k, r := range dirs {
		if r.decodeListing(); r.listed != nil {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	b := append([]byte(nil), statListMagic...)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	var body []byte
	le := binary.LittleEndian
	for _, k := range keys {
		r := dirs[k]
		body = le.AppendUint64(body[:0], r.listStat.Ino)
		body = le.AppendUint64(body, r.listStat.Dev)
		body = le.AppendUint64(body, uint64(r.listStat.Mtime))
		body = le.AppendUint64(body, uint64(r.listStat.Ctime))
		body = binary.AppendUvarint(body, uint64(len(r.listed)))
		for _, name := range r.listed {
			body = appendString(body, name)
		}
		b = appendString(b, k)
		b = append(binary.AppendUvarint(b, uint64(len(body))), body...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// decodeStatList checks the whole and splits it into listings, decoded
// when first used.
func decodeStatList(b []byte) (map[string]*dirListing, error) {
	return splitRecords(b, statListMagic, func(raw []byte, rawS string) *dirListing {
		return &dirListing{raw: raw, rawS: rawS}
	})
}

// decode decodes l.raw; a damaged listing is none.
func (l *dirListing) decode() {
	if l == nil {
		return
	}
	l.once.Do(func() {
		d := statDecoder{b: l.raw, s: l.rawS}
		le := binary.LittleEndian
		st := d.fixed(32)
		n := d.uvarint()
		if st == nil || n > uint64(len(d.b)) {
			return
		}
		l.listStat.Ino, l.listStat.Dev = le.Uint64(st), le.Uint64(st[8:])
		l.listStat.Mtime, l.listStat.Ctime = int64(le.Uint64(st[16:])), int64(le.Uint64(st[24:]))
		listed := make([]string, 0, n)
		prev := ""
		for j := uint64(0); j < n && d.err == nil; j++ {
			name := d.string()
			if j > 0 && name <= prev {
				return
			}
			listed, prev = append(listed, name), name
		}
		if d.err == nil && len(d.b) == 0 {
			l.listed = listed
		}
	})
}
