package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/internal/store"
)

func newPullCmd(g *globals) *cobra.Command {
	var platform string
	cmd := &cobra.Command{
		Use:   "pull NAME[:TAG|@DIGEST]",
		Short: "Pull an image from a registry into the store",
		Args:  argsRange(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPull(cmd.Context(), g, platform, args[0])
		},
	}
	cmd.Flags().StringVar(&platform, "platform", "", "platform to pull from a multi-platform image (default linux/amd64); the tag keeps the platforms pulled before")
	return cmd
}

// runPull stores ref's image for platform and tags it, keeping the tag's
// images of other platforms (the tag then names an index of them all, as in
// Docker's containerd store).
func runPull(ctx context.Context, g *globals, platform, ref string) error {
	full, err := store.NormalizeRef(ref)
	if err != nil {
		return usageError{err}
	}
	if platform, err = platformFlag(platform); err != nil {
		return err
	}
	img, err := g.registryClient("").PullPlatform(ctx, ref, platform)
	if err != nil {
		return err
	}
	s, done, err := g.openStoreLeased(ctx)
	if err != nil {
		return err
	}
	defer done()
	h, err := s.WriteImage(ctx, img)
	if err != nil {
		return fmt.Errorf("pulling %q: %w", ref, err)
	}
	if !strings.Contains(full, "@") {
		if err := s.TagPlatform(ctx, full, h); err != nil {
			return err
		}
	}
	fmt.Fprintf(g.stdio.Out, "Digest: %s\n%s\n", h, full)
	return nil
}
