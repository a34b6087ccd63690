package store

// The inventory garbage collection marks and sweeps over: every blob with
// its kind and references, the cache records, the extracted layer dirs and
// cache mounts.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// blobKind says what a blob is, as far as GC cares.
type blobKind int

const (
	kindOther blobKind = iota
	kindManifest
	kindIndex
)

func (k blobKind) removedKind() string {
	switch k {
	case kindManifest:
		return KindImage
	case kindIndex:
		return KindIndex
	}
	return KindBlob
}

type blobInfo struct {
	size    int64
	mtime   time.Time
	kind    blobKind
	refs    []v1.Hash // a manifest's config and layers, an index's children
	diffIDs []string  // hex diff IDs of a manifest's layers, from its config
	// attestation marks an attestation manifest (its layers are in-toto
	// statements): not an image of its own.
	attestation bool
}

type recordLayer struct {
	digest v1.Hash
	diffID string // hex
}

type recordInfo struct {
	key       v1.Hash
	mtime     time.Time
	fileSize  int64
	createdBy string
	layer     *recordLayer
	bad       bool // unreadable
}

// orphan reports whether the record is useless: unreadable, or its blob
// is gone (the builder treats both as a miss).
func (r *recordInfo) orphan(inv *inventory) bool {
	if r.bad {
		return true
	}
	if r.layer == nil {
		return false
	}
	_, ok := inv.blobs[r.layer.digest]
	return !ok
}

// dirInfo is an extracted layer directory or a cache mount; size and mtime
// are filled in by measure.
type dirInfo struct {
	name, path string
	mtime      time.Time
	size       int64
	measured   bool
}

// inventory is everything GC looks at, read once.
type inventory struct {
	roots   []v1.Hash // tagged manifests and indexes
	blobs   map[v1.Hash]*blobInfo
	records []*recordInfo
	layers  map[string]*dirInfo // by diff ID hex
	mounts  []*dirInfo
}

func (s *Store) inventory(ctx context.Context) (*inventory, error) {
	inv := &inventory{blobs: map[v1.Hash]*blobInfo{}, layers: map[string]*dirInfo{}}
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	if err := s.readBlobs(ctx, inv); err != nil {
		return nil, err
	}
	for _, d := range idx.Manifests {
		if d.Digest.Algorithm != "sha256" {
			continue
		}
		b, ok := inv.blobs[d.Digest]
		if ok && b.kind == kindOther {
			return nil, fmt.Errorf("reading tagged image %s (%s): not a manifest", d.Digest, d.Annotations[RefAnnotation])
		}
		inv.roots = append(inv.roots, d.Digest)
	}
	if inv.records, err = s.readRecords(ctx); err != nil {
		return nil, err
	}
	if inv.layers, err = listDirs(filepath.Join(s.root, "layers")); err != nil {
		return nil, fmt.Errorf("listing layer dirs: %w", err)
	}
	mounts, err := listDirs(filepath.Join(s.root, "cache-mounts"))
	if err != nil {
		return nil, fmt.Errorf("listing cache mounts: %w", err)
	}
	for _, d := range mounts {
		inv.mounts = append(inv.mounts, d)
	}
	sort.Slice(inv.mounts, func(i, j int) bool { return inv.mounts[i].name < inv.mounts[j].name })
	return inv, nil
}

// readBlobs lists every blob with its size and time, and parses manifests
// and indexes (and a manifest's config, for its diff IDs).
func (s *Store) readBlobs(ctx context.Context, inv *inventory) error {
	dir := filepath.Join(s.root, "blobs", "sha256")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("listing blobs: %w", err)
	}
	for _, e := range entries {
		h, err := v1.NewHash("sha256:" + e.Name())
		if err != nil {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		inv.blobs[h] = &blobInfo{size: fi.Size(), mtime: fi.ModTime()}
	}
	for h, b := range inv.blobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.parseBlob(h, b); err != nil {
			return err
		}
	}
	return nil
}

// parseBlob fills in kind, refs and diff IDs of a manifest or index.
func (s *Store) parseBlob(h v1.Hash, b *blobInfo) error {
	if b.size > maxManifestSize || b.size < 2 {
		return nil
	}
	raw, err := readJSONBlob(s.blobPath(h))
	if err != nil {
		return fmt.Errorf("reading blob %s: %w", h, err)
	}
	if raw == nil {
		return nil
	}
	var m struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     types.MediaType `json:"mediaType"`
		Config        *v1.Descriptor  `json:"config"`
		Layers        []v1.Descriptor `json:"layers"`
		Manifests     []v1.Descriptor `json:"manifests"`
	}
	if json.Unmarshal(raw, &m) != nil || m.SchemaVersion != 2 {
		return nil // a config or some other JSON blob
	}
	switch {
	case m.MediaType.IsIndex() || m.MediaType == "" && m.Manifests != nil && m.Config == nil:
		b.kind = kindIndex
		for _, d := range m.Manifests {
			b.refs = append(b.refs, d.Digest)
		}
	case m.MediaType.IsImage() || m.MediaType == "" && m.Config != nil && m.Config.Digest.Hex != "":
		b.kind = kindManifest
		if m.Config != nil {
			b.refs = append(b.refs, m.Config.Digest)
			b.diffIDs = s.diffIDs(m.Config.Digest)
		}
		for _, d := range m.Layers {
			b.refs = append(b.refs, d.Digest)
			b.attestation = b.attestation || d.MediaType == inTotoMediaType
		}
	}
	return nil
}

// inTotoMediaType is the media type of an attestation manifest's layers.
const inTotoMediaType = "application/vnd.in-toto+json"

// readJSONBlob reads the blob at path if it starts like a JSON object (a
// layer is not read past its first bytes); nil if not, or if it is gone.
func readJSONBlob(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, 64)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, err
	}
	if t := bytes.TrimLeft(head[:n], " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, nil
	}
	rest, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	return append(head[:n], rest...), nil
}

// diffIDs reads the layer diff IDs (hex) a config lists; none if it is
// missing or unreadable.
func (s *Store) diffIDs(cfg v1.Hash) []string {
	raw, err := s.readBlob(cfg)
	if err != nil {
		return nil
	}
	var c struct {
		RootFS struct {
			DiffIDs []v1.Hash `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return nil
	}
	var out []string
	for _, d := range c.RootFS.DiffIDs {
		out = append(out, d.Hex)
	}
	return out
}

// readRecords reads every build-cache record, as internal/build writes them.
func (s *Store) readRecords(ctx context.Context) ([]*recordInfo, error) {
	keys, err := s.CacheKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []*recordInfo
	for _, k := range keys {
		fi, err := os.Stat(s.cachePath(k))
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(s.cachePath(k))
		if err != nil {
			continue
		}
		out = append(out, parseRecord(k, fi, raw))
	}
	return out, nil
}

func parseRecord(k v1.Hash, fi fs.FileInfo, raw []byte) *recordInfo {
	r := &recordInfo{key: k, mtime: fi.ModTime(), fileSize: fi.Size()}
	var rec struct {
		Layer *struct {
			Digest string `json:"digest"`
			DiffID string `json:"diff_id"`
		} `json:"layer"`
		CreatedBy string `json:"created_by"`
	}
	if json.Unmarshal(raw, &rec) != nil {
		r.bad = true
		return r
	}
	r.createdBy = rec.CreatedBy
	if rec.Layer != nil {
		d, err := v1.NewHash(rec.Layer.Digest)
		if err != nil {
			r.bad = true
			return r
		}
		r.layer = &recordLayer{digest: d, diffID: strings.TrimPrefix(rec.Layer.DiffID, "sha256:")}
	}
	return r
}

// listDirs lists the directories (and stray files) directly under dir.
func listDirs(dir string) (map[string]*dirInfo, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]*dirInfo{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]*dirInfo{}
	for _, e := range entries {
		out[e.Name()] = &dirInfo{name: e.Name(), path: filepath.Join(dir, e.Name())}
	}
	return out, nil
}

// measure sums the apparent size of d's regular files and symlinks (each
// hard-linked inode once) and finds its newest modification time.
func (d *dirInfo) measure() error {
	if d.measured {
		return nil
	}
	seen := map[[2]uint64]bool{}
	err := filepath.WalkDir(d.path, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
				return nil
			}
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return nil
		}
		if fi.ModTime().After(d.mtime) {
			d.mtime = fi.ModTime()
		}
		if !fi.Mode().IsRegular() && fi.Mode()&fs.ModeSymlink == 0 {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			id := [2]uint64{uint64(st.Dev), st.Ino}
			if seen[id] {
				return nil
			}
			seen[id] = true
		}
		d.size += fi.Size()
		return nil
	})
	if err != nil {
		return fmt.Errorf("measuring %s: %w", d.path, err)
	}
	d.measured = true
	return nil
}
