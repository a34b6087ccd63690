package build

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"
)

// A key memo lets a walked tree that did not change since an earlier
// build skip what its key costs beyond the walk: looking its files up in
// the stat cache, encoding every entry and hashing the encodings. The
// key is one sha256 over a stream of fields, so the memo remembers the
// hash's state before the tree's fields and after them: the same state
// before and the same tree give the same bytes in between, so the same
// state after, and the key is exactly the one the encoding would give.
//
// "The same tree" is decided by a fingerprint of what the walk found:
// for every entry, in the walk's order, its name, mode, owner, symlink
// target, and the size, mtime, ctime, inode and device that the stat
// cache trusts to say a regular file's content is the same. A memo is
// only made when no entry changed within the racy margin of the walk (an
// entry that did could change again within the same timestamp tick), so
// a fingerprint that matches one remembered says that every digest the
// key was made of is still right.

// treeKeyVersion names what a tree's key holds (walkedDir.encode and
// hashTree): change it with them, or a memo made by a strata that
// encoded trees otherwise would stand for the new encoding.
const treeKeyVersion = "tree key 1"

// keyMemoName is the memo's record in the store's meta directory;
// keyMemoMagic starts it and names its format.
const (
	keyMemoName  = "keymemo"
	keyMemoMagic = "strata keymemo 1\n"
	// keyMemoSize bounds the trees remembered, the latest made (every
	// source of every COPY of the context is one; a memo is some 150
	// bytes).
	keyMemoSize = 64
)

// keyMemo is a tree's fingerprint (with the hash's state before it)
// and the hash's state after its fields.
type keyMemo struct {
	id    [32]byte
	after []byte
	seq   uint64 // when it was made; the oldest goes first
}

// state returns the state of k's hash with everything added so far
// hashed, or nil when the hash cannot say.
func (k *keyer) state() []byte {
	k.flush(0)
	m, ok := k.h.(encoding.BinaryMarshaler)
	if !ok {
		return nil
	}
	b, err := m.MarshalBinary()
	if err != nil {
		return nil
	}
	return b
}

// keyState is k.state() when sc may hold memos, else nil.
func (sc *statCache) keyState(k *keyer) []byte {
	if sc == nil {
		return nil
	}
	return k.state()
}

// restore puts k's hash back in a state state returned.
func (k *keyer) restore(state []byte) bool {
	k.flush(0)
	u, ok := k.h.(encoding.BinaryUnmarshaler)
	return ok && u.UnmarshalBinary(state) == nil
}

// fingerprint sets d.fprint from d's entries and d.racy when one changed
// at racy (nanoseconds) or later. buf is scratch space.
func (d *walkedDir) fingerprint(racy int64, buf []byte) []byte {
	le := binary.LittleEndian
	b := binary.AppendUvarint(buf[:0], uint64(len(d.t.Nodes)))
	for i := range d.t.Nodes {
		n := &d.t.Nodes[i]
		b = appendString(b, n.Name)
		b = le.AppendUint32(b, uint32(n.Mode))
		b = le.AppendUint32(b, n.UID)
		b = le.AppendUint32(b, n.GID)
		b = le.AppendUint64(b, uint64(n.Size))
		b = le.AppendUint64(b, uint64(n.Mtime))
		b = le.AppendUint64(b, uint64(n.Ctime))
		b = le.AppendUint64(b, n.Ino)
		b = le.AppendUint64(b, n.Dev)
		b = appendString(b, n.Target)
		if n.Ctime >= racy {
			d.racy = true
		}
	}
	d.fprint = sha256.Sum256(b)
	return b
}

// treeID is what a memo of dirs, a walked tree, is found by: the hash's
// state before it, the tree's host directory and path in the source, and
// its directories' fingerprints in the walk's order (which, with the
// entries' modes, give the tree's shape).
func treeID(before []byte, host, path string, dirs []*walkedDir) [32]byte {
	h := sha256.New()
	b := appendString(nil, treeKeyVersion)
	b = appendString(b, string(before))
	b = appendString(b, host)
	b = appendString(b, path)
	b = binary.AppendUvarint(b, uint64(len(dirs)))
	h.Write(b)
	for _, d := range dirs {
		h.Write(d.fprint[:])
	}
	var id [32]byte
	h.Sum(id[:0])
	return id
}

// memo returns the hash's state after the tree of id, if remembered.
func (sc *statCache) memo(id [32]byte) []byte {
	sc.listsLoaded()
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for _, m := range sc.memos {
		if m.id == id {
			return m.after
		}
	}
	return nil
}

// remember makes after the memo of the tree of id, forgetting the oldest
// beyond keyMemoSize.
func (sc *statCache) remember(id [32]byte, after []byte) {
	sc.listsLoaded()
	sc.mu.Lock()
	defer sc.mu.Unlock()
	seq := uint64(0)
	for _, m := range sc.memos {
		if m.id == id && bytes.Equal(m.after, after) {
			return
		}
		seq = max(seq, m.seq+1)
	}
	sc.memos = slices.DeleteFunc(sc.memos, func(m keyMemo) bool { return m.id == id })
	sc.memos = append(sc.memos, keyMemo{id: id, after: after, seq: seq})
	if len(sc.memos) > keyMemoSize {
		slices.SortFunc(sc.memos, func(a, b keyMemo) int { return cmp.Compare(b.seq, a.seq) })
		sc.memos = sc.memos[:keyMemoSize]
	}
	sc.memosDirty = true
}

// encodeKeyMemos: magic, count, then per memo its id, seq (varint) and
// state (length and bytes), then a CRC-32C of everything before it.
func encodeKeyMemos(memos []keyMemo) []byte {
	b := append([]byte(nil), keyMemoMagic...)
	b = binary.AppendUvarint(b, uint64(len(memos)))
	for _, m := range memos {
		b = append(b, m.id[:]...)
		b = binary.AppendUvarint(b, m.seq)
		b = appendString(b, string(m.after))
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

var errBadKeyMemo = errors.New("damaged key memo")

func decodeKeyMemos(b []byte) ([]keyMemo, error) {
	if len(b) < len(keyMemoMagic)+4 || !bytes.HasPrefix(b, []byte(keyMemoMagic)) {
		return nil, errBadKeyMemo
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, errBadKeyMemo
	}
	body = body[len(keyMemoMagic):]
	n, l := binary.Uvarint(body)
	if l <= 0 || n > keyMemoSize {
		return nil, errBadKeyMemo
	}
	body = body[l:]
	memos := make([]keyMemo, 0, n)
	for range n {
		var m keyMemo
		if len(body) < len(m.id) {
			return nil, errBadKeyMemo
		}
		copy(m.id[:], body)
		body = body[len(m.id):]
		if m.seq, l = binary.Uvarint(body); l <= 0 {
			return nil, errBadKeyMemo
		}
		body = body[l:]
		size, l := binary.Uvarint(body)
		if l <= 0 || size > uint64(len(body)-l) {
			return nil, errBadKeyMemo
		}
		m.after = slices.Clone(body[l : l+int(size)])
		body = body[l+int(size):]
		memos = append(memos, m)
	}
	if len(body) != 0 {
		return nil, errBadKeyMemo
	}
	return memos, nil
}
