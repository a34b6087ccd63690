package cli

import (
	"context"
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/strata-build/strata/internal/export"
	"github.com/strata-build/strata/internal/store"
)

func newSaveCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "save [-o FILE] IMAGE...",
		Short: "Save images to a docker-archive tar (stdout by default)",
		Args:  argsRange(1, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSave(cmd.Context(), g, output, args)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to FILE instead of stdout")
	return cmd
}

func runSave(ctx context.Context, g *globals, output string, refs []string) error {
	if output == "" && isTerminal(g.stdio.Out) {
		return usageError{errors.New("refusing to write an archive to a terminal; use -o FILE or redirect stdout")}
	}
	s, err := g.openStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	imgs, err := saveSet(ctx, s, refs)
	if err != nil {
		return fmt.Errorf("saving: %w", err)
	}
	if output == "" {
		return export.WriteDockerArchiveMulti(ctx, g.stdio.Out, imgs)
	}
	return export.DockerArchiveMulti(ctx, output, imgs)
}

// saveSet groups refs by image: a tag names itself, an ID saves the image
// untagged (as docker save does).
func saveSet(ctx context.Context, s *store.Store, refs []string) ([]export.TaggedImage, error) {
	tagged, err := s.Tags(ctx)
	if err != nil {
		return nil, err
	}
	isTag := map[string]bool{}
	for _, t := range tagged {
		isTag[t.Ref] = true
	}
	var order []v1.Hash
	byID := map[v1.Hash]*export.TaggedImage{}
	for _, ref := range refs {
		h, img, err := loadImage(ctx, s, ref)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", ref, err)
		}
		ti, ok := byID[h]
		if !ok {
			ti = &export.TaggedImage{Image: img}
			byID[h] = ti
			order = append(order, h)
		}
		if full, err := store.NormalizeRef(ref); err == nil && isTag[full] {
			ti.Tags = append(ti.Tags, full)
		}
	}
	out := make([]export.TaggedImage, 0, len(order))
	for _, h := range order {
		out = append(out, *byID[h])
	}
	return out, nil
}
