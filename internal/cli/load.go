package cli

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/spf13/cobra"

	"github.com/strata-build/strata/internal/export"
	"github.com/strata-build/strata/internal/store"
)

func newLoadCmd(g *globals) *cobra.Command {
	var input string
	cmd := &cobra.Command{
		Use:   "load [-i FILE]",
		Short: "Load images from a docker-archive or OCI archive tar (stdin by default)",
		Args:  argsRange(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLoad(cmd.Context(), g, input)
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "read from FILE instead of stdin")
	return cmd
}

func runLoad(ctx context.Context, g *globals, input string) error {
	s, done, err := g.openStoreLeased(ctx)
	if err != nil {
		return err
	}
	defer done()
	tmp, err := s.TempDir(ctx, "load")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	file, err := spoolInput(g.stdio.In, input, tmp)
	if err != nil {
		return fmt.Errorf("loading: %w", err)
	}
	names, err := archiveNames(file)
	if err != nil {
		return fmt.Errorf("loading: %w", err)
	}
	loaded := []loadedImage(nil)
	switch {
	case names["manifest.json"]:
		loaded, err = loadDockerArchive(file)
	case names["oci-layout"] && names["index.json"]:
		loaded, err = loadOCIArchive(ctx, file, filepath.Join(tmp, "oci"))
	default:
		err = errors.New("neither a docker archive (manifest.json) nor an OCI archive (oci-layout)")
	}
	if err != nil {
		return fmt.Errorf("loading: %w", err)
	}
	for _, li := range loaded {
		if err := storeLoaded(ctx, g, s, li); err != nil {
			return fmt.Errorf("loading: %w", err)
		}
	}
	return nil
}

// loadedImage is an image (or, idx set, a multi-platform image) read from
// an archive and its full tags.
type loadedImage struct {
	img  v1.Image
	idx  v1.ImageIndex
	tags []string
}

func storeLoaded(ctx context.Context, g *globals, s *store.Store, li loadedImage) error {
	var h v1.Hash
	var err error
	if li.idx != nil {
		h, err = s.WriteIndex(ctx, li.idx)
	} else {
		h, err = s.WriteImage(ctx, li.img)
	}
	if err != nil {
		return err
	}
	for _, t := range li.tags {
		if err := s.Tag(ctx, t, h); err != nil {
			return err
		}
		fmt.Fprintf(g.stdio.Out, "Loaded image: %s\n", familiarRef(t))
	}
	if len(li.tags) == 0 {
		id := h // an index: its digest
		if li.idx == nil {
			if id, err = li.img.ConfigName(); err != nil {
				return err
			}
		}
		fmt.Fprintf(g.stdio.Out, "Loaded image ID: %s\n", id)
	}
	return nil
}

// spoolInput returns a file holding the archive: input itself, or stdin
// copied into dir (the archive is read more than once).
func spoolInput(stdin io.Reader, input, dir string) (string, error) {
	if input != "" && input != "-" {
		return input, nil
	}
	f, err := os.Create(filepath.Join(dir, "archive.tar"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := io.Copy(f, stdin); err != nil {
		return "", fmt.Errorf("reading stdin: %w", err)
	}
	return f.Name(), f.Close()
}

// archiveNames lists the top-level file names of a tar.
func archiveNames(file string) (map[string]bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading archive: %w", err)
		}
		names[strings.TrimPrefix(h.Name, "./")] = true
	}
}

func loadDockerArchive(file string) ([]loadedImage, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(file) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, err
	}
	var out []loadedImage
	for _, d := range m {
		li, err := dockerArchiveImage(opener, d, len(m))
		if err != nil {
			return nil, err
		}
		out = append(out, li)
	}
	return out, nil
}

func dockerArchiveImage(opener tarball.Opener, d tarball.Descriptor, n int) (loadedImage, error) {
	var li loadedImage
	var sel *name.Tag
	for _, rt := range d.RepoTags {
		full, err := store.NormalizeRef(rt)
		if err != nil {
			return li, err
		}
		li.tags = append(li.tags, full)
		if sel == nil {
			t, err := name.NewTag(rt)
			if err != nil {
				return li, err
			}
			sel = &t
		}
	}
	if sel == nil && n > 1 {
		return li, fmt.Errorf("image with config %s has no tag to select it by", d.Config)
	}
	img, err := tarball.Image(opener, sel)
	li.img = img
	return li, err
}

// loadOCIArchive unpacks the archive into dir and reads its images; a
// multi-platform image is loaded whole.
func loadOCIArchive(ctx context.Context, file, dir string) ([]loadedImage, error) {
	if err := untarLayout(file, dir); err != nil {
		return nil, err
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, err
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []loadedImage
	for _, d := range im.Manifests {
		var li loadedImage
		if d.MediaType.IsIndex() {
			li.idx, err = idx.ImageIndex(d.Digest)
		} else {
			li.img, err = export.IndexImage(idx, d)
		}
		if err != nil {
			return nil, err
		}
		if ref := ociRef(d.Annotations); ref != "" {
			li.tags = []string{ref}
		}
		out = append(out, li)
	}
	return out, nil
}

// ociRef is the full reference an OCI layout entry names, if any:
// io.containerd.image.name, or a ref.name that is a full reference.
func ociRef(ann map[string]string) string {
	for _, s := range []string{ann[export.ImageNameAnnotation], ann[export.RefNameAnnotation]} {
		if strings.ContainsAny(s, "/:") {
			if full, err := store.NormalizeRef(s); err == nil && !strings.Contains(full, "@") {
				return full
			}
		}
	}
	return ""
}

// untarLayout extracts an OCI archive's regular files and directories into
// dir, refusing names outside it.
func untarLayout(file, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading archive: %w", err)
		}
		if err := untarEntry(root, h, tr); err != nil {
			return fmt.Errorf("extracting %s: %w", h.Name, err)
		}
	}
}

func untarEntry(root *os.Root, h *tar.Header, r io.Reader) error {
	name := filepath.Clean(h.Name)
	switch h.Typeflag {
	case tar.TypeDir:
		return root.MkdirAll(name, 0o755)
	case tar.TypeReg:
		if err := root.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return err
		}
		f, err := root.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	return nil
}
