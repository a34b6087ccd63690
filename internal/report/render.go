package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/docker/go-units"
)

// HumanSize renders a byte count as Docker does ("12.3MB", decimal units).
func HumanSize(n int64) string { return units.HumanSizeWithPrecision(float64(n), 3) }

// Count is n and the noun, plural unless n is 1: "1 layer", "3 layers".
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// WriteJSON writes v as indented JSON.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteSizeTable writes rep for a terminal.
func WriteSizeTable(w io.Writer, rep *Image) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	name := rep.Name
	if name == "" {
		name = rep.Digest
	}
	fmt.Fprintf(tw, "Image:\t%s\n", name)
	if rep.Platform != "" {
		fmt.Fprintf(tw, "Platform:\t%s\n", rep.Platform)
	}
	fmt.Fprintf(tw, "Digest:\t%s\n", rep.Digest)
	fmt.Fprintf(tw, "Size:\t%s compressed, %s uncompressed, %s of content in %s, %s\n",
		HumanSize(rep.Compressed), HumanSize(rep.Uncompressed), HumanSize(rep.Content), Count(rep.Files, "file"), Count(len(rep.Layers), "layer"))
	ef := rep.Efficiency
	fmt.Fprintf(tw, "Efficiency:\t%.2f %%, %s wasted (%.1f %% of the %s above the base layer)\n",
		100*ef.Score, HumanSize(ef.WastedBytes), ef.WastedUserPercent, HumanSize(ef.UserSize))
	fmt.Fprintf(tw, "Bloat:\t%s\n", bloatLine(rep.Bloat))
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "LAYER\tCOMPRESSED\tUNCOMPRESSED\tFILES\tINSTRUCTION")
	for _, l := range rep.Layers {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\n", l.Index, HumanSize(l.Compressed), HumanSize(l.Uncompressed), l.Files, truncate(l.Instruction, 70))
	}
	writePaths(tw, "LARGEST FILES", rep.LargestFiles, false)
	writePaths(tw, "LARGEST DIRECTORIES", rep.LargestDirs, true)
	if len(ef.Wasted) > 0 {
		fmt.Fprintln(tw, "\nWASTED\tLAYERS\tPATH")
		for _, wst := range ef.Wasted {
			fmt.Fprintf(tw, "%s\t%d\t%s\n", HumanSize(wst.Bytes), wst.Layers, wst.Path)
		}
	}
	fmt.Fprintln(tw, "\nBLOAT\tFILES\tFOUND\tWHERE")
	for _, c := range rep.Bloat {
		fmt.Fprintf(tw, "%s\t%d\t%s\t\n", HumanSize(c.Bytes), c.Files, c.Title)
		for _, it := range c.Items {
			fmt.Fprintf(tw, "  %s\t%d\t  %s\t%s\n", HumanSize(it.Bytes), it.Files, it.Name, strings.Join(it.Where, " "))
		}
	}
	return tw.Flush()
}

func writePaths(w io.Writer, title string, list []PathSize, files bool) {
	if len(list) == 0 {
		return
	}
	if files {
		fmt.Fprintf(w, "\n%s\tFILES\tPATH\n", title)
	} else {
		fmt.Fprintf(w, "\n%s\tPATH\n", title)
	}
	for _, p := range list {
		if files {
			fmt.Fprintf(w, "%s\t%d\t%s\n", HumanSize(p.Size), p.Files, p.Path)
		} else {
			fmt.Fprintf(w, "%s\t%s\n", HumanSize(p.Size), p.Path)
		}
	}
}

// bloatLine sums up the categories found: "apt lists 18MB, docs 3MB".
func bloatLine(cs []Category) string {
	var parts []string
	var total int64
	for _, c := range cs {
		if c.Bytes == 0 {
			continue
		}
		total += c.Bytes
		parts = append(parts, fmt.Sprintf("%s %s", c.Key, HumanSize(c.Bytes)))
	}
	if len(parts) == 0 {
		return "none found"
	}
	return HumanSize(total) + ": " + strings.Join(parts, ", ")
}

// truncate shortens s to n runes with an ellipsis.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
