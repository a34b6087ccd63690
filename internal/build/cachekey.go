package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/rootfs"
	"github.com/strata-build/strata/internal/store"
)

// keyer builds a cache key: a sha256 over length-prefixed fields, so that
// no two field lists give the same bytes.
type keyer struct{ h hash.Hash }

func newKeyer(kind string) *keyer {
	k := &keyer{h: sha256.New()}
	k.add("strata.cache.v1", kind)
	return k
}

func (k *keyer) add(fields ...string) *keyer {
	for _, f := range fields {
		fmt.Fprintf(k.h, "%d:%s;", len(f), f)
	}
	return k
}

func (k *keyer) sum() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(k.h.Sum(nil))}
}

// runKey is the key of a RUN: the parent state's key, the command, and what
// the process can see (environment with ARGs, user, working directory,
// shell), plus extra (mounts, heredocs).
func runKey(st *state, text string, extra ...string) v1.Hash {
	k := newKeyer("run").add(st.key.String(), text, st.img.Config.User, st.img.Config.WorkingDir)
	k.add(strings.Join(st.img.Config.Shell, "\x00"))
	k.add(st.env...)
	k.add("--")
	return k.add(extra...).sum()
}

// fileKey is the key of COPY, ADD and WORKDIR: the parent state's key, the
// instruction after expansion (so the values of variables it uses count,
// as in BuildKit, but not the rest of the environment), the user and
// working directory, plus extra (source content).
func fileKey(st *state, text string, extra ...string) v1.Hash {
	k := newKeyer("file").add(st.key.String(), text, st.img.Config.User, st.img.Config.WorkingDir)
	return k.add(extra...).sum()
}

// metaKey chains an instruction that makes no layer into the key. Its
// effect on later layers is in their own keys (RUN sees the environment,
// COPY its expanded text, both the user and working directory), so a changed
// ARG invalidates from its first use, as in Docker.
func metaKey(prev v1.Hash, text string) v1.Hash {
	return newKeyer("meta").add(prev.String(), text).sum()
}

// fsDigest identifies a state's filesystem: its layers' diff IDs in order.
func (s *state) fsDigest() (string, error) {
	k := newKeyer("fs")
	for _, l := range s.layers {
		d, err := l.layer.DiffID()
		if err != nil {
			return "", err
		}
		k.add(d.String())
	}
	return k.sum().String(), nil
}

// statCache remembers content digests of context files by what stat says,
// so an unchanged context is not read again: keyed by path, and valid while
// size, mtime, ctime, inode and mode are the same.
type statCache struct {
	mu      sync.Mutex
	entries map[string]statEntry
	dirty   bool
}

type statEntry struct {
	Size   int64  `json:"s"`
	Mtime  int64  `json:"m"`
	Ctime  int64  `json:"c"`
	Ino    uint64 `json:"i"`
	Mode   uint32 `json:"o"`
	Digest string `json:"d"`
}

const statCacheName = "statcache.json"

func loadStatCache(ctx context.Context, st *store.Store) *statCache {
	sc := &statCache{entries: map[string]statEntry{}}
	if b, err := st.Meta(ctx, statCacheName); err == nil {
		_ = json.Unmarshal(b, &sc.entries) // a damaged cache is only slower
	}
	return sc
}

func (sc *statCache) save(ctx context.Context, st *store.Store) error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if !sc.dirty {
		return nil
	}
	b, err := json.Marshal(sc.entries)
	if err != nil {
		return err
	}
	return st.PutMeta(ctx, statCacheName, b)
}

// digest returns the sha256 of the file at host path p.
func (sc *statCache) digest(p string, fi fs.FileInfo) (string, error) {
	e := statEntry{Size: fi.Size(), Mtime: fi.ModTime().UnixNano(), Mode: uint32(fi.Mode())}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.Ino, e.Ctime = sys.Ino, sys.Ctim.Sec*1e9+sys.Ctim.Nsec
	}
	if sc == nil {
		return fileDigest(p)
	}
	sc.mu.Lock()
	old, ok := sc.entries[p]
	sc.mu.Unlock()
	if ok && old.Size == e.Size && old.Mtime == e.Mtime && old.Ctime == e.Ctime && old.Ino == e.Ino && old.Mode == e.Mode {
		return old.Digest, nil
	}
	d, err := fileDigest(p)
	if err != nil {
		return "", err
	}
	e.Digest = d
	sc.mu.Lock()
	sc.entries[p], sc.dirty = e, true
	sc.mu.Unlock()
	return e.Digest, nil
}

// contentKey hashes what COPY would read from src for patterns: every
// matched path and, below directories, every entry with type, mode, owner,
// link target and content digest. mtimes do not count.
// sc remembers digests of files that live on (the context); nil hashes
// every file (temporary sources).
func contentKey(ctx context.Context, src rootfs.Source, patterns []string, sc *statCache) (string, error) {
	k := newKeyer("content")
	for _, p := range patterns {
		matches, err := glob(src, path.Join("/", p))
		if err != nil {
			return "", err
		}
		k.add("pattern", p)
		for _, m := range matches {
			if err := hashTree(ctx, k, src, m, sc); err != nil {
				return "", err
			}
		}
	}
	return k.sum().String(), nil
}

func hashTree(ctx context.Context, k *keyer, src rootfs.Source, p string, sc *statCache) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	fi, err := src.Lstat(p)
	if err != nil {
		k.add("missing", p)
		return nil
	}
	uid, gid := owner(fi)
	k.add(p, fi.Mode().String(), fmt.Sprint(uid, ":", gid))
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := src.Readlink(p)
		if err != nil {
			return err
		}
		k.add(target)
	case fi.Mode().IsRegular():
		host, err := src.RealPath(p)
		if err != nil {
			return err
		}
		d, err := sc.digest(host, fi)
		if err != nil {
			return fmt.Errorf("hashing %s: %w", p, err)
		}
		k.add(d)
	case fi.IsDir():
		entries, err := src.ReadDir(p)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := hashTree(ctx, k, src, path.Join(p, e.Name()), sc); err != nil {
				return err
			}
		}
	}
	return nil
}

func owner(fi fs.FileInfo) (uint32, uint32) {
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		return sys.Uid, sys.Gid
	}
	return 0, 0
}

// glob expands wildcards segment by segment with path.Match; a pattern
// without wildcards is returned as is (present or not).
func glob(src rootfs.Source, pattern string) ([]string, error) {
	if !strings.ContainsAny(pattern, "*?[\\") {
		return []string{pattern}, nil
	}
	out := []string{"/"}
	for _, seg := range strings.Split(strings.Trim(pattern, "/"), "/") {
		var next []string
		for _, dir := range out {
			if !strings.ContainsAny(seg, "*?[\\") {
				next = append(next, path.Join(dir, seg))
				continue
			}
			entries, err := src.ReadDir(dir)
			if err != nil {
				continue
			}
			for _, e := range entries {
				if ok, _ := path.Match(seg, e.Name()); ok {
					next = append(next, path.Join(dir, e.Name()))
				}
			}
		}
		out = next
	}
	sort.Strings(out)
	return out, nil
}

func fileDigest(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
