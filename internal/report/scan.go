package report

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// entryKind is what a tar entry does to the filesystem.
type entryKind uint8

const (
	fileEntry     entryKind = iota // anything but a directory: regular, link, device...
	dirEntry                       // a directory
	whiteoutEntry                  // .wh.NAME: deletes NAME from lower layers
	opaqueEntry                    // .wh..wh..opq: hides the lower contents of its directory
)

// Whiteout names, as the OCI image spec defines them.
const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// maxPackageJSON bounds the package.json files read for the bloat finder.
const maxPackageJSON = 1 << 20

// entry is one tar entry of a layer.
type entry struct {
	// path is cleaned and relative ("usr/bin/env"); for a whiteout, the path
	// it deletes; for an opaque marker, its directory.
	path string
	size int64
	kind entryKind
	elf  bool // an executable regular file starting with the ELF magic
}

// layerScan is what reading one layer found.
type layerScan struct {
	entries  []entry
	tarBytes int64 // length of the uncompressed tar stream
	content  int64 // sum of the entries' sizes
	files    int   // entries that are neither directories nor whiteouts
	deleted  int   // whiteouts
	// packages are the package.json files outside node_modules, by directory.
	packages map[string]packageJSON
}

// packageJSON is what the bloat finder needs of a package.json.
type packageJSON struct {
	Dependencies    map[string]any `json:"dependencies"`
	DevDependencies map[string]any `json:"devDependencies"`
}

// scanLayer streams l's uncompressed tar once.
func scanLayer(ctx context.Context, l v1.Layer) (*layerScan, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	ahead := newAheadReader(rc) // decompression on a core of its own
	defer ahead.Close()
	cr := &countingReader{r: ahead}
	sc := &layerScan{packages: map[string]packageJSON{}}
	tr := tar.NewReader(cr)
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading tar: %w", err)
		}
		if err := sc.add(tr, h); err != nil {
			return nil, fmt.Errorf("reading %s: %w", h.Name, err)
		}
	}
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return nil, fmt.Errorf("reading tar: %w", err)
	}
	sc.tarBytes = cr.n
	return sc, nil
}

// add records one tar entry.
func (sc *layerScan) add(r io.Reader, h *tar.Header) error {
	p := cleanPath(h.Name)
	if p == "" {
		return nil
	}
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	e := entry{path: p, size: h.Size}
	switch {
	case base == opaqueMarker:
		e.path, e.size, e.kind = dir, 0, opaqueEntry
	case strings.HasPrefix(base, whiteoutPrefix):
		e.path, e.size, e.kind = path.Join(dir, base[len(whiteoutPrefix):]), 0, whiteoutEntry
		sc.deleted++
	case h.Typeflag == tar.TypeDir:
		e.kind = dirEntry
	default:
		sc.files++
	}
	if h.Typeflag == tar.TypeReg && e.kind == fileEntry {
		if err := sc.peek(r, h, &e, dir, base); err != nil {
			return err
		}
	}
	sc.content += e.size
	sc.entries = append(sc.entries, e)
	return nil
}

// peek reads the start of executables (for the ELF magic) and small
// package.json files.
func (sc *layerScan) peek(r io.Reader, h *tar.Header, e *entry, dir, base string) error {
	if h.Mode&0o111 != 0 && h.Size >= 4 {
		var magic [4]byte
		if _, err := io.ReadFull(r, magic[:]); err != nil {
			return err
		}
		e.elf = bytes.Equal(magic[:], []byte("\x7fELF"))
		return nil
	}
	if base != "package.json" || h.Size > maxPackageJSON || strings.Contains("/"+dir+"/", "/node_modules/") {
		return nil
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	var pj packageJSON
	if json.Unmarshal(b, &pj) == nil { // a broken package.json declares nothing
		sc.packages[dir] = pj
	}
	return nil
}

// cleanPath turns a tar name into a relative slash path; "" is the root.
func cleanPath(name string) string {
	p := path.Clean("/" + name)
	return strings.TrimPrefix(p, "/")
}

// parentDir is the directory holding p ("" for a top-level name).
func parentDir(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
