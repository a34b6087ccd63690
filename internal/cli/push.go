package cli

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/strata-build/strata/internal/store"
)

func newPushCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "push NAME[:TAG] [DESTINATION]",
		Short: "Push an image from the store to a registry (to DESTINATION if given)",
		Args:  argsRange(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dst := args[0]
			if len(args) == 2 {
				dst = args[1]
			}
			return runPush(cmd.Context(), g, args[0], dst)
		},
	}
}

func runPush(ctx context.Context, g *globals, src, dst string) error {
	s, err := g.openStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	h, err := s.Resolve(ctx, src)
	if err != nil {
		return fmt.Errorf("pushing %q: no such image: %w", src, err)
	}
	if err := pushStored(ctx, g, s, h, dst); err != nil {
		return err // the registry's errors name dst
	}
	fmt.Fprintf(g.stdio.Out, "%s: digest: %s\n", dst, h)
	return nil
}

// pushStored pushes the stored image or multi-platform image (the index
// and every platform's image) h as dst.
func pushStored(ctx context.Context, g *globals, s *store.Store, h v1.Hash, dst string) error {
	isIdx, err := s.IsIndex(ctx, h)
	if err != nil {
		return err
	}
	if isIdx {
		idx, err := s.Index(ctx, h)
		if err != nil {
			return err
		}
		return g.registryClient("").PushIndex(ctx, dst, idx)
	}
	img, err := s.Image(ctx, h)
	if err != nil {
		return err
	}
	return g.registryClient("").Push(ctx, dst, img)
}
