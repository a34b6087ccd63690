package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/internal/store"
)

func newRmiCmd(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "rmi IMAGE...",
		Short: "Remove tags from the store (blobs go at the next prune)",
		Args:  argsRange(1, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRmi(cmd.Context(), g, force, args)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "remove every tag of an image given by ID")
	return cmd
}

func runRmi(ctx context.Context, g *globals, force bool, refs []string) error {
	s, err := g.openStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	var errs []error
	for _, ref := range refs {
		if err := removeImage(ctx, g, s, force, ref); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeImage untags ref; given an ID, it untags the image's only tag, or
// with force all of them.
func removeImage(ctx context.Context, g *globals, s *store.Store, force bool, ref string) error {
	if err := s.Untag(ctx, ref); err == nil {
		full, _ := store.NormalizeRef(ref)
		fmt.Fprintf(g.stdio.Out, "Untagged: %s\n", familiarRef(full))
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("removing %q: %w", ref, err)
	}
	h, err := s.Resolve(ctx, ref)
	if err != nil {
		return fmt.Errorf("removing %q: no such image: %w", ref, err)
	}
	tags, err := tagsOf(ctx, s, h)
	if err != nil {
		return fmt.Errorf("removing %q: %w", ref, err)
	}
	if len(tags) > 1 && !force {
		return fmt.Errorf("removing %q: image %s is tagged %d times (%v); use -f", ref, shortID(h), len(tags), tags)
	}
	for _, t := range tags {
		if err := s.Untag(ctx, t); err != nil {
			return fmt.Errorf("removing %q: %w", ref, err)
		}
		fmt.Fprintf(g.stdio.Out, "Untagged: %s\n", t)
	}
	return nil
}
