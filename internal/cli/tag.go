package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/internal/store"
)

func newTagCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:  argsRange(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTag(cmd.Context(), g, args[0], args[1])
		},
	}
}

func runTag(ctx context.Context, g *globals, src, dst string) error {
	if _, err := store.NormalizeRef(dst); err != nil {
		return usageError{err}
	}
	s, done, err := g.openStoreLeased(ctx)
	if err != nil {
		return err
	}
	defer done()
	h, err := s.Resolve(ctx, src)
	if err != nil {
		return fmt.Errorf("no such image: %w", err)
	}
	return s.Tag(ctx, dst, h)
}
