package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/internal/report"
	"github.com/strata-build/strata/internal/sbom"
)

func newCompareCmd(g *globals) *cobra.Command {
	f := &sizeFlags{}
	cmd := &cobra.Command{
		Use:   "compare A B [C D ...]",
		Short: "Compare images pairwise: sizes, reduction, layers, files, bloat dropped",
		Long: `Compare images pairwise, A (e.g. a single-stage build) against B (e.g. its
multi-stage version): uncompressed and compressed sizes, the reduction in
percent, layers, files and the bloat categories B no longer carries. Several
pairs make one table, with the packages (SBOM) of images in the store: how
many each has and how many the multi-stage split removed (json lists them).
Images are named as for "strata size".`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 || len(args)%2 != 0 {
				return usageError{fmt.Errorf("%q needs pairs of images (A B [C D ...]), got %d\nusage: %s", cmd.CommandPath(), len(args), cmd.UseLine())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(report.CompareFormats(), f.format) {
				return usageError{fmt.Errorf("unknown --format %q (want %s)", f.format, strings.Join(report.CompareFormats(), ", "))}
			}
			seen := map[string]*report.Image{}
			pkgs := map[string][]string{}
			var rows []report.Comparison
			for i := 0; i < len(args); i += 2 {
				var pair [2]*report.Image
				for j, ref := range args[i : i+2] {
					if seen[ref] == nil {
						rep, err := analyzeImage(cmd.Context(), g, f, ref)
						if err != nil {
							return err
						}
						seen[ref] = rep
						if list, ok := storedPackages(cmd.Context(), g, f, ref); ok {
							pkgs[ref] = list
						}
					}
					pair[j] = seen[ref]
				}
				c := report.Compare(pair[0], pair[1])
				a, okA := pkgs[args[i]]
				b, okB := pkgs[args[i+1]]
				if okA && okB {
					c.Packages = report.ComparePackages(a, b)
				}
				rows = append(rows, c)
			}
			return report.WriteComparisons(g.stdio.Out, rows, f.format)
		},
	}
	f.register(cmd, strings.Join(report.CompareFormats(), "|"))
	return cmd
}

// storedPackages lists the packages of a stored image as
// "type/name@version"; false for an image from elsewhere (a layout, an
// archive, a registry) or one that cannot be scanned.
func storedPackages(ctx context.Context, g *globals, f *sizeFlags, ref string) ([]string, bool) {
	if f.remote || strings.Contains(ref, ":/") || strings.HasPrefix(ref, "oci:") || strings.HasPrefix(ref, "oci-archive:") || strings.HasPrefix(ref, "docker-archive:") {
		return nil, false
	}
	platform, err := platformFlag(f.platform)
	if err != nil {
		return nil, false
	}
	s, done, err := g.openStoreLeased(ctx)
	if err != nil {
		return nil, false
	}
	defer done()
	c, err := resolveImage(ctx, s, ref, platform)
	if err != nil {
		return nil, false
	}
	cache, err := s.SBOMCacheDir(ctx)
	if err != nil {
		return nil, false
	}
	doc, err := sbom.ScanImage(ctx, s, c.Image, sbom.Options{CacheDir: cache})
	if err != nil {
		return nil, false
	}
	out := make([]string, 0, len(doc.Packages))
	for _, p := range doc.Packages {
		name := p.Name
		if p.Group != "" {
			name = p.Group + ":" + name
		}
		out = append(out, p.Type+"/"+name+"@"+p.Version)
	}
	return out, true
}
