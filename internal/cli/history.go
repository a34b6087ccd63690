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
	noTrunc, quiet, human bool
	platform, format      string
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
	cmd.Flags().StringVar(&f.format, "format", "", "output: table, table TEMPLATE, json, or a Go template over .ID .CreatedSince .CreatedAt .CreatedBy .Size .Comment")
	cmd.Flags().BoolVarP(&f.human, "human", "H", true, "sizes and dates in human-readable form")
	return cmd
}

// historyRow is one history entry with the layer it made, if any.
type historyRow struct {
	id, createdBy, comment string
	created                time.Time
	size                   int64
}

// historyLine is a history row as --format templates and json see it,
// named as docker names them.
type historyLine struct {
	ID, CreatedSince, CreatedAt, CreatedBy, Size, Comment string
}

var historyColumns = map[string]string{"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY"}

func runHistory(ctx context.Context, g *globals, f *historyFlags, ref string) error {
	format, err := parseFormat(f.format, historyLine{}, historyColumns)
	if err != nil {
		return err
	}
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
	rows, err := historyRows(c.Image)
	if err != nil {
		return fmt.Errorf("showing history of %q: %w", ref, err)
	}
	id, err := c.imageID()
	if err != nil {
		return err
	}
	rows[0].id = shortID(id)
	if f.noTrunc {
		rows[0].id = id.String()
	}
	if f.quiet {
		for _, r := range rows {
			fmt.Fprintln(g.stdio.Out, r.id)
		}
		return nil
	}
	now := time.Now()
	if !format.table {
		lines := make([]any, len(rows))
		for i, r := range rows {
			lines[i] = r.line(f, now)
		}
		return format.write(g.stdio.Out, lines)
	}
	if c.Index != nil {
		fmt.Fprintf(g.stdio.Out, "PLATFORM: %s\n", c.Platform)
	}
	tw := tabwriter.NewWriter(g.stdio.Out, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT")
	for _, r := range rows {
		l := r.line(f, now)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", l.ID, l.CreatedSince, l.CreatedBy, l.Size, l.Comment)
	}
	return tw.Flush()
}

// line renders r as docker history does: CREATED BY on one line, cut at
// 45 characters unless --no-trunc; -H=false gives exact sizes and dates.
func (r historyRow) line(f *historyFlags, now time.Time) historyLine {
	by := strings.Join(strings.Fields(r.createdBy), " ")
	if !f.noTrunc && len(by) > 45 {
		by = by[:44] + "…"
	}
	l := historyLine{ID: r.id, CreatedBy: by, Comment: r.comment, CreatedSince: ago(r.created, now), Size: dockerSize(r.size)}
	if !r.created.IsZero() {
		l.CreatedAt = r.created.Format(time.RFC3339)
	}
	if !f.human {
		l.CreatedSince, l.Size = l.CreatedAt, fmt.Sprint(r.size)
	}
	return l
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
