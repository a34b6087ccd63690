package build

import (
	"context"
	"encoding/hex"
	"fmt"
	"io/fs"
	"runtime"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/strata-build/strata/internal/rootfs"
)

// hashWalked adds to k what hashTree adds for the entries below directory
// p, from t, p's walked tree: every entry with its path, mode, owner, and
// link target or content digest, in the same order and the same bytes.
func hashWalked(ctx context.Context, k *keyer, p string, t *rootfs.Tree, sc *statCache) error {
	sums, err := treeSums(ctx, p, t, sc)
	if err != nil {
		return err
	}
	f := treeFeeder{k: k, sums: sums, modes: map[fs.FileMode]string{}, owners: map[uint64]string{}}
	if p != "/" {
		f.path = append(f.path, p...)
	}
	f.feed(t)
	return nil
}

// treeFeeder writes a walked tree into a key without allocating per entry.
type treeFeeder struct {
	k      *keyer
	sums   map[*rootfs.Tree]*dirSums
	path   []byte // the current directory, "" for the root
	modes  map[fs.FileMode]string
	owners map[uint64]string
	hex    [64]byte
}

func (f *treeFeeder) feed(t *rootfs.Tree) {
	sums := f.sums[t].sums
	dir := len(f.path)
	for i := range t.Nodes {
		n := &t.Nodes[i]
		f.path = append(append(f.path[:dir], '/'), n.Name...)
		f.k.addBytes(f.path)
		f.k.add(f.mode(n.Mode), f.owner(n.UID, n.GID))
		switch {
		case n.Mode&fs.ModeSymlink != 0:
			f.k.add(n.Target)
		case n.Mode.IsRegular():
			hex.Encode(f.hex[:], sums[i][:])
			f.k.addBytes(f.hex[:])
		case n.Dir != nil:
			f.feed(n.Dir)
		}
	}
	f.path = f.path[:dir]
}

func (f *treeFeeder) mode(m fs.FileMode) string {
	s, ok := f.modes[m]
	if !ok {
		s = m.String()
		f.modes[m] = s
	}
	return s
}

// owner is fmt.Sprint(uid, ":", gid).
func (f *treeFeeder) owner(uid, gid uint32) string {
	id := uint64(uid)<<32 | uint64(gid)
	s, ok := f.owners[id]
	if !ok {
		s = strconv.FormatUint(uint64(uid), 10) + ":" + strconv.FormatUint(uint64(gid), 10)
		f.owners[id] = s
	}
	return s
}

// dirSums are a walked directory's content digests, aligned with its
// nodes, and how many of its files the stat cache knew.
type dirSums struct {
	sums [][32]byte
	hits int
	rec  *dirStats // the cache's record when the walk began
}

// hashJob is a file of a walked tree the stat cache does not know.
type hashJob struct {
	t    *rootfs.Tree
	i    int
	path string // the directory in the source, for errors
}

// treeSums returns the content digests of the regular files of t, the
// tree of directory p: from sc where stat still matches, else read,
// several files at once; sc learns the new ones.
func treeSums(ctx context.Context, p string, t *rootfs.Tree, sc *statCache) (map[*rootfs.Tree]*dirSums, error) {
	start := time.Now()
	sums := map[*rootfs.Tree]*dirSums{}
	var jobs []hashJob
	var walk func(t *rootfs.Tree, p string)
	walk = func(t *rootfs.Tree, p string) {
		d := &dirSums{sums: make([][32]byte, len(t.Nodes))}
		if sc != nil {
			d.rec = sc.record(t.Host)
		}
		sums[t] = d
		for i := range t.Nodes {
			n := &t.Nodes[i]
			switch {
			case n.Mode.IsRegular():
				if sum, ok := d.rec.lookup(n.Name, nodeStat(n)); ok {
					d.sums[i] = sum
					d.hits++
				} else {
					jobs = append(jobs, hashJob{t: t, i: i, path: p})
				}
			case n.Dir != nil:
				walk(n.Dir, joinPath(p, n.Name))
			}
		}
	}
	walk(t, p)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.NumCPU())
	for _, j := range jobs {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			n := &j.t.Nodes[j.i]
			sum, err := fileDigest(j.t.Host + "/" + n.Name)
			if err != nil {
				return fmt.Errorf("hashing %s: %w", joinPath(j.path, n.Name), err)
			}
			sums[j.t].sums[j.i] = sum
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if sc != nil {
		for t, d := range sums {
			sc.learn(t, d, start)
		}
	}
	return sums, nil
}

// learn replaces the record of walked directory t when it changed: files
// hashed again, files gone from the directory, a new listing. Files and
// listings that changed within the racy margin are not remembered; the
// record's older entry for such a file stays (it no longer matches its
// stat), so that an edit does not rewrite the cache on every build.
// Entries of files the walk left out (.dockerignore) stay while the
// directory holds them.
func (sc *statCache) learn(t *rootfs.Tree, d *dirSums, start time.Time) {
	rec := d.rec
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
	if !changed && d.hits == len(rec.names) && d.hits == d.regular(t) {
		return
	}
	keep := func(j int) {
		next.names, next.files = append(next.names, rec.names[j]), append(next.files, rec.files[j])
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
		case old && rec.files[j].sameStat(s):
			keep(j)
		case sc.isRacy(s.ctime, start):
			if old {
				keep(j)
			}
		default:
			s.sum = d.sums[i]
			next.names, next.files = append(next.names, n.Name), append(next.files, s)
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

// regular counts t's regular files.
func (d *dirSums) regular(t *rootfs.Tree) int {
	n := 0
	for i := range t.Nodes {
		if t.Nodes[i].Mode.IsRegular() {
			n++
		}
	}
	return n
}

// joinPath is path.Join for a clean absolute dir and a name.
func joinPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}
