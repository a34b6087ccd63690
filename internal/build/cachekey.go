package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/rootfs"
)

// keyer builds a cache key: a sha256 over length-prefixed fields
// ("<len>:<field>;"), so that no two field lists give the same bytes.
// Fields are gathered in a buffer and hashed in blocks.
type keyer struct {
	h   hash.Hash
	buf []byte
}

// keyerFlush is the buffer size at which fields are hashed.
const keyerFlush = 64 << 10

func newKeyer(kind string) *keyer {
	k := &keyer{h: sha256.New()}
	k.add("strata.cache.v1", kind)
	return k
}

func (k *keyer) add(fields ...string) *keyer {
	for _, f := range fields {
		k.buf = strconv.AppendInt(k.buf, int64(len(f)), 10)
		k.buf = append(append(append(k.buf, ':'), f...), ';')
	}
	return k.flush(keyerFlush)
}

// addBytes adds one field.
func (k *keyer) addBytes(f []byte) *keyer {
	k.buf = strconv.AppendInt(k.buf, int64(len(f)), 10)
	k.buf = append(append(append(k.buf, ':'), f...), ';')
	return k.flush(keyerFlush)
}

// flush hashes the buffer once it holds at least n bytes.
func (k *keyer) flush(n int) *keyer {
	if len(k.buf) >= n {
		k.h.Write(k.buf)
		k.buf = k.buf[:0]
	}
	return k
}

func (k *keyer) sum() v1.Hash {
	k.flush(0)
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

// contentKey hashes what COPY would read from src for patterns: every
// matched path and, below directories, every entry with type, mode, owner,
// link target and content digest. mtimes do not count.
// sc remembers digests of files that live on (the context); nil hashes
// every file (temporary sources). A directory of a source that can walk
// trees (the build context) is walked in one go, in parallel, its files
// that the cache does not know hashed in parallel: the key is the same
// as hashTree's path by path.
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

// hashTree adds to k the entries of the tree at p: path, mode, owner,
// and a symlink's target or a regular file's digest. Changing what it
// adds means changing treeKeyVersion (key memos).
func hashTree(ctx context.Context, k *keyer, src rootfs.Source, p string, sc *statCache) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	fi, err := src.Lstat(p)
	if err != nil {
		k.add("missing", p)
		return nil
	}
	owners, _ := keyOwners(ctx)
	uid, gid := owners(owner(fi))
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
		k.add(hex.EncodeToString(d[:]))
	case fi.IsDir():
		if tw, ok := src.(rootfs.TreeWalker); ok {
			t, err := tw.WalkTree(ctx, p, sc)
			if err != nil {
				return err
			}
			return hashWalked(ctx, k, p, t, sc)
		}
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

// fileDigest returns the sha256 of the file at host path p.
func fileDigest(p string) ([32]byte, error) {
	var sum [32]byte
	f, err := os.Open(p)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, err
	}
	h.Sum(sum[:0])
	return sum, nil
}
