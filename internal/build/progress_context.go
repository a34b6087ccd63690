package build

import (
	"context"
	"io/fs"
	"sync/atomic"

	"github.com/strata-build/strata/internal/rootfs"
)

// contextKey is contentKey of src, the build context, for a COPY of
// stage: shown as BuildKit's "[internal] load build context" with its
// "transferring context: N" status, N the size of the files the COPY
// selects (what BuildKit's first transfer of them sends; strata reads
// them in place, only those the stat cache does not know). The walk is
// the context's, not the step's: the step waits meanwhile, as in BuildKit
// the COPY waits for the context's vertex. Every walk shows on the one
// vertex, as BuildKit shows one local source per build.
func (r *run) contextKey(ctx context.Context, stage string, src rootfs.Source, patterns []string, sc *statCache) (string, error) {
	resume := r.waiting(stage)
	defer resume()
	v := r.vertex("[internal] load build context")
	v.Status("transferring context:", 0, 0, false)
	m := measured(src)
	id, err := contentKey(ctx, m, patterns, sc)
	v.Status("transferring context:", m.bytes(), 0, true)
	v.Done(false, err)
	return id, err
}

// sizedSource counts the size of the regular files a walk of its Source
// sees.
type sizedSource struct {
	rootfs.Source
	n atomic.Int64
}

func (s *sizedSource) bytes() int64 { return s.n.Load() }

// Lstat implements rootfs.Source: a regular file's size counts (contentKey
// stats every file it hashes that no tree walk listed).
func (s *sizedSource) Lstat(p string) (fs.FileInfo, error) {
	fi, err := s.Source.Lstat(p)
	if err == nil && fi.Mode().IsRegular() {
		s.n.Add(fi.Size())
	}
	return fi, err
}

// sizedWalker is a sizedSource whose Source walks trees: each walked
// tree's files count.
type sizedWalker struct {
	*sizedSource
	tw rootfs.TreeWalker
}

var (
	_ rootfs.Source     = (*sizedSource)(nil)
	_ rootfs.TreeWalker = sizedWalker{}
)

// WalkTree implements rootfs.TreeWalker.
func (s sizedWalker) WalkTree(ctx context.Context, p string, l rootfs.Listings) (*rootfs.Tree, error) {
	t, err := s.tw.WalkTree(ctx, p, l)
	if err == nil {
		s.n.Add(treeSize(t))
	}
	return t, err
}

// measured wraps src so that what contentKey reads of it is counted,
// keeping its ability to walk trees.
func measured(src rootfs.Source) interface {
	rootfs.Source
	bytes() int64
} {
	s := &sizedSource{Source: src}
	if tw, ok := src.(rootfs.TreeWalker); ok {
		return sizedWalker{sizedSource: s, tw: tw}
	}
	return s
}

// treeSize is the size of the regular files in t and below.
func treeSize(t *rootfs.Tree) int64 {
	var n int64
	for i := range t.Nodes {
		switch nd := &t.Nodes[i]; {
		case nd.Mode.IsRegular():
			n += nd.Size
		case nd.Dir != nil:
			n += treeSize(nd.Dir)
		}
	}
	return n
}
