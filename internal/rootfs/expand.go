package rootfs

// Expanding COPY/ADD sources: plain paths and wildcards, matched in the
// source the way BuildKit matches them.

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// expand turns one source pattern into items: a plain path must exist; a
// wildcard matching nothing gives no items (BuildKit's AllowEmptyWildcard),
// but its fixed leading directory must exist.
func (c *copier) expand(s string) ([]item, error) {
	base, pattern := "/", s
	if c.opts.Parents {
		if b, p, ok := strings.Cut(s, "/./"); ok {
			base, pattern = cleanAbs(b), p
		}
	}
	full := path.Join(base, pattern)
	fixed, wild := splitWildcards(full)
	if len(wild) == 0 {
		if _, err := c.src.Lstat(full); err != nil {
			return nil, c.notFound(s, err)
		}
		it := item{orig: s, path: full}
		if c.opts.Parents {
			it.rel = c.relTo(base, full)
		}
		return []item{it}, nil
	}
	if _, err := c.src.Lstat(fixed); err != nil {
		return nil, c.notFound(s, err)
	}
	var out []item
	err := c.match(fixed, wild, func(p string) {
		it := item{orig: s, path: p}
		if c.opts.Parents {
			it.rel = c.relTo(base, p)
		}
		out = append(out, it)
	})
	return out, err
}

func (c *copier) relTo(base, p string) string {
	return strings.TrimPrefix(strings.TrimPrefix(p, base), "/")
}

func (c *copier) notFound(s string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return &NotFoundError{Path: s, Context: c.isCtx}
	}
	return fmt.Errorf("reading source %s: %w", s, err)
}

// match walks dir matching the remaining wildcard segments (filepath.Match
// per segment, sorted), descending only into real directories.
func (c *copier) match(dir string, segs []string, fn func(string)) error {
	des, err := c.src.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, de := range des {
		ok, err := filepath.Match(segs[0], de.Name())
		if err != nil {
			return fmt.Errorf("matching %s: %w", segs[0], err)
		}
		if !ok {
			continue
		}
		p := path.Join(dir, de.Name())
		if len(segs) == 1 {
			fn(p)
		} else if de.IsDir() {
			if err := c.match(p, segs[1:], fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// splitWildcards splits p at its first segment holding a wildcard.
func splitWildcards(p string) (string, []string) {
	segs := splitPath(p)
	for i, s := range segs {
		if hasWildcard(s) {
			return "/" + path.Join(segs[:i]...), segs[i:]
		}
	}
	return p, nil
}

func hasWildcard(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '*', '?', '[':
			return true
		}
	}
	return false
}
