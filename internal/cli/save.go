package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/strata-build/strata/internal/attest"
	"github.com/strata-build/strata/internal/export"
	"github.com/strata-build/strata/internal/store"
)

type saveFlags struct {
	output, format, platform string
}

func newSaveCmd(g *globals) *cobra.Command {
	f := &saveFlags{}
	cmd := &cobra.Command{
		Use:   "save [-o FILE] [--format docker|oci] [--platform P] IMAGE...",
		Short: "Save images to a docker-archive or OCI archive tar (stdout by default)",
		Long: `Save images to a tar (stdout by default): a docker archive ("docker load"),
or with --format oci an OCI image layout archive ("strata load", skopeo
oci-archive:). A multi-platform image is saved whole in an OCI archive; a
docker archive holds one image per name, so it gets --platform's image
(default: the host's platform, else the first) and a note on stderr says
which. --platform saves only that platform's image in either format.`,
		Args: argsRange(1, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSave(cmd.Context(), g, f, args)
		},
	}
	cmd.Flags().StringVarP(&f.output, "output", "o", "", "write to FILE instead of stdout")
	cmd.Flags().StringVar(&f.format, "format", "docker", "archive format: docker or oci")
	cmd.Flags().StringVar(&f.platform, "platform", "", "save only this platform's image of a multi-platform image")
	return cmd
}

func runSave(ctx context.Context, g *globals, f *saveFlags, refs []string) error {
	if f.format != "docker" && f.format != "oci" {
		return usageError{fmt.Errorf("invalid --format %q: use docker or oci", f.format)}
	}
	platform, err := platformFlag(f.platform)
	if err != nil {
		return err
	}
	if f.output == "" && isTerminal(g.stdio.Out) {
		return usageError{errors.New("refusing to write an archive to a terminal; use -o FILE or redirect stdout")}
	}
	s, err := g.openStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	items, err := saveSet(ctx, s, refs, platform)
	if err != nil {
		return fmt.Errorf("saving: %w", err)
	}
	if f.format == "oci" {
		return saveOCI(ctx, g, f.output, items)
	}
	return saveDocker(ctx, g, f.output, items)
}

// saveItem is one image to save: chosen is the picked platform's image
// (the only one of a single image), whole is set when the reference names
// a multi-platform image and no --platform was given.
type saveItem struct {
	ref    string
	chosen *chosenImage
	whole  bool
	tags   []string
}

// saveSet groups refs by image: a tag names itself, an ID saves the image
// untagged (as docker save does).
func saveSet(ctx context.Context, s *store.Store, refs []string, platform string) ([]*saveItem, error) {
	tagged, err := s.Tags(ctx)
	if err != nil {
		return nil, err
	}
	isTag := map[string]bool{}
	for _, t := range tagged {
		isTag[t.Ref] = true
	}
	var out []*saveItem
	byID := map[v1.Hash]*saveItem{}
	for _, ref := range refs {
		c, err := resolveImage(ctx, s, ref, platform)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", ref, err)
		}
		it, ok := byID[c.ID]
		if !ok {
			it = &saveItem{ref: ref, chosen: c, whole: c.Index != nil && platform == ""}
			byID[c.ID] = it
			out = append(out, it)
		}
		if full, err := store.NormalizeRef(ref); err == nil && isTag[full] {
			it.tags = append(it.tags, full)
		}
	}
	return out, nil
}

// saveDocker writes a docker archive: of a multi-platform image, the
// picked platform's image, said on stderr.
func saveDocker(ctx context.Context, g *globals, output string, items []*saveItem) error {
	imgs := make([]export.TaggedImage, 0, len(items))
	for _, it := range items {
		if it.whole {
			plats, err := indexPlatforms(it.chosen.Index)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdio.Err, "note: %s is a multi-platform image (%s); a docker archive holds one image per name, saving %s (--platform picks another, --format oci saves them all)\n",
				it.ref, strings.Join(plats, ", "), it.chosen.Platform)
		}
		imgs = append(imgs, export.TaggedImage{Image: it.chosen.Image, Tags: it.tags})
	}
	if output == "" {
		return export.WriteDockerArchiveMulti(ctx, g.stdio.Out, imgs)
	}
	return export.DockerArchiveMulti(ctx, output, imgs)
}

// saveOCI writes an OCI archive: multi-platform images whole.
func saveOCI(ctx context.Context, g *globals, output string, items []*saveItem) error {
	out := make([]export.LayoutItem, 0, len(items))
	for _, it := range items {
		li := export.LayoutItem{Image: it.chosen.Image, Tags: it.tags}
		switch {
		case it.whole:
			li.Index = it.chosen.Index
		case it.chosen.Index != nil:
			// One platform: with its attestations, when it has some.
			if _, err := attest.Find(it.chosen.Index, it.chosen.Digest); err == nil {
				sub, err := attest.Subset(it.chosen.Index, []v1.Hash{it.chosen.Digest})
				if err != nil {
					return err
				}
				li.Index = sub
			}
		}
		out = append(out, li)
	}
	if output == "" {
		return export.WriteOCIArchiveMulti(ctx, g.stdio.Out, out)
	}
	return export.OCIArchiveMulti(ctx, output, out)
}

// indexPlatforms lists the platforms of idx's images.
func indexPlatforms(idx v1.ImageIndex) ([]string, error) {
	entries, err := platformEntries(idx)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(entries))
	for _, d := range entries {
		out = append(out, store.FormatPlatform(*d.Platform))
	}
	return out, nil
}
