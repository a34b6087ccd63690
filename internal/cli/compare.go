package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/internal/report"
)

func newCompareCmd(g *globals) *cobra.Command {
	f := &sizeFlags{}
	cmd := &cobra.Command{
		Use:   "compare A B [C D ...]",
		Short: "Compare images pairwise: sizes, reduction, layers, files, bloat dropped",
		Long: `Compare images pairwise, A (e.g. a single-stage build) against B (e.g. its
multi-stage version): uncompressed and compressed sizes, the reduction in
percent, layers, files and the bloat categories B no longer carries. Several
pairs make one table. Images are named as for "strata size".`,
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
					}
					pair[j] = seen[ref]
				}
				rows = append(rows, report.Compare(pair[0], pair[1]))
			}
			return report.WriteComparisons(g.stdio.Out, rows, f.format)
		},
	}
	f.register(cmd, strings.Join(report.CompareFormats(), "|"))
	return cmd
}
