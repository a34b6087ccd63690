package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"text/template"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/strata-build/strata/internal/store"
)

func newInspectCmd(g *globals) *cobra.Command {
	var format, platform string
	cmd := &cobra.Command{
		Use:   "inspect [-f FORMAT] [--platform P] IMAGE...",
		Short: "Show images as JSON like docker image inspect",
		Long: `Show images as JSON like docker image inspect. For a multi-platform image (an
index) Id is the index digest, Descriptor the index's, Manifests lists each
platform's image (digest, platform, sizes), and the config fields
are those of --platform's image (default: the host's platform, else the
first).

Size is the image unpacked, its layers uncompressed (as SIZE in strata
images: see its help), CompressedSize the sum of its layer blobs.`,
		Args: argsRange(1, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := platformFlag(platform)
			if err != nil {
				return err
			}
			return runInspect(cmd.Context(), g, format, p, args)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Go template applied to each image")
	cmd.Flags().StringVar(&platform, "platform", "", "platform of a multi-platform image to show (default: the host's, else the first)")
	return cmd
}

// imageInspect has the fields of `docker image inspect` that an image in a
// store without containers has. Id is the manifest digest.
type imageInspect struct {
	ID           string    `json:"Id"`
	RepoTags     []string  `json:"RepoTags"`
	RepoDigests  []string  `json:"RepoDigests"`
	Parent       string    `json:"Parent"`
	Comment      string    `json:"Comment"`
	Created      string    `json:"Created"`
	Author       string    `json:"Author"`
	Config       v1.Config `json:"Config"`
	Architecture string    `json:"Architecture"`
	Variant      string    `json:"Variant,omitempty"`
	Os           string    `json:"Os"`
	OsVersion    string    `json:"OsVersion,omitempty"`
	// Size is the layers uncompressed, CompressedSize their blobs.
	Size           int64  `json:"Size"`
	CompressedSize int64  `json:"CompressedSize"`
	RootFS         rootFS `json:"RootFS"`
	ConfigDigest   string `json:"ConfigDigest"`
	// Descriptor and Manifests are set for a multi-platform image: the
	// index's descriptor and one entry per platform.
	Descriptor *v1.Descriptor    `json:"Descriptor,omitempty"`
	Manifests  []manifestSummary `json:"Manifests,omitempty"`
}

// manifestSummary is one platform's image of a multi-platform image.
type manifestSummary struct {
	ID             string        `json:"ID"`
	Platform       string        `json:"Platform"`
	Descriptor     v1.Descriptor `json:"Descriptor"`
	Size           int64         `json:"Size"` // layers uncompressed
	CompressedSize int64         `json:"CompressedSize"`
}

type rootFS struct {
	Type   string   `json:"Type"`
	Layers []string `json:"Layers"`
}

func runInspect(ctx context.Context, g *globals, format, platform string, refs []string) error {
	var tmpl *template.Template
	if format != "" {
		t, err := template.New("format").Funcs(templateFuncs()).Parse(format)
		if err != nil {
			return usageError{fmt.Errorf("parsing --format: %w", err)}
		}
		tmpl = t
	}
	s, err := g.openStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	var out []imageInspect
	var errs []error
	for _, ref := range refs {
		ii, err := inspectImage(ctx, s, ref, platform)
		if err != nil {
			errs = append(errs, fmt.Errorf("inspecting %q: %w", ref, err))
			continue
		}
		out = append(out, ii)
	}
	if err := writeInspect(g, tmpl, out); err != nil {
		return err
	}
	return errors.Join(errs...)
}

func writeInspect(g *globals, tmpl *template.Template, out []imageInspect) error {
	if tmpl == nil {
		if out == nil {
			out = []imageInspect{}
		}
		b, err := json.MarshalIndent(out, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(g.stdio.Out, "%s\n", b)
		return err
	}
	for _, ii := range out {
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, ii); err != nil {
			// As docker inspect: a field named as in the JSON ({{.Id}})
			// is looked up in the JSON form.
			var raw map[string]any
			b, _ := json.Marshal(ii)
			buf.Reset()
			if json.Unmarshal(b, &raw) != nil || tmpl.Execute(&buf, raw) != nil {
				return fmt.Errorf("executing --format: %w", err)
			}
		}
		buf.WriteByte('\n')
		if _, err := g.stdio.Out.Write(buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

func inspectImage(ctx context.Context, s *store.Store, ref, platform string) (imageInspect, error) {
	c, err := resolveImage(ctx, s, ref, platform)
	if err != nil {
		return imageInspect{}, err
	}
	h, img := c.ID, c.Image
	cf, err := img.ConfigFile()
	if err != nil {
		return imageInspect{}, err
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return imageInspect{}, err
	}
	tags, err := tagsOf(ctx, s, h)
	if err != nil {
		return imageInspect{}, err
	}
	size, compressed, err := s.ImageSizes(ctx, img)
	if err != nil {
		return imageInspect{}, err
	}
	id, err := c.imageID()
	if err != nil {
		return imageInspect{}, err
	}
	ii := imageInspect{
		ID: id.String(), RepoTags: nonNil(tags), RepoDigests: repoDigests(tags, h),
		Created: cf.Created.UTC().Format("2006-01-02T15:04:05.999999999Z07:00"), Author: cf.Author,
		Config: cf.Config, Architecture: cf.Architecture, Variant: cf.Variant, Os: cf.OS, OsVersion: cf.OSVersion,
		Size: size, CompressedSize: compressed, RootFS: rootFS{Type: cf.RootFS.Type, Layers: []string{}}, ConfigDigest: cfgName.String(),
	}
	if n := len(cf.History); n > 0 {
		ii.Comment = cf.History[n-1].Comment
	}
	for _, d := range cf.RootFS.DiffIDs {
		ii.RootFS.Layers = append(ii.RootFS.Layers, d.String())
	}
	if c.Index != nil {
		if err := describeIndex(ctx, s, c, &ii); err != nil {
			return imageInspect{}, err
		}
	}
	return ii, nil
}

// describeIndex sets the index fields of ii from c's index.
func describeIndex(ctx context.Context, s *store.Store, c *chosenImage, ii *imageInspect) error {
	imgs, err := tagImages(ctx, s, c.ID)
	if err != nil {
		return err
	}
	mt, err := c.Index.MediaType()
	if err != nil {
		return err
	}
	size, err := c.Index.Size()
	if err != nil {
		return err
	}
	ii.Descriptor = &v1.Descriptor{MediaType: mt, Digest: c.ID, Size: size}
	entries, err := platformEntries(c.Index)
	if err != nil {
		return err
	}
	for i, d := range entries {
		n, c, err := s.ImageSizes(ctx, imgs[i].Image)
		if err != nil {
			return err
		}
		ii.Manifests = append(ii.Manifests, manifestSummary{
			ID: d.Digest.String(), Platform: imgs[i].Platform, Descriptor: d, Size: n, CompressedSize: c,
		})
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// repoDigests names the manifest (or index) h by each tag's repository,
// as docker's RepoDigests does: "repo@sha256:...".
func repoDigests(tags []string, h v1.Hash) []string {
	out := []string{}
	for _, t := range tags {
		repo, _ := splitRef(t)
		d := repo + "@" + h.String()
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}
