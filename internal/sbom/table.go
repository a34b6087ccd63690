package sbom

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// WriteTable writes s for people: one line per package (type, name,
// version, the layer that added it and its source) and a count per type.
func WriteTable(w io.Writer, s *SBOM) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tNAME\tVERSION\tLAYER\tSOURCE")
	counts := map[string]int{}
	for _, p := range s.Packages {
		counts[p.Type]++
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", p.Type, displayName(p), p.Version, p.Layer, shorten(p.Source, 60))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing sbom table: %w", err)
	}
	types := make([]string, 0, len(counts))
	for t := range counts {
		types = append(types, t)
	}
	sort.Strings(types)
	parts := make([]string, len(types))
	for i, t := range types {
		parts[i] = fmt.Sprintf("%d %s", counts[t], t)
	}
	summary := fmt.Sprintf("\n%d packages", len(s.Packages))
	if len(parts) > 0 {
		summary += ": " + strings.Join(parts, ", ")
	}
	if s.Distro.Pretty != "" {
		summary += " (" + s.Distro.Pretty + ")"
	}
	if _, err := fmt.Fprintln(w, summary); err != nil {
		return fmt.Errorf("writing sbom table: %w", err)
	}
	return nil
}

// shorten cuts s to n runes on one line, marking a cut with "…".
func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
