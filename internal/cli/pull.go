package cli

import (
	"context"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/strata-build/strata/internal/attest"
	"github.com/strata-build/strata/internal/registry"
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
	client := g.registryClient("")
	s, done, err := g.openStoreLeased(ctx)
	if err != nil {
		return err
	}
	defer done()
	h, attested, err := pullAttested(ctx, client, s, ref, full, platform)
	if err != nil {
		return err
	}
	if !attested {
		img, err := client.PullPlatform(ctx, ref, platform)
		if err != nil {
			return err
		}
		if h, err = s.WriteImage(ctx, img); err != nil {
			return fmt.Errorf("pulling %q: %w", ref, err)
		}
		if !strings.Contains(full, "@") {
			if err := s.TagPlatform(ctx, full, h); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(g.stdio.Out, "Digest: %s\n%s\n", h, full)
	return nil
}

// pullAttested pulls platform's image of ref with its attestation
// manifest, when ref names an index that has one: both are stored and the
// tag keeps them beside its other platforms. attested is false (and
// nothing done) otherwise.
func pullAttested(ctx context.Context, client *registry.Client, s *store.Store, ref, full, platform string) (h v1.Hash, attested bool, err error) {
	idx, err := client.PullIndex(ctx, ref)
	if err != nil || idx == nil {
		return v1.Hash{}, false, nil // the plain pull says what is wrong
	}
	if platform == "" {
		platform = registry.DefaultPlatform
	}
	want, err := v1.ParsePlatform(platform)
	if err != nil {
		return v1.Hash{}, false, err
	}
	d, err := store.PlatformEntry(idx, *want)
	if err != nil {
		return v1.Hash{}, false, nil
	}
	if _, err := attest.Find(idx, d.Digest); err != nil {
		return v1.Hash{}, false, nil
	}
	sub, err := attest.Subset(idx, []v1.Hash{d.Digest})
	if err != nil {
		return v1.Hash{}, false, fmt.Errorf("pulling %q: %w", ref, err)
	}
	ih, err := s.WriteIndex(ctx, sub)
	if err != nil {
		return v1.Hash{}, false, fmt.Errorf("pulling %q: %w", ref, err)
	}
	if !strings.Contains(full, "@") {
		if err := s.TagPlatform(ctx, full, ih); err != nil {
			return v1.Hash{}, false, err
		}
	}
	return d.Digest, true, nil
}
