package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/internal/store"
)

func newDfCmd(g *globals) *cobra.Command {
	var verbose bool
	var format string
	cmd := &cobra.Command{
		Use:   "df",
		Short: "Show store disk usage: images, extracted layers, build cache, cache mounts",
		Long: `Show store disk usage, like docker system df.

RECLAIMABLE is what "strata prune" frees for images and extracted layers,
and what "strata prune --all" frees for the build cache and cache mounts.`,
		Args: argsRange(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDf(cmd.Context(), g, verbose, format)
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list cache mounts and build cache records")
	cmd.Flags().StringVar(&format, "format", "", "output: table, table TEMPLATE, json, or a Go template over .Type .TotalCount .Active .Size .Reclaimable")
	return cmd
}

// dfLine is a row of df as --format templates and json see it, named as
// docker system df names them.
type dfLine struct {
	Type, TotalCount, Active, Size, Reclaimable string
}

func runDf(ctx context.Context, g *globals, verbose bool, format string) error {
	rf, err := parseFormat(format, dfLine{}, map[string]string{"TotalCount": "TOTAL"})
	if err != nil {
		return err
	}
	s, err := g.openStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	u, err := s.Usage(ctx)
	if err != nil {
		return err
	}
	if !rf.table {
		var lines []any
		for _, r := range usageRows(u) {
			lines = append(lines, dfLine{Type: r.name, TotalCount: fmt.Sprint(r.row.Total), Active: fmt.Sprint(r.row.Active),
				Size: dockerSize(r.row.Size), Reclaimable: reclaimable(r.row)})
		}
		return rf.write(g.stdio.Out, lines)
	}
	if err := printUsage(g.stdio.Out, u); err != nil {
		return err
	}
	if !verbose {
		return nil
	}
	now := time.Now()
	if err := printMounts(g.stdio.Out, u.Mounts, now); err != nil {
		return err
	}
	return printRecords(g.stdio.Out, u.Records, now)
}

func printUsage(w io.Writer, u *store.Usage) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE")
	for _, r := range usageRows(u) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", r.name, r.row.Total, r.row.Active, dockerSize(r.row.Size), reclaimable(r.row))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nReclaimable: %s with \"strata prune\", %s with \"strata prune --all\"\n",
		dockerSize(u.Reclaimable), dockerSize(u.ReclaimableAll))
	return err
}

type usageRow struct {
	name string
	row  store.UsageRow
}

func usageRows(u *store.Usage) []usageRow {
	return []usageRow{
		{"Images", u.Images},
		{"Extracted layers", u.Layers},
		{"Build cache", u.BuildCache},
		{"Cache mounts", u.CacheMounts},
	}
}

// reclaimable renders Docker's RECLAIMABLE column: "1.2MB (40%)".
func reclaimable(r store.UsageRow) string {
	pct := 0
	if r.Size > 0 {
		pct = int(r.Reclaimable * 100 / r.Size)
	}
	return fmt.Sprintf("%s (%d%%)", dockerSize(r.Reclaimable), pct)
}

func printMounts(w io.Writer, ms []store.CacheMountUsage, now time.Time) error {
	fmt.Fprintln(w, "\nCache mounts:")
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "ID\tSIZE\tLAST USED\tIN USE")
	for _, m := range ms {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%t\n", m.ID, dockerSize(m.Size), ago(m.LastUsed, now), m.InUse)
	}
	return tw.Flush()
}

func printRecords(w io.Writer, rs []store.CacheRecordUsage, now time.Time) error {
	fmt.Fprintln(w, "\nBuild cache:")
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "CACHE ID\tLAYER\tSIZE\tLAST USED\tSHARED\tCREATED BY")
	for _, r := range rs {
		layer, size := "<none>", "0B"
		if r.Layer.Hex != "" {
			layer, size = shortID(r.Layer), dockerSize(r.Size)
		}
		if r.Orphan {
			layer = "<orphan>"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%s\n", shortID(r.Key), layer, size, ago(r.LastUsed, now), r.Shared, truncateCell(r.CreatedBy, 50))
	}
	return tw.Flush()
}

// truncateCell shortens s to n runes, marking the cut with "…"; tabs and
// newlines become spaces so a table stays a table.
func truncateCell(s string, n int) string {
	rs := []rune(s)
	for i, r := range rs {
		if r == '\t' || r == '\n' || r == '\r' {
			rs[i] = ' '
		}
	}
	if len(rs) <= n {
		return string(rs)
	}
	return string(rs[:n-1]) + "…"
}
