package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Comparison is one row of a traditional-versus-multi-stage table: A is
// the image before (e.g. a single-stage build), B the image after.
type Comparison struct {
	A ImageFigures `json:"a"`
	B ImageFigures `json:"b"`
	// Reduction is how much smaller B is than A, in percent of A's
	// uncompressed size (negative when B is larger); CompressedReduction
	// the same for compressed sizes.
	Reduction           float64 `json:"reduction"`
	CompressedReduction float64 `json:"compressed_reduction"`
	// Bloat is, per category A has, its bytes in A and in B; Dropped lists
	// the categories B has none of.
	Bloat   []CategoryDelta `json:"bloat"`
	Dropped []string        `json:"dropped"`
	// Packages is what B keeps of A's software packages (SBOM); nil when
	// they are not known (an image read from outside the store).
	Packages *PackageDelta `json:"packages,omitempty"`
}

// PackageDelta compares the packages of two images, each named
// "type/name@version" (deb/curl@7.88.1-10).
type PackageDelta struct {
	A int `json:"a"`
	B int `json:"b"`
	// Removed are A's packages B does not have; Added B's that A has not.
	Removed []string `json:"removed"`
	Added   []string `json:"added"`
}

// ComparePackages is the delta between a's and b's packages.
func ComparePackages(a, b []string) *PackageDelta {
	inA, inB := map[string]bool{}, map[string]bool{}
	for _, p := range a {
		inA[p] = true
	}
	for _, p := range b {
		inB[p] = true
	}
	d := &PackageDelta{A: len(inA), B: len(inB), Removed: []string{}, Added: []string{}}
	for p := range inA {
		if !inB[p] {
			d.Removed = append(d.Removed, p)
		}
	}
	for p := range inB {
		if !inA[p] {
			d.Added = append(d.Added, p)
		}
	}
	sort.Strings(d.Removed)
	sort.Strings(d.Added)
	return d
}

// packagesText renders the package counts: "412 → 129 (-283)".
func (c Comparison) packagesText() string {
	if c.Packages == nil {
		return "-"
	}
	return fmt.Sprintf("%d → %d (-%d)", c.Packages.A, c.Packages.B, len(c.Packages.Removed))
}

// ImageFigures are the headline numbers of an image.
type ImageFigures struct {
	Name         string `json:"name"`
	Digest       string `json:"digest"`
	Compressed   int64  `json:"compressed"`
	Uncompressed int64  `json:"uncompressed"`
	Layers       int    `json:"layers"`
	Files        int    `json:"files"`
	Bloat        int64  `json:"bloat"`
}

// CategoryDelta is one bloat category in both images.
type CategoryDelta struct {
	Key    string `json:"key"`
	Title  string `json:"title"`
	ABytes int64  `json:"a_bytes"`
	BBytes int64  `json:"b_bytes"`
}

// Compare computes the comparison row of a and b.
func Compare(a, b *Image) Comparison {
	c := Comparison{A: figures(a), B: figures(b), Dropped: []string{}}
	c.Reduction = reduction(c.A.Uncompressed, c.B.Uncompressed)
	c.CompressedReduction = reduction(c.A.Compressed, c.B.Compressed)
	inB := map[string]int64{}
	for _, cat := range b.Bloat {
		inB[cat.Key] = cat.Bytes
	}
	for _, cat := range a.Bloat {
		if cat.Bytes == 0 {
			continue
		}
		c.Bloat = append(c.Bloat, CategoryDelta{Key: cat.Key, Title: cat.Title, ABytes: cat.Bytes, BBytes: inB[cat.Key]})
		if inB[cat.Key] == 0 {
			c.Dropped = append(c.Dropped, cat.Key)
		}
	}
	return c
}

func figures(im *Image) ImageFigures {
	f := ImageFigures{Name: im.Name, Digest: im.Digest, Compressed: im.Compressed, Uncompressed: im.Uncompressed, Layers: len(im.Layers), Files: im.Files}
	for _, c := range im.Bloat {
		f.Bloat += c.Bytes
	}
	return f
}

func reduction(a, b int64) float64 {
	if a == 0 {
		return 0
	}
	return 100 * float64(a-b) / float64(a)
}

// droppedText renders what B dropped: "compilers (310MB), caches (20MB)".
func (c Comparison) droppedText() string {
	var parts []string
	for _, d := range c.Bloat {
		if d.BBytes == 0 {
			parts = append(parts, fmt.Sprintf("%s (%s)", d.Key, HumanSize(d.ABytes)))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// CompareFormats are the formats WriteComparisons knows.
func CompareFormats() []string { return []string{"table", "markdown", "json", "csv"} }

// WriteComparisons writes rows in format (table, markdown, json or csv).
func WriteComparisons(w io.Writer, rows []Comparison, format string) error {
	switch format {
	case "table":
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "A\tB\tSIZE A\tSIZE B\tREDUCTION\tCOMPRESSED A\tCOMPRESSED B\tLAYERS\tFILES\tPACKAGES\tDROPPED")
		for _, r := range rows {
			fmt.Fprintln(tw, strings.Join(r.cells(), "\t"))
		}
		return tw.Flush()
	case "markdown":
		fmt.Fprintln(w, "| A | B | Size A | Size B | Reduction | Compressed A | Compressed B | Layers | Files | Packages | Dropped |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
		for _, r := range rows {
			cells := r.cells()
			cells[0], cells[1] = "`"+cells[0]+"`", "`"+cells[1]+"`"
			fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
		}
		return nil
	case "json":
		return WriteJSON(w, rows)
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"a", "b", "a_uncompressed", "b_uncompressed", "reduction_percent", "a_compressed", "b_compressed",
			"compressed_reduction_percent", "a_layers", "b_layers", "a_files", "b_files", "a_bloat", "b_bloat", "dropped",
			"a_packages", "b_packages", "packages_removed"})
		for _, r := range rows {
			pa, pb, pr := "", "", ""
			if r.Packages != nil {
				pa, pb, pr = strconv.Itoa(r.Packages.A), strconv.Itoa(r.Packages.B), strconv.Itoa(len(r.Packages.Removed))
			}
			cw.Write([]string{r.A.Name, r.B.Name, itoa(r.A.Uncompressed), itoa(r.B.Uncompressed), ftoa(r.Reduction),
				itoa(r.A.Compressed), itoa(r.B.Compressed), ftoa(r.CompressedReduction),
				strconv.Itoa(r.A.Layers), strconv.Itoa(r.B.Layers), strconv.Itoa(r.A.Files), strconv.Itoa(r.B.Files),
				itoa(r.A.Bloat), itoa(r.B.Bloat), strings.Join(r.Dropped, " "), pa, pb, pr})
		}
		cw.Flush()
		return cw.Error()
	}
	return fmt.Errorf("unknown format %q (want one of %s)", format, strings.Join(CompareFormats(), ", "))
}

// cells are a row of the table and markdown formats.
func (c Comparison) cells() []string {
	return []string{
		c.A.Name, c.B.Name, HumanSize(c.A.Uncompressed), HumanSize(c.B.Uncompressed), fmt.Sprintf("%.1f%%", c.Reduction),
		HumanSize(c.A.Compressed), HumanSize(c.B.Compressed),
		fmt.Sprintf("%d → %d", c.A.Layers, c.B.Layers), fmt.Sprintf("%d → %d", c.A.Files, c.B.Files), c.packagesText(), c.droppedText(),
	}
}

func itoa(n int64) string   { return strconv.FormatInt(n, 10) }
func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }
