// Package export writes built images to their destinations: OCI layout
// directories and archives, docker-archive tars that `docker load` accepts,
// the final filesystem as a directory or a tar.
//
// Tags in OCI layouts follow BuildKit's oci exporter: each tag's manifest
// descriptor carries org.opencontainers.image.ref.name = the tag part
// ("latest", what `skopeo inspect oci:DIR:latest` and `umoci unpack --image
// DIR:latest` select) and io.containerd.image.name = the full normalised
// reference. Docker archives name images as `docker save` does
// ("busybox:latest", "me/app:v1", "ghcr.io/a/b:1").
//
// A multi-platform image goes where BuildKit puts it: an OCI layout's
// index.json names its image index (tagged the same way), the filesystem
// outputs get a directory per platform ("linux_amd64", "linux_arm_v7").
// A docker archive holds one image per name, so it has no form for one.
package export

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotations written on tagged manifests of an OCI layout.
const (
	RefNameAnnotation   = "org.opencontainers.image.ref.name"
	ImageNameAnnotation = "io.containerd.image.name"
)

// OCILayout writes img to an OCI image layout directory dir (created, or
// added to when it already is a layout), annotated with tags; an earlier
// manifest with the same tag is replaced.
func OCILayout(ctx context.Context, img v1.Image, dir string, tags []string) error {
	if err := ociLayout(imageEntry(img), dir, tags); err != nil {
		return fmt.Errorf("writing OCI layout %s: %w", dir, err)
	}
	return nil
}

// OCILayoutIndex writes the multi-platform image idx to an OCI image
// layout directory as BuildKit's oci exporter does: index.json names the
// image index (annotated with tags as OCILayout annotates an image), whose
// entries are each platform's image.
func OCILayoutIndex(ctx context.Context, idx v1.ImageIndex, dir string, tags []string) error {
	if err := ociLayout(indexEntry(idx), dir, tags); err != nil {
		return fmt.Errorf("writing OCI layout %s: %w", dir, err)
	}
	return nil
}

// layoutEntry writes an image or an index into a layout and names it in
// index.json, replacing the entries m matches (none when m is nil).
type layoutEntry func(p layout.Path, m match.Matcher, opts ...layout.Option) error

func imageEntry(img v1.Image) layoutEntry {
	return func(p layout.Path, m match.Matcher, opts ...layout.Option) error {
		if m == nil {
			return p.AppendImage(img, opts...)
		}
		return p.ReplaceImage(img, m, opts...)
	}
}

func indexEntry(idx v1.ImageIndex) layoutEntry {
	return func(p layout.Path, m match.Matcher, opts ...layout.Option) error {
		if m == nil {
			return p.AppendIndex(idx, opts...)
		}
		return p.ReplaceIndex(idx, m, opts...)
	}
}

func ociLayout(put layoutEntry, dir string, tags []string) error {
	p, err := layout.FromPath(dir)
	if err != nil {
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return err
		}
	}
	if len(tags) == 0 {
		return put(p, nil)
	}
	for _, t := range tags {
		tag, err := name.NewTag(t)
		if err != nil {
			return fmt.Errorf("parsing tag: %w", err)
		}
		ann := map[string]string{RefNameAnnotation: tag.TagStr(), ImageNameAnnotation: fullName(tag)}
		if err := put(p, match.Annotation(RefNameAnnotation, tag.TagStr()), layout.WithAnnotations(ann)); err != nil {
			return err
		}
	}
	return nil
}

// OCIArchive writes img as a tar of an OCI image layout.
func OCIArchive(ctx context.Context, img v1.Image, file string, tags []string) error {
	return ociArchive(ctx, imageEntry(img), file, tags)
}

// OCIArchiveIndex writes the multi-platform image idx as a tar of an OCI
// image layout (see OCILayoutIndex).
func OCIArchiveIndex(ctx context.Context, idx v1.ImageIndex, file string, tags []string) error {
	return ociArchive(ctx, indexEntry(idx), file, tags)
}

func ociArchive(ctx context.Context, put layoutEntry, file string, tags []string) error {
	err := writeAtomic(file, func(f *os.File) error {
		tmp, err := os.MkdirTemp(filepath.Dir(f.Name()), ".oci-layout-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		if err := ociLayout(put, tmp, tags); err != nil {
			return err
		}
		return tarDir(ctx, tmp, f)
	})
	if err != nil {
		return fmt.Errorf("writing OCI archive %s: %w", file, err)
	}
	return nil
}

// DockerArchive writes img as a docker-archive tar (`docker load`), with
// Docker media types.
func DockerArchive(ctx context.Context, img v1.Image, file string, tags []string) error {
	err := writeAtomic(file, func(f *os.File) error { return WriteDockerArchive(ctx, f, img, tags) })
	if err != nil {
		return fmt.Errorf("writing docker archive %s: %w", file, err)
	}
	return nil
}

// WriteDockerArchive writes img as a docker-archive tar to w.
func WriteDockerArchive(ctx context.Context, w io.Writer, img v1.Image, tags []string) error {
	return WriteDockerArchiveMulti(ctx, w, []TaggedImage{{Image: img, Tags: tags}})
}

// TaggedImage is an image and the tags it is saved under.
type TaggedImage struct {
	Image v1.Image
	Tags  []string
}

// WriteDockerArchiveMulti writes several images into one docker-archive
// tar (like `docker save a b`).
func WriteDockerArchiveMulti(ctx context.Context, w io.Writer, imgs []TaggedImage) error {
	refs := map[name.Reference]v1.Image{}
	for _, ti := range imgs {
		img, err := DockerMediaTypes(ti.Image)
		if err != nil {
			return err
		}
		if len(ti.Tags) == 0 {
			d, err := img.Digest()
			if err != nil {
				return err
			}
			ref, err := name.NewDigest("untagged@" + d.String())
			if err != nil {
				return err
			}
			refs[ref] = img
		}
		// One image value per tag: ggcr groups the tags of one value in map
		// order, so separate values keep manifest.json sorted by tag and
		// the archive reproducible (layers are still written once).
		for _, t := range ti.Tags {
			img, err := DockerMediaTypes(ti.Image)
			if err != nil {
				return err
			}
			tag, err := name.NewTag(t)
			if err != nil {
				return fmt.Errorf("parsing tag: %w", err)
			}
			familiar, err := name.NewTag(familiarName(tag))
			if err != nil {
				return err
			}
			refs[familiar] = img
		}
	}
	return tarball.MultiRefWrite(refs, &ctxWriter{ctx: ctx, w: w})
}

// DockerMediaTypes returns img with Docker schema 2 media types for the
// manifest, config and layers (gzip and uncompressed layers; others keep
// their type). The config bytes are unchanged, so the image ID (config
// digest) is too.
func DockerMediaTypes(img v1.Image) (v1.Image, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	if m.MediaType == types.DockerManifestSchema2 {
		return img, nil
	}
	m = m.DeepCopy()
	m.MediaType = types.DockerManifestSchema2
	m.Config.MediaType = types.DockerConfigJSON
	for i := range m.Layers {
		switch m.Layers[i].MediaType {
		case types.OCILayer:
			m.Layers[i].MediaType = types.DockerLayer
		case types.OCIUncompressedLayer:
			m.Layers[i].MediaType = types.DockerUncompressedLayer
		}
	}
	m.Annotations = nil // schema 2 has none
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&dockerImage{src: img, manifest: m, raw: raw})
}

// dockerImage is an image with its manifest rewritten to Docker media types.
type dockerImage struct {
	src      v1.Image
	manifest *v1.Manifest
	raw      []byte
}

func (i *dockerImage) MediaType() (types.MediaType, error) { return types.DockerManifestSchema2, nil }
func (i *dockerImage) RawManifest() ([]byte, error)        { return i.raw, nil }
func (i *dockerImage) RawConfigFile() ([]byte, error)      { return i.src.RawConfigFile() }

func (i *dockerImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	l, err := i.src.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	for _, d := range i.manifest.Layers {
		if d.Digest == h {
			return &typedLayer{Layer: l, mt: d.MediaType}, nil
		}
	}
	return l, nil
}

// typedLayer is a layer under another media type.
type typedLayer struct {
	v1.Layer
	mt types.MediaType
}

func (l *typedLayer) MediaType() (types.MediaType, error) { return l.mt, nil }

// fullName is tag normalised like Docker: "docker.io/library/busybox:latest".
func fullName(tag name.Tag) string {
	reg := tag.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = "docker.io"
	}
	return reg + "/" + tag.RepositoryStr() + ":" + tag.TagStr()
}

// familiarName is tag as `docker images` shows it: "busybox:latest".
func familiarName(tag name.Tag) string {
	full := fullName(tag)
	if s, ok := strings.CutPrefix(full, "docker.io/library/"); ok {
		return s
	}
	return strings.TrimPrefix(full, "docker.io/")
}

// DockerArchiveMulti writes several tagged images as one docker-archive
// file, atomically (docker save of several references).
func DockerArchiveMulti(ctx context.Context, file string, imgs []TaggedImage) error {
	err := writeAtomic(file, func(f *os.File) error { return WriteDockerArchiveMulti(ctx, f, imgs) })
	if err != nil {
		return fmt.Errorf("writing docker archive %s: %w", file, err)
	}
	return nil
}

// writeAtomic writes file through a temp file in its directory.
func writeAtomic(file string, fn func(f *os.File) error) error {
	f, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	err = fn(f)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), file)
}

// tarDir writes dir's regular files and directories as a tar, sorted, with
// fixed times and owners.
func tarDir(ctx context.Context, dir string, w io.Writer) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		info, err := d.Info()
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Typeflag: tar.TypeReg, Size: info.Size(), Format: tar.FormatPAX}
		if d.IsDir() {
			h = &tar.Header{Name: filepath.ToSlash(rel) + "/", Mode: 0o755, Typeflag: tar.TypeDir, Format: tar.FormatPAX}
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// ctxWriter stops writing once ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (w *ctxWriter) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	return w.w.Write(p)
}

// LayoutItem is one image of OCIArchiveMulti with its tags: an image, or
// a multi-platform image when Index is set (Image is then unused).
type LayoutItem struct {
	Image v1.Image
	Index v1.ImageIndex
	Tags  []string
}

// OCIArchiveMulti writes several images, each with its tags, as one OCI
// archive file (`docker save` of several references, in OCI form).
func OCIArchiveMulti(ctx context.Context, file string, items []LayoutItem) error {
	err := writeAtomic(file, func(f *os.File) error { return WriteOCIArchiveMulti(ctx, f, items) })
	if err != nil {
		return fmt.Errorf("writing OCI archive %s: %w", file, err)
	}
	return nil
}

// WriteOCIArchiveMulti writes the archive of OCIArchiveMulti to w. Tags
// sharing a tag part ("a:1", "b:1") are told apart by their full name.
func WriteOCIArchiveMulti(ctx context.Context, w io.Writer, items []LayoutItem) error {
	tmp, err := os.MkdirTemp("", "strata-oci-layout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return err
	}
	for _, it := range items {
		put := imageEntry(it.Image)
		if it.Index != nil {
			put = indexEntry(it.Index)
		}
		if len(it.Tags) == 0 {
			if err := put(p, nil); err != nil {
				return err
			}
		}
		for _, t := range it.Tags {
			tag, err := name.NewTag(t)
			if err != nil {
				return fmt.Errorf("parsing tag: %w", err)
			}
			ann := map[string]string{RefNameAnnotation: tag.TagStr(), ImageNameAnnotation: fullName(tag)}
			if err := put(p, match.Annotation(ImageNameAnnotation, fullName(tag)), layout.WithAnnotations(ann)); err != nil {
				return err
			}
		}
	}
	return tarDir(ctx, tmp, &ctxWriter{ctx: ctx, w: w})
}
