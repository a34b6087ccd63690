package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"
)

type historyFlags struct {
	noTrunc, quiet bool
	platform       string
}

func newHistoryCmd(g *globals) *cobra.Command {
	f := &historyFlags{}
	cmd := &cobra.Command{
		Use:   "history IMAGE",
		Short: "Show the history of an image, newest first",
		Args:  argsRange(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHistory(cmd.Context(), g, f, args[0])
		},
	}
	cmd.Flags().BoolVar(&f.noTrunc, "no-trunc", false, "don't truncate output")
	cmd.Flags().BoolVarP(&f.quiet, "quiet", "q", false, "only show image IDs")
	cmd.Flags().StringVar(&f.platform, "platform", "", "platform of a multi-platform image to show (default: the host's, else the first)")
	return cmd
}

// historyRow is one history entry with the layer it made, if any.
type historyRow struct {
	id, createdBy, comment string
	created                time.Time
	size                   int64
}

func runHistory(ctx context.Context, g *globals, f *historyFlags, ref string) error {
	platform, err := platformFlag(f.platform)
	if err != nil {
		return err
	}
	s, err := g.openStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	c, err := resolveImage(ctx, s, ref, platform)
	if err != nil {
		return fmt.Errorf("showing history of %q: %w", ref, err)
	}
	h := c.ID
	rows, err := historyRows(c.Image)
	if err != nil {
		return fmt.Errorf("showing history of %q: %w", ref, err)
	}
	rows[0].id = shortID(h)
	if f.noTrunc {
		rows[0].id = h.String()
	}
	if f.quiet {
		for _, r := range rows {
			fmt.Fprintln(g.stdio.Out, r.id)
		}
		return nil
	}
	if c.Index != nil {
		fmt.Fprintf(g.stdio.Out, "PLATFORM: %s\n", c.Platform)
	}
	tw := tabwriter.NewWriter(g.stdio.Out, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT")
	now := time.Now()
	for _, r := range rows {
		by := strings.Join(strings.Fields(r.createdBy), " ")
		if !f.noTrunc && len(by) > 45 {
			by = by[:44] + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.id, ago(r.created, now), by, dockerSize(r.size), r.comment)
	}
	return tw.Flush()
}

// historyRows pairs history entries with layers (each non-empty entry made
// the next layer), newest first. Sizes are compressed layer sizes.
func historyRows(img v1.Image) ([]historyRow, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	hist := cf.History
	if len(hist) == 0 { // no history: one row per layer
		hist = make([]v1.History, len(m.Layers))
	}
	var rows []historyRow
	li := 0
	for _, e := range hist {
		r := historyRow{id: "<missing>", createdBy: e.CreatedBy, comment: e.Comment, created: e.Created.Time}
		if !e.EmptyLayer && li < len(m.Layers) {
			r.size = m.Layers[li].Size
			li++
		}
		rows = append([]historyRow{r}, rows...)
	}
	if len(rows) == 0 {
		rows = []historyRow{{id: "<missing>", created: cf.Created.Time}}
	}
	return rows, nil
}
