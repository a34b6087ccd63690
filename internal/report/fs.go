package report

import (
	"cmp"
	"slices"
	"strings"
)

// node is one path of the stacked filesystem.
type node struct {
	size int64
	dir  bool
	elf  bool
}

// filesystem is the result of applying layers bottom first, as the OCI
// image spec says: a layer's whiteouts and opaque markers hide what lower
// layers put there, then its entries are added.
type filesystem struct {
	nodes map[string]node
	// parents holds every directory that ever had something under it: a
	// whiteout of a path not in it needs no scan for descendants.
	parents map[string]struct{}
	// packages are the package.json files by directory, last writer wins.
	packages map[string]packageJSON
}

func newFilesystem() *filesystem {
	return &filesystem{nodes: map[string]node{}, parents: map[string]struct{}{}, packages: map[string]packageJSON{}}
}

// apply stacks one layer on the filesystem.
func (fs *filesystem) apply(sc *layerScan) {
	hidden := map[string]struct{}{} // directories whose lower contents go away
	for _, e := range sc.entries {
		switch e.kind {
		case whiteoutEntry:
			delete(fs.nodes, e.path)
			if _, ok := fs.parents[e.path]; ok {
				hidden[e.path] = struct{}{}
			}
		case opaqueEntry:
			if _, ok := fs.parents[e.path]; ok {
				hidden[e.path] = struct{}{}
			}
		}
	}
	fs.removeUnder(hidden)
	replaced := map[string]struct{}{} // directories replaced by non-directories
	for _, e := range sc.entries {
		if e.kind != fileEntry && e.kind != dirEntry {
			continue
		}
		if old, ok := fs.nodes[e.path]; ok && old.dir && e.kind != dirEntry {
			replaced[e.path] = struct{}{}
		}
		fs.nodes[e.path] = node{size: e.size, dir: e.kind == dirEntry, elf: e.elf}
		for d := parentDir(e.path); d != ""; d = parentDir(d) {
			if _, ok := fs.parents[d]; ok {
				break
			}
			fs.parents[d] = struct{}{}
		}
	}
	fs.removeUnder(replaced)
	for dir, pj := range sc.packages {
		fs.packages[dir] = pj
	}
}

// removeUnder deletes every path strictly below one of dirs, in one pass.
func (fs *filesystem) removeUnder(dirs map[string]struct{}) {
	if len(dirs) == 0 {
		return
	}
	for p := range fs.nodes {
		if underAny(p, dirs) {
			delete(fs.nodes, p)
		}
	}
}

// underAny reports whether p is strictly below one of dirs.
func underAny(p string, dirs map[string]struct{}) bool {
	for d := parentDir(p); d != ""; d = parentDir(d) {
		if _, ok := dirs[d]; ok {
			return true
		}
	}
	return false
}

// summarize fills the final-filesystem figures of rep.
func (fs *filesystem) summarize(rep *Image, top int) {
	dirs := map[string]*PathSize{}
	var files []PathSize
	for p, n := range fs.nodes {
		if n.dir {
			continue
		}
		rep.Files++
		files = keepLargest(files, PathSize{Path: "/" + p, Size: n.size}, top)
		for d := parentDir(p); d != ""; d = parentDir(d) {
			ds := dirs[d]
			if ds == nil {
				ds = &PathSize{Path: "/" + d}
				dirs[d] = ds
			}
			ds.Size += n.size
			ds.Files++
		}
	}
	rep.LargestFiles = sortBySize(files)
	var largest []PathSize
	for d, ds := range dirs {
		if up, ok := dirs[parentDir(d)]; ok && up.Files == ds.Files {
			continue // a chain: the parent holds the same files
		}
		largest = keepLargest(largest, *ds, top)
	}
	rep.LargestDirs = sortBySize(largest)
}

// keepLargest adds ps to list, keeping at most n entries, the largest.
// list stays small (n), so a linear scan for the minimum is enough.
func keepLargest(list []PathSize, ps PathSize, n int) []PathSize {
	if len(list) < n {
		return append(list, ps)
	}
	min := 0
	for i := range list {
		if less(list[i], list[min]) {
			min = i
		}
	}
	if less(list[min], ps) {
		list[min] = ps
	}
	return list
}

// less orders by size, then by path descending, so that ties keep the
// alphabetically first paths and output is stable.
func less(a, b PathSize) bool {
	if a.Size != b.Size {
		return a.Size < b.Size
	}
	return a.Path > b.Path
}

func sortBySize(list []PathSize) []PathSize {
	slices.SortFunc(list, func(a, b PathSize) int {
		if c := cmp.Compare(b.Size, a.Size); c != 0 {
			return c
		}
		return strings.Compare(a.Path, b.Path)
	})
	return list
}
