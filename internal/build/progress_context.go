package build

import (
	"context"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

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
	if l, ok := r.loads.take(stage, patterns); ok {
		return l.id, l.err
	}
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

// preloadContext makes the context key of stp, a COPY or ADD that reads
// the build context, before the step's vertex starts: BuildKit's COPY
// starts once the context's vertex is done, so "[internal] load build
// context" comes before it in every display. The step takes the key
// (contextKey) instead of walking again. Anything else, or an instruction
// that does not expand, is left to the step.
func (r *run) preloadContext(ctx context.Context, stp step, st *state) {
	cmd, err := expand(stp.cmd, st)
	if err != nil {
		return
	}
	var cs copySpec
	switch c := cmd.(type) {
	case *instructions.CopyCommand:
		cs = copyFromCopy(c)
	case *instructions.AddCommand:
		cs = copyFromAdd(c)
	default:
		return
	}
	srcs := cs.sd.SourcePaths
	if cs.from != "" || len(srcs) == 0 || cs.add && (isGitSource(srcs) || hasURL(srcs)) {
		return
	}
	src, err := r.mainContext()
	if err != nil {
		return
	}
	stage := r.progressStage(stp.stage)
	id, err := r.contextKey(ctx, stage, src, srcs, r.stats)
	r.loads.put(stage, srcs, contextLoad{id: id, err: err})
}

// contextLoads are context keys made before their steps (preloadContext),
// each taken once, by stage and patterns.
type contextLoads struct {
	mu sync.Mutex
	m  map[string]contextLoad
}

// contextLoad is a context key made, or why it could not be.
type contextLoad struct {
	id  string
	err error
}

func loadKey(stage string, patterns []string) string {
	return stage + "\x00" + strings.Join(patterns, "\x00")
}

func (c *contextLoads) put(stage string, patterns []string, l contextLoad) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]contextLoad{}
	}
	c.m[loadKey(stage, patterns)] = l
}

// take returns and forgets the key made for stage and patterns.
func (c *contextLoads) take(stage string, patterns []string) (contextLoad, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := loadKey(stage, patterns)
	l, ok := c.m[k]
	delete(c.m, k)
	return l, ok
}
