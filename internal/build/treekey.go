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
// hashed again (unless racy: they are left out), files gone, a new
// listing (unless racy).
func (sc *statCache) learn(t *rootfs.Tree, d *dirSums, start time.Time) {
	listed := t.Listed != nil && !sc.isRacy(t.Stat.Ctime, start)
	filesSame := d.rec != nil && d.hits == len(d.rec.names) && d.hits == d.regular(t)
	if filesSame && (!listed || d.rec.listed != nil && d.rec.listStat == t.Stat && slices.Equal(d.rec.listed, t.Listed)) {
		return
	}
	next := &dirStats{}
	if listed {
		next.listed, next.listStat = t.Listed, t.Stat
	} else if d.rec != nil && d.rec.listed != nil && d.rec.listStat == t.Stat {
		next.listed, next.listStat = d.rec.listed, d.rec.listStat
	}
	if filesSame {
		next.names, next.files = d.rec.names, d.rec.files
		sc.replace(t.Host, next)
		return
	}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		if !n.Mode.IsRegular() {
			continue
		}
		s := nodeStat(n)
		if _, ok := d.rec.lookup(n.Name, s); !ok && sc.isRacy(s.ctime, start) {
			continue
		}
		s.sum = d.sums[i]
		next.names, next.files = append(next.names, n.Name), append(next.files, s)
	}
	if d.rec == nil && len(next.names) == 0 && next.listed == nil {
		return
	}
	sc.replace(t.Host, next)
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
