package cli

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/strata-build/strata/internal/store"
)

type imagesFlags struct {
	quiet, noTrunc bool
	format         string
	filters        []string
}

func newImagesCmd(g *globals) *cobra.Command {
	f := &imagesFlags{}
	cmd := &cobra.Command{
		Use:   "images [REPOSITORY[:TAG]]",
		Short: "List images in the store",
		Long: `List images in the store, newest first. PLATFORM is the image's; a tag that
names a multi-platform image (an index, from build --platform a,b or pulls
of several platforms) has a row per platform, each with the tag's ID (the
index digest) and that platform's size. IMAGE ID is Docker's: the config
digest of a single image (what docker load, docker images and build
--iidfile show), the index digest of a multi-platform one; every command
takes it, full or short, as it takes tags and manifest digests.

SIZE is the image unpacked: the sum of its layers uncompressed (their tars),
what the image takes once extracted and what docker 20.10 shows (it counts
the files' bytes, without tar headers: a little less) and Docker with the
containerd image store shows as the image's unpacked size (its DISK USAGE
adds the compressed content). COMPRESSED is the sum of the layer blobs as
stored and pushed, the download size (Docker's CONTENT SIZE, and what
strata showed as SIZE before). Sizes are remembered per layer, measured
once when strata did not write or extract the layer itself.`,
		Args: argsRange(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImages(cmd.Context(), g, f, args)
		},
	}
	cmd.Flags().BoolVarP(&f.quiet, "quiet", "q", false, "only show image IDs")
	cmd.Flags().BoolVar(&f.noTrunc, "no-trunc", false, "don't truncate output")
	cmd.Flags().StringVar(&f.format, "format", "", "output: table, table TEMPLATE, json, or a Go template over .ID .Repository .Tag .Digest .Platform .CreatedSince .CreatedAt .Size .CompressedSize")
	cmd.Flags().StringArrayVarP(&f.filters, "filter", "f", nil, "filter rows: dangling=true|false, reference=PATTERN, label=KEY[=VALUE], before=IMAGE, since=IMAGE (repeatable)")
	return cmd
}

// imageRow is one row of `strata images`: a tag's image, or one platform
// of a tag's multi-platform image (rows of one tag share its ID, the
// index's, which is what tag, rmi and push take).
type imageRow struct {
	repo, tag, id, platform string
	digest                  v1.Hash
	created                 time.Time
	size, compressed        int64 // uncompressed layers, layer blobs
	labels                  map[string]string
}

func runImages(ctx context.Context, g *globals, f *imagesFlags, args []string) error {
	format, err := parseFormat(f.format, imageLine{}, imageColumns)
	if err != nil {
		return err
	}
	rows, err := imageRows(ctx, g, f, args)
	if err != nil {
		return fmt.Errorf("listing images: %w", err)
	}
	if len(f.filters) > 0 {
		if rows, err = filterImages(ctx, g, rows, f.filters); err != nil {
			return err
		}
	}
	if f.quiet {
		seen := map[string]bool{}
		for _, r := range rows {
			if !seen[r.id] {
				fmt.Fprintln(g.stdio.Out, r.id)
			}
			seen[r.id] = true
		}
		return nil
	}
	now := time.Now()
	if !format.table {
		lines := make([]any, len(rows))
		for i, r := range rows {
			lines[i] = r.line(now)
		}
		return format.write(g.stdio.Out, lines)
	}
	tw := tabwriter.NewWriter(g.stdio.Out, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tPLATFORM\tCREATED\tSIZE\tCOMPRESSED")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.repo, r.tag, r.id, cmp.Or(r.platform, "-"), ago(r.created, now), dockerSize(r.size), dockerSize(r.compressed))
	}
	return tw.Flush()
}

func imageRows(ctx context.Context, g *globals, f *imagesFlags, args []string) ([]imageRow, error) {
	s, err := g.openStore(ctx)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	tags, err := s.Tags(ctx)
	if err != nil {
		return nil, err
	}
	var groups [][]imageRow // a tag's rows stay together
	for _, t := range tags {
		repo, tag := splitRef(familiarRef(t.Ref))
		if len(args) == 1 && !matchesFilter(args[0], repo, tag) {
			continue
		}
		imgs, err := tagImages(ctx, s, t.Digest)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", familiarRef(t.Ref), err)
		}
		idHash := t.Digest // an index: its digest, as Docker's containerd store shows it
		if len(imgs) == 1 && imgs[0].Index == nil {
			if idHash, err = imgs[0].imageID(); err != nil {
				return nil, err
			}
		}
		id := shortID(idHash)
		if f.noTrunc {
			id = idHash.String()
		}
		var group []imageRow
		for _, c := range imgs {
			cf, err := c.Image.ConfigFile()
			if err != nil {
				return nil, err
			}
			size, compressed, err := s.ImageSizes(ctx, c.Image)
			if err != nil {
				return nil, err
			}
			group = append(group, imageRow{repo: repo, tag: tag, id: id, digest: t.Digest, platform: c.Platform, created: cf.Created.Time,
				size: size, compressed: compressed, labels: cf.Config.Labels})
		}
		if len(group) == 0 { // an index of no platform's image
			group = []imageRow{{repo: repo, tag: tag, id: id, digest: t.Digest}}
		}
		groups = append(groups, group)
	}
	// Newest first, a tag by its newest image.
	newest := func(g []imageRow) time.Time {
		return slices.MaxFunc(g, func(a, b imageRow) int { return a.created.Compare(b.created) }).created
	}
	sort.SliceStable(groups, func(i, j int) bool { return newest(groups[i]).After(newest(groups[j])) })
	return slices.Concat(groups...), nil
}

// matchesFilter reports whether the REPOSITORY[:TAG] argument selects a row.
func matchesFilter(arg, repo, tag string) bool {
	full, err := store.NormalizeRef(arg)
	if err != nil {
		return false
	}
	r, t := splitRef(familiarRef(full))
	last := arg[strings.LastIndex(arg, "/")+1:]
	return r == repo && (!strings.Contains(last, ":") || t == tag)
}

// tagImages lists the images a tag's ID h names: the image, or each
// platform's image of an index, in index order.
func tagImages(ctx context.Context, s *store.Store, h v1.Hash) ([]*chosenImage, error) {
	isIdx, err := s.IsIndex(ctx, h)
	if err != nil {
		return nil, err
	}
	if !isIdx {
		c, err := chooseImage(ctx, s, h, "")
		if err != nil {
			return nil, err
		}
		return []*chosenImage{c}, nil
	}
	idx, err := s.Index(ctx, h)
	if err != nil {
		return nil, err
	}
	entries, err := platformEntries(idx)
	if err != nil {
		return nil, err
	}
	var out []*chosenImage
	for _, d := range entries {
		img, err := s.Image(ctx, d.Digest)
		if err != nil {
			return nil, err
		}
		out = append(out, &chosenImage{ID: h, Index: idx, Digest: d.Digest, Image: img, Platform: store.FormatPlatform(*d.Platform)})
	}
	return out, nil
}
