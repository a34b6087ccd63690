package cli

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/strata-build/strata/internal/registry"
	"github.com/strata-build/strata/internal/store"
)

// transferFlags are push's and pull's: how many layers at once, and how
// they are shown.
type transferFlags struct {
	jobs     int
	progress string
}

func (f *transferFlags) add(cmd *cobra.Command) {
	cmd.Flags().IntVar(&f.jobs, "jobs", registry.DefaultJobs, "layers transferred at once")
	cmd.Flags().StringVar(&f.progress, "progress", "auto", "layer progress on stderr: auto (tty on a terminal, else plain), tty, plain, quiet")
}

func newPushCmd(g *globals) *cobra.Command {
	f := &transferFlags{}
	cmd := &cobra.Command{
		Use:   "push NAME[:TAG] [DESTINATION]",
		Short: "Push an image from the store to a registry (to DESTINATION if given)",
		Long: `Push an image from the store to a registry (to DESTINATION if given). Layers
are uploaded --jobs at once (the platforms of a multi-platform image share
them), each retried after a failure (a 5xx, 408, 429 or a broken
connection: 3 retries, waiting 1s, 3s, 9s). Their progress goes to stderr:
on a terminal a line per layer updated in place, otherwise a line when a
layer starts, one per retry and one when it is pushed (size and time) or
found already there. stdout ends with "NAME: digest: sha256:...".`,
		Args: argsRange(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dst := args[0]
			if len(args) == 2 {
				dst = args[1]
			}
			return runPush(cmd.Context(), g, f, args[0], dst)
		},
	}
	f.add(cmd)
	return cmd
}

func runPush(ctx context.Context, g *globals, f *transferFlags, src, dst string) error {
	s, err := g.openStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	h, err := s.Resolve(ctx, src)
	if err != nil {
		return fmt.Errorf("pushing %q: no such image: %w", src, err)
	}
	client, end, err := g.transferClient("", f.progress, f.jobs, pushWords)
	if err != nil {
		return err
	}
	err = pushStored(ctx, client, s, h, dst)
	end()
	if err != nil {
		return err // the registry's errors name dst
	}
	fmt.Fprintf(g.stdio.Out, "%s: digest: %s\n", dst, h)
	return nil
}

// pushStored pushes the stored image or multi-platform image (the index
// and every platform's image) h as dst.
func pushStored(ctx context.Context, client *registry.Client, s *store.Store, h v1.Hash, dst string) error {
	isIdx, err := s.IsIndex(ctx, h)
	if err != nil {
		return err
	}
	if isIdx {
		idx, err := s.Index(ctx, h)
		if err != nil {
			return err
		}
		return client.PushIndex(ctx, dst, idx)
	}
	img, err := s.Image(ctx, h)
	if err != nil {
		return err
	}
	return client.Push(ctx, dst, img)
}
