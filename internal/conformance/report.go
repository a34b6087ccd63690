// Package conformance checks that strata builds the same images as Docker.
//
// It owns the comparison of two images by what a container would see: a
// Report holds the image config without its volatile fields and the
// filesystem after all layers are applied (whiteouts and opaque directories
// included), path by path, without mtimes. Diff lists the differences of two
// reports; Check holds a report to the expected result a corpus case states
// from the Dockerfile reference. The corpus lives in test/conformance and is
// run by scripts/conformance.sh (`make conformance`) through the driver in
// cmd/conformance. It is test tooling: nothing in strata imports it.
package conformance

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// configKeys are the fields of the image config ("config" in the image
// JSON) a report keeps; everything else (created, history, rootfs,
// container_config, docker_version, ...) is volatile or builder-specific.
func configKeys() []string {
	return []string{
		"Env", "Cmd", "Entrypoint", "User", "WorkingDir", "ExposedPorts", "Volumes",
		"Labels", "StopSignal", "Healthcheck", "OnBuild", "Shell",
	}
}

// Report is what a container sees of an image.
type Report struct {
	// Config maps "os", "architecture" and the kept config fields to their
	// canonical JSON; absent and null fields are left out.
	Config map[string]json.RawMessage `json:"config"`
	// Files maps absolute paths ("/" is the root) to their entries.
	Files map[string]File `json:"files"`
	// Platforms holds, for a multi-platform image (an index of several
	// platforms), each platform's report by "os/arch[/variant]"; Config
	// and Files are then empty.
	Platforms map[string]*Report `json:"platforms,omitempty"`
}

// File is one filesystem entry of a report.
type File struct {
	Type   string            `json:"type"` // file, dir, symlink, char, block, fifo
	Mode   uint32            `json:"mode"` // permission bits with setuid, setgid and sticky
	UID    int               `json:"uid"`
	GID    int               `json:"gid"`
	Size   int64             `json:"size,omitempty"`
	Link   string            `json:"link,omitempty"`   // symlink target
	SHA256 string            `json:"sha256,omitempty"` // regular file content
	Dev    string            `json:"dev,omitempty"`    // "major:minor" of devices
	Xattrs map[string]string `json:"xattrs,omitempty"` // hex values
	// HardLinks is, for a non-directory with more than one name, the first
	// of its names in sort order (the same for every name of the file).
	HardLinks string `json:"hardlinks,omitempty"`
	// inode ties the names of one file together while layers are applied.
	inode int
}

// LoadImage opens the single image in an OCI image layout directory or in a
// `docker save` tar.
func LoadImage(p string) (v1.Image, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("opening image: %w", err)
	}
	if !fi.IsDir() {
		img, err := tarball.ImageFromPath(p, nil)
		if err != nil {
			return nil, fmt.Errorf("reading docker archive %s: %w", p, err)
		}
		return img, nil
	}
	lp, err := layout.FromPath(p)
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout %s: %w", p, err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout %s: %w", p, err)
	}
	return firstImage(idx)
}

// firstImage is the only image of idx, looking into nested indexes.
func firstImage(idx v1.ImageIndex) (v1.Image, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading index: %w", err)
	}
	var images []v1.Descriptor
	for _, d := range m.Manifests {
		if d.Annotations["vnd.docker.reference.type"] != "attestation-manifest" {
			images = append(images, d)
		}
	}
	if len(images) != 1 {
		return nil, fmt.Errorf("index holds %d images, want 1", len(images))
	}
	d := images[0]
	if d.MediaType.IsIndex() {
		child, err := idx.ImageIndex(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading index %s: %w", d.Digest, err)
		}
		return firstImage(child)
	}
	img, err := idx.Image(d.Digest)
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", d.Digest, err)
	}
	return img, nil
}

// ReadReport loads the image at p (see LoadImage) and reports on it; an
// OCI layout of a multi-platform image gives a report per platform.
func ReadReport(p string) (*Report, error) {
	if r, err := readPlatformsReport(p); r != nil || err != nil {
		return r, err
	}
	img, err := LoadImage(p)
	if err != nil {
		return nil, err
	}
	return FromImage(img)
}

// FromImage makes the report of img.
func FromImage(img v1.Image) (*Report, error) {
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	cfg, err := configReport(raw)
	if err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("listing layers: %w", err)
	}
	t := newTree()
	for i, l := range layers {
		if err := t.applyLayer(l); err != nil {
			return nil, fmt.Errorf("applying layer %d: %w", i, err)
		}
	}
	return &Report{Config: cfg, Files: t.files()}, nil
}

// configReport keeps os, architecture, variant and configKeys of a raw
// image config.
func configReport(raw []byte) (map[string]json.RawMessage, error) {
	var cf struct {
		OS           string                     `json:"os"`
		Architecture string                     `json:"architecture"`
		Variant      string                     `json:"variant"`
		Config       map[string]json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(raw, &cf); err != nil {
		return nil, fmt.Errorf("parsing image config: %w", err)
	}
	out := map[string]json.RawMessage{}
	for k, v := range map[string]string{"os": cf.OS, "architecture": cf.Architecture, "variant": cf.Variant} {
		if v != "" {
			b, _ := json.Marshal(v)
			out[k] = b
		}
	}
	for _, k := range configKeys() {
		v, ok := cf.Config[k]
		if !ok {
			continue
		}
		c, err := canonicalJSON(v)
		if err != nil {
			return nil, fmt.Errorf("parsing image config field %s: %w", k, err)
		}
		if c != nil {
			out[k] = c
		}
	}
	return out, nil
}

// canonicalJSON re-encodes v with sorted keys and no spaces; null is nil.
func canonicalJSON(v json.RawMessage) (json.RawMessage, error) {
	var x any
	if err := json.Unmarshal(v, &x); err != nil {
		return nil, err
	}
	if x == nil {
		return nil, nil
	}
	return json.Marshal(x)
}

// tree is a filesystem being built from layers.
type tree struct {
	entries   map[string]File
	nextInode int
}

func newTree() *tree {
	return &tree{entries: map[string]File{"/": {Type: "dir", Mode: 0o755}}}
}

// layerEntry is one tar entry of a layer, read ahead of applying it.
type layerEntry struct {
	hdr    *tar.Header
	sha256 string
}

const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// applyLayer applies one layer: first its whiteouts and opaque markers
// (which hide what lower layers hold), then its entries in tar order.
func (t *tree) applyLayer(l v1.Layer) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return fmt.Errorf("opening layer: %w", err)
	}
	defer rc.Close()
	entries, err := readEntries(rc)
	if err != nil {
		return err
	}
	for _, e := range entries {
		dir, base := path.Split(e.hdr.Name)
		switch {
		case base == opaqueMarker:
			t.removeBelow(path.Clean(dir))
		case strings.HasPrefix(base, whiteoutPrefix):
			t.remove(path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix)))
		}
	}
	for _, e := range entries {
		if strings.HasPrefix(path.Base(e.hdr.Name), whiteoutPrefix) {
			continue
		}
		if err := t.add(e); err != nil {
			return err
		}
	}
	return nil
}

// readEntries reads a layer tar, hashing regular files, with names made
// absolute and clean.
func readEntries(r io.Reader) ([]layerEntry, error) {
	tr := tar.NewReader(r)
	var out []layerEntry
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading layer tar: %w", err)
		}
		hdr.Name = cleanPath(hdr.Name)
		e := layerEntry{hdr: hdr}
		if hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA {
			h := sha256.New()
			if _, err := io.Copy(h, tr); err != nil {
				return nil, fmt.Errorf("reading %s: %w", hdr.Name, err)
			}
			e.sha256 = hex.EncodeToString(h.Sum(nil))
		}
		out = append(out, e)
	}
}

// cleanPath makes a tar name an absolute clean path.
func cleanPath(name string) string {
	return path.Clean("/" + strings.TrimPrefix(name, "./"))
}

// add puts one entry into the tree. A directory over a directory keeps the
// children; anything else replaces what was at the path, children included.
func (t *tree) add(e layerEntry) error {
	h := e.hdr
	f, err := t.fileOf(e)
	if err != nil {
		return err
	}
	if old, ok := t.entries[h.Name]; ok && !(old.Type == "dir" && f.Type == "dir") {
		t.remove(h.Name)
	}
	t.ensureParents(h.Name)
	t.entries[h.Name] = f
	return nil
}

// fileOf makes the report entry of a tar header; a hard link takes the
// entry (and inode) of its target.
func (t *tree) fileOf(e layerEntry) (File, error) {
	h := e.hdr
	if h.Typeflag == tar.TypeLink {
		target := cleanPath(h.Linkname)
		f, ok := t.entries[target]
		if !ok || f.Type == "dir" {
			return File{}, fmt.Errorf("hard link %s to %s: no such non-directory in the layers so far", h.Name, target)
		}
		return f, nil
	}
	t.nextInode++
	f := File{Mode: uint32(h.Mode) & 0o7777, UID: h.Uid, GID: h.Gid, inode: t.nextInode}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeRegA:
		f.Type, f.Size, f.SHA256 = "file", h.Size, e.sha256
	case tar.TypeDir:
		f.Type = "dir"
	case tar.TypeSymlink:
		f.Type, f.Link = "symlink", h.Linkname
	case tar.TypeChar, tar.TypeBlock:
		f.Type = map[byte]string{tar.TypeChar: "char", tar.TypeBlock: "block"}[h.Typeflag]
		f.Dev = fmt.Sprintf("%d:%d", h.Devmajor, h.Devminor)
	case tar.TypeFifo:
		f.Type = "fifo"
	default:
		return File{}, fmt.Errorf("%s: unsupported tar entry type %q", h.Name, h.Typeflag)
	}
	for k, v := range h.PAXRecords {
		if x, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			if f.Xattrs == nil {
				f.Xattrs = map[string]string{}
			}
			f.Xattrs[x] = hex.EncodeToString([]byte(v))
		}
	}
	return f, nil
}

// ensureParents adds missing parent directories of p the way container
// runtimes create them: 0755, owned by root.
func (t *tree) ensureParents(p string) {
	for d := path.Dir(p); d != "/"; d = path.Dir(d) {
		if f, ok := t.entries[d]; ok && f.Type == "dir" {
			return
		}
		t.remove(d)
		t.nextInode++
		t.entries[d] = File{Type: "dir", Mode: 0o755, inode: t.nextInode}
	}
}

// remove deletes p and everything below it.
func (t *tree) remove(p string) {
	delete(t.entries, p)
	t.removeBelow(p)
}

// removeBelow deletes everything below directory d, keeping d.
func (t *tree) removeBelow(d string) {
	prefix := strings.TrimSuffix(d, "/") + "/"
	for k := range t.entries {
		if strings.HasPrefix(k, prefix) {
			delete(t.entries, k)
		}
	}
}

// files is the final tree with hard link groups named.
func (t *tree) files() map[string]File {
	names := make([]string, 0, len(t.entries))
	for p := range t.entries {
		names = append(names, p)
	}
	sort.Strings(names)
	first := map[int]string{}
	count := map[int]int{}
	for _, p := range names {
		f := t.entries[p]
		if f.Type == "dir" {
			continue
		}
		if _, ok := first[f.inode]; !ok {
			first[f.inode] = p
		}
		count[f.inode]++
	}
	out := make(map[string]File, len(names))
	for _, p := range names {
		f := t.entries[p]
		if f.Type != "dir" && count[f.inode] > 1 {
			f.HardLinks = first[f.inode]
		}
		f.inode = 0
		out[p] = f
	}
	return out
}

// Paths lists the report's paths in order.
func (r *Report) Paths() []string {
	ps := make([]string, 0, len(r.Files))
	for p := range r.Files {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

// ReadReportFile reads a report saved with WriteFile.
func ReadReportFile(file string) (*Report, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading report: %w", err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("parsing report %s: %w", file, err)
	}
	if err := r.canonical(); err != nil {
		return nil, fmt.Errorf("parsing report %s: %w", file, err)
	}
	return &r, nil
}

// canonical re-encodes the config fields of r and its platforms'
// reports, which WriteFile indents.
func (r *Report) canonical() error {
	var err error
	for k, v := range r.Config {
		if r.Config[k], err = canonicalJSON(v); err != nil {
			return err
		}
	}
	for _, pr := range r.Platforms {
		if err := pr.canonical(); err != nil {
			return err
		}
	}
	return nil
}

// WriteFile saves the report as JSON (atomically).
func (r *Report) WriteFile(file string) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", " ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("encoding report: %w", err)
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}
