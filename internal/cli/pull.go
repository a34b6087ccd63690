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
	f := &transferFlags{}
	cmd := &cobra.Command{
		Use:   "pull NAME[:TAG|@DIGEST]",
		Short: "Pull an image from a registry into the store",
		Long: `Pull an image from a registry into the store. Layers the store lacks are
downloaded --jobs at once and verified against their digests; a download
that breaks (a reset, a short body, a 5xx) resumes after 1s, 3s, 9s. Their
progress goes to stderr: on a terminal a line per layer updated in place,
otherwise a line when a layer starts, one per retry and one when it is
complete (size and time) or already stored. stdout ends with
"Digest: sha256:..." and the image's full name.`,
		Args: argsRange(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPullWith(cmd.Context(), g, f, platform, args[0])
		},
	}
	cmd.Flags().StringVar(&platform, "platform", "", "platform to pull from a multi-platform image (default linux/amd64); the tag keeps the platforms pulled before")
	f.add(cmd)
	return cmd
}

// runPull stores ref's image for platform and tags it, keeping the tag's
// images of other platforms (the tag then names an index of them all, as in
// Docker's containerd store).
func runPull(ctx context.Context, g *globals, platform, ref string) error {
	return runPullWith(ctx, g, &transferFlags{jobs: registry.DefaultJobs, progress: "auto"}, platform, ref)
}

// runPullWith is runPull with push's and pull's flags.
func runPullWith(ctx context.Context, g *globals, f *transferFlags, platform, ref string) error {
	full, err := store.NormalizeRef(ref)
	if err != nil {
		return usageError{err}
	}
	if platform, err = platformFlag(platform); err != nil {
		return err
	}
	p, end, err := newTransferProgress(f.progress, g.stdio.Err, pullWords)
	if err != nil {
		return usageError{err}
	}
	defer end()
	client := g.registryClient("").WithJobs(f.jobs)
	if p != nil {
		client = client.WithProgress(p)
	}
	s, done, err := g.openStoreLeased(ctx)
	if err != nil {
		return err
	}
	defer done()
	h, attested, err := pullAttested(ctx, client, p, s, ref, full, platform)
	if err != nil {
		return err
	}
	if !attested {
		img, err := client.PullPlatform(ctx, ref, platform)
		if err != nil {
			return err
		}
		if err := reportStored(ctx, s, p, img); err != nil {
			return fmt.Errorf("pulling %q: %w", ref, err)
		}
		if h, err = s.WriteImage(ctx, img, store.WithJobs(f.jobs)); err != nil {
			return fmt.Errorf("pulling %q: %w", ref, err)
		}
		if !strings.Contains(full, "@") {
			if err := s.TagPlatform(ctx, full, h); err != nil {
				return err
			}
		}
	}
	end()
	fmt.Fprintf(g.stdio.Out, "Digest: %s\n%s\n", h, full)
	return nil
}

// pullAttested pulls platform's image of ref with its attestation
// manifest, when ref names an index that has one: both are stored and the
// tag keeps them beside its other platforms. attested is false (and
// nothing done) otherwise.
func pullAttested(ctx context.Context, client *registry.Client, p registry.Progress, s *store.Store, ref, full, platform string) (h v1.Hash, attested bool, err error) {
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
	if err := reportStoredIndex(ctx, s, p, sub); err != nil {
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

// reportStoredIndex tells p which layers of idx's images the store has.
func reportStoredIndex(ctx context.Context, s *store.Store, p registry.Progress, idx v1.ImageIndex) error {
	if p == nil {
		return nil
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range m.Manifests {
		if !d.MediaType.IsImage() {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return err
		}
		if err := reportStored(ctx, s, p, img); err != nil {
			return err
		}
	}
	return nil
}
