package report

import (
	"cmp"
	"slices"
	"strings"
)

// Efficiency is dive's measure of an image (wagoodman/dive
// dive/filetree/efficiency.go and dive/image/docker/image.go), computed the
// same way so that figures are comparable:
//
//   - every layer is a tree of its tar entries; its leaves (entries with
//     nothing below them in that layer, whiteouts included, a whiteout
//     standing for the path it deletes) are visited;
//   - a visited leaf weighs its tar size; a whiteout of a path that was a
//     directory weighs what lay under that directory in the layers below, a
//     whiteout of anything else weighs nothing;
//   - per path, the weights add up (cumulative) and the smallest is kept
//     (minimum);
//   - Score = Σ minimum / Σ cumulative over all paths (1 when nothing
//     weighs anything); WastedBytes = Σ cumulative over the paths visited in
//     two layers or more (a file added then deleted, or written twice, with
//     all its copies).
//
// Two deliberate differences, both in corner cases: a whiteout of a path no
// lower layer has is ignored (dive stops visiting the rest of that layer),
// and the tree below a whiteout honours opaque directories (dive ignores
// .wh..wh..opq).
type Efficiency struct {
	Score       float64 `json:"score"`
	WastedBytes int64   `json:"wasted_bytes"`
	// UserSize is the content of every layer but the first (dive's "user
	// size"); WastedUserPercent is WastedBytes over it, in percent.
	UserSize          int64   `json:"user_size"`
	WastedUserPercent float64 `json:"wasted_user_percent"`
	// Wasted lists the paths that waste the most, largest first.
	Wasted []Waste `json:"wasted,omitempty"`
}

// Waste is a path present in several layers.
type Waste struct {
	Path   string `json:"path"`
	Layers int    `json:"layers"`
	Bytes  int64  `json:"bytes"`
}

// pathWeight is what efficiency keeps per path.
type pathWeight struct {
	cumulative, minimum int64
	count               int32
}

type efficiency struct {
	paths map[string]pathWeight
}

func newEfficiency() *efficiency { return &efficiency{paths: map[string]pathWeight{}} }

// addLayer visits the leaves of one layer; fs is the filesystem of the
// layers below it.
func (e *efficiency) addLayer(sc *layerScan, fs *filesystem) {
	inner := map[string]struct{}{}    // tree nodes with a child in this layer
	explicit := map[string]struct{}{} // paths with an entry in this layer
	leaves := map[string]int{}        // leaf key → entry index, last wins
	wh := map[string]int{}            // whiteout key → entry index
	for i, en := range sc.entries {
		d := parentDir(en.path)
		if en.kind == opaqueEntry {
			d = en.path // the marker is not in dive's tree, its directory is
		}
		for ; d != ""; d = parentDir(d) {
			if _, ok := inner[d]; ok {
				break
			}
			inner[d] = struct{}{}
		}
		switch en.kind {
		case whiteoutEntry:
			wh[en.path] = i
		case opaqueEntry:
		default:
			leaves[en.path] = i
			explicit[en.path] = struct{}{}
		}
	}
	for _, en := range sc.entries { // an opaque directory with nothing else in it is a bare node
		if en.kind != opaqueEntry {
			continue
		}
		if _, ok := explicit[en.path]; !ok {
			if _, ok := inner[en.path]; !ok {
				e.add(en.path, 0)
			}
		}
	}
	for p, i := range leaves {
		if _, ok := inner[p]; !ok {
			e.add(p, sc.entries[i].size)
		}
	}
	e.addWhiteouts(wh, fs)
}

// addWhiteouts weighs whiteouts against the layers below: a deleted
// directory weighs what was under it.
func (e *efficiency) addWhiteouts(wh map[string]int, fs *filesystem) {
	dirs := map[string]int64{}
	for p := range wh {
		n, ok := fs.nodes[p]
		if !ok {
			continue
		}
		if n.dir {
			dirs[p] = n.size
		}
	}
	if len(dirs) > 0 {
		for p, n := range fs.nodes {
			for d := parentDir(p); d != ""; d = parentDir(d) {
				if _, ok := dirs[d]; ok {
					dirs[d] += n.size
				}
			}
		}
	}
	for p := range wh {
		if _, ok := fs.nodes[p]; !ok {
			continue
		}
		e.add(p, dirs[p])
	}
}

func (e *efficiency) add(p string, size int64) {
	w, ok := e.paths[p]
	if !ok || size < w.minimum {
		w.minimum = size
	}
	w.cumulative += size
	w.count++
	e.paths[p] = w
}

// result computes the figures; rep's layers must be filled.
func (e *efficiency) result(rep *Image, top int) Efficiency {
	var ef Efficiency
	var minimum, cumulative int64
	for p, w := range e.paths {
		minimum += w.minimum
		cumulative += w.cumulative
		if w.count < 2 {
			continue
		}
		ef.WastedBytes += w.cumulative
		ef.Wasted = append(ef.Wasted, Waste{Path: "/" + p, Layers: int(w.count), Bytes: w.cumulative})
	}
	ef.Score = 1
	if cumulative > 0 {
		ef.Score = float64(minimum) / float64(cumulative)
	}
	for _, l := range rep.Layers[min(1, len(rep.Layers)):] {
		ef.UserSize += l.Content
	}
	if ef.UserSize > 0 {
		ef.WastedUserPercent = 100 * float64(ef.WastedBytes) / float64(ef.UserSize)
	}
	slices.SortFunc(ef.Wasted, func(a, b Waste) int {
		if c := cmp.Compare(b.Bytes, a.Bytes); c != 0 {
			return c
		}
		return strings.Compare(a.Path, b.Path)
	})
	if len(ef.Wasted) > top {
		ef.Wasted = ef.Wasted[:top]
	}
	return ef
}
