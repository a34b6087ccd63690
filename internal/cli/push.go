package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
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
	h, img, err := loadImage(ctx, s, src)
	if err != nil {
		return fmt.Errorf("pushing %q: %w", src, err)
	}
	if err := g.registryClient("").Push(ctx, dst, img); err != nil {
		return err
	}
	fmt.Fprintf(g.stdio.Out, "%s: digest: %s\n", dst, h)
	return nil
}
