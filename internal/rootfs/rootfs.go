// Package rootfs owns stage filesystems as stacks of overlay-format layer
// directories and the COPY/ADD semantics that write into a new layer, always
// confined to the root: no escape through "..", absolute symlinks or
// symlinks pointing outside.
//
// Overlay format: a directory tree as overlayfs uses it for lower and upper
// dirs. A whiteout is a character device 0/0; an opaque directory carries the
// xattr trusted.overlay.opaque="y".
//
// It must not import build, plan or sandbox.
package rootfs

import (
	"context"
	"fmt"
	"io/fs"
	"time"
)

// Stack is a read-only merged view of overlay-format layer directories,
// bottom first. The zero Stack is an empty filesystem (FROM scratch).
type Stack struct {
	Dirs []string
}

// Owner is a numeric owner.
type Owner struct {
	UID, GID int
}

// User is a user resolved in a stage's /etc/passwd and /etc/group.
type User struct {
	UID, GID int
	Groups   []int  // supplementary groups
	Home     string // from passwd; "/" when unknown
}

// Source is where COPY reads from: a build context directory (optionally
// filtered by .dockerignore) or another stage's Stack.
type Source interface {
	// Lstat, ReadDir, Open, Readlink work on clean absolute paths inside the
	// source, resolving intermediate symlinks inside the source's root.
	Lstat(p string) (fs.FileInfo, error)
	ReadDir(p string) ([]fs.DirEntry, error)
	Readlink(p string) (string, error)
	// RealPath returns the host path holding p's content.
	RealPath(p string) (string, error)
}

// CopyOptions control one COPY or ADD.
type CopyOptions struct {
	Chown   *Owner      // nil keeps the source owner for stage sources, root for the context
	Chmod   string      // octal or symbolic, "" keeps the mode
	Exclude []string    // --exclude patterns
	Parents bool        // --parents
	Extract bool        // ADD: auto-extract local tar archives
	Clamp   *time.Time  // clamp mtimes not after this, nil to keep
	Mkdir   fs.FileMode // mode of directories created for the destination (0755; an octal Chmod overrides it)
}

// Copy copies srcs (patterns relative to the source root, wildcards allowed)
// from src to dst (absolute, in the destination root) following Docker's
// rules, writing the result into layerDir (an empty overlay-format dir that
// will become the new top layer of under).
func Copy(ctx context.Context, src Source, srcs []string, under Stack, dst string, layerDir string, opts CopyOptions) error {
	return CopyAll(ctx, []Sources{{From: src, Paths: srcs}}, under, dst, layerDir, opts)
}

// Sources are patterns read from one Source.
type Sources struct {
	From  Source
	Paths []string
}

// CopyAll is Copy from several sources in turn into one layer: one COPY
// whose sources come from different places (files of the context, then
// here-documents, as BuildKit orders them).
func CopyAll(ctx context.Context, groups []Sources, under Stack, dst string, layerDir string, opts CopyOptions) error {
	if len(groups) == 0 {
		return nil
	}
	c, err := newCopier(ctx, groups[0].From, under, layerDir, opts)
	if err != nil {
		return err
	}
	return c.run(groups, dst)
}

// MkdirAll creates dir (absolute) in layerDir over under with owner, as
// WORKDIR does; existing directories in under are left as they are (copied
// up into layerDir only as parents of what is created).
func MkdirAll(ctx context.Context, under Stack, layerDir string, dir string, owner Owner) error {
	c, err := newCopier(ctx, &Dir{root: layerDir}, under, layerDir, CopyOptions{Chown: &owner, Mkdir: 0o755})
	if err != nil {
		return err
	}
	p, err := resolve(&walker{s: c.view}, cleanAbs(dir), true)
	if err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	if h, err := c.view.find(p); err == nil && h.fi.IsDir() {
		return nil // exists: WORKDIR changes nothing, so the layer stays empty
	}
	if err := c.ensureDir(p); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	return c.finish()
}
