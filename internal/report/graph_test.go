package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-build/strata/internal/dockerfile"
	"github.com/strata-build/strata/internal/plan"
)

// TestGoldenGraph renders testdata/graph/<case>/Dockerfile (with the
// target and named contexts of its options file) in every format.
func TestGoldenGraph(t *testing.T) {
	dirs, err := filepath.Glob("testdata/graph/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no graph cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			g := testGraph(t, dir)
			for _, f := range []struct{ format, ext string }{{"text", "txt"}, {"dot", "dot"}, {"mermaid", "mmd"}, {"svg", "svg"}} {
				var buf bytes.Buffer
				if err := WriteGraph(&buf, g, f.format); err != nil {
					t.Fatal(err)
				}
				golden(t, filepath.Join("graph", filepath.Base(dir), "want."+f.ext), buf.Bytes())
				if f.format == "svg" {
					checkSVG(t, buf.Bytes(), g)
				}
			}
		})
	}
}

func testGraph(t *testing.T, dir string) *Graph {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	opts := plan.Options{Contexts: map[string]bool{}}
	if b, err := os.ReadFile(filepath.Join(dir, "options")); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			k, v, _ := strings.Cut(line, "=")
			switch k {
			case "target":
				opts.Target = v
			case "contexts":
				for _, c := range strings.Split(v, ",") {
					opts.Contexts[c] = true
				}
			}
		}
	}
	f, err := dockerfile.Parse("Dockerfile", src)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.New(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	return NewGraph(p)
}

// checkSVG parses the SVG and checks every node has a box and every edge a
// path and a label, that no two node boxes overlap, and that no edge
// label's box overlaps another label or a node box.
func checkSVG(t *testing.T, b []byte, g *Graph) {
	t.Helper()
	var doc struct {
		Groups []struct {
			Class string `xml:"class,attr"`
			ID    string `xml:"data-id,attr"`
			Rect  struct {
				X float64 `xml:"x,attr"`
				Y float64 `xml:"y,attr"`
				W float64 `xml:"width,attr"`
				H float64 `xml:"height,attr"`
			} `xml:"rect"`
		} `xml:"g"`
		Paths []struct {
			Class string `xml:"class,attr"`
		} `xml:"path"`
		Texts []svgText `xml:"text"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("SVG does not parse: %v", err)
	}
	if len(doc.Groups) != len(g.Nodes) || len(doc.Paths) != len(g.Edges) {
		t.Errorf("SVG has %d nodes and %d edges, want %d and %d", len(doc.Groups), len(doc.Paths), len(g.Nodes), len(g.Edges))
	}
	var nodes, labels []box
	for _, n := range doc.Groups {
		nodes = append(nodes, box{n.ID, n.Rect.X, n.Rect.Y, n.Rect.X + n.Rect.W, n.Rect.Y + n.Rect.H})
	}
	for _, tx := range doc.Texts {
		if tx.Class == "edge-label" {
			labels = append(labels, tx.box())
		}
	}
	if len(labels) != len(g.Edges) {
		t.Errorf("SVG has %d edge labels, want %d", len(labels), len(g.Edges))
	}
	for i, a := range nodes {
		for _, z := range nodes[i+1:] {
			if a.overlaps(z) {
				t.Errorf("SVG node boxes overlap: %v and %v", a, z)
			}
		}
	}
	for i, a := range labels {
		for _, z := range labels[i+1:] {
			if a.overlaps(z) {
				t.Errorf("SVG edge labels overlap: %v and %v", a, z)
			}
		}
		for _, n := range nodes {
			if a.overlaps(n) {
				t.Errorf("SVG edge label overlaps a node: %v and %v", a, n)
			}
		}
	}
}

// svgText is a <text> element of the SVG.
type svgText struct {
	Class    string  `xml:"class,attr"`
	X        float64 `xml:"x,attr"`
	Y        float64 `xml:"y,attr"`
	FontSize float64 `xml:"font-size,attr"`
	Anchor   string  `xml:"text-anchor,attr"`
	Text     string  `xml:",chardata"`
}

// box is where a text is drawn: as wide as textWidth measures it, from
// 0.8 em above the baseline to 0.25 em below.
func (tx svgText) box() box {
	w := textWidth(tx.Text, tx.FontSize)
	x := tx.X
	switch tx.Anchor {
	case "middle":
		x -= w / 2
	case "end":
		x -= w
	}
	return box{tx.Text, x, tx.Y - 0.8*tx.FontSize, x + w, tx.Y + 0.25*tx.FontSize}
}

// box is a named rectangle, x0 <= x1 and y0 <= y1.
type box struct {
	name           string
	x0, y0, x1, y1 float64
}

func (a box) overlaps(z box) bool {
	return a.x0 < z.x1 && z.x0 < a.x1 && a.y0 < z.y1 && z.y0 < a.y1
}

func (a box) String() string {
	return fmt.Sprintf("%q [%.1f,%.1f]-[%.1f,%.1f]", a.name, a.x0, a.y0, a.x1, a.y1)
}

// TestGraphMarks checks the target, the skipped stages and the edges of the
// sample directly, beside the golden files.
func TestGraphMarks(t *testing.T) {
	g := testGraph(t, "testdata/graph/mounts")
	var target, skipped []string
	for _, n := range g.Nodes {
		if n.Target {
			target = append(target, n.Label)
		}
		if n.Skipped {
			skipped = append(skipped, n.Label)
		}
	}
	if strings.Join(target, ",") != "final" || strings.Join(skipped, ",") != "test" {
		t.Errorf("NewGraph() target %v skipped %v, want [final] and [test]", target, skipped)
	}
	var labels []string
	for _, e := range g.Edges {
		labels = append(labels, e.From+" "+e.Label()+" "+e.To)
	}
	want := []string{
		"image:golang:1.22 FROM stage:0",
		"stage:0 FROM stage:1",
		"stage:0 mount /go/pkg/mod→/go/pkg/mod stage:1",
		"image:node:20 FROM stage:2",
		"context:assets COPY /logo.svg stage:2",
		"image:gcr.io/distroless/static FROM stage:3",
		"stage:1 COPY /out/app stage:3",
		"stage:2 COPY /web/dist /web/index.html stage:3",
		"stage:1 FROM stage:4",
	}
	if strings.Join(labels, "\n") != strings.Join(want, "\n") {
		t.Errorf("NewGraph() edges =\n%s\nwant\n%s", strings.Join(labels, "\n"), strings.Join(want, "\n"))
	}
}

// TestSVGNoOverlapGenerated lays out generated Dockerfiles of 2 to 24
// stages (a fixed seed: the same ones every run), each stage FROM an image
// or an earlier stage, copying and mounting from earlier stages with paths
// of varied length, and holds every layout to checkSVG.
func TestSVGNoOverlapGenerated(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 2026))
	images := []string{"alpine:3.20", "golang:1.22", "node:20", "gcr.io/distroless/static-debian12:nonroot", "debian:12-slim"}
	paths := []string{"/out/app", "/etc/ssl/certs/ca-certificates.crt", "/web/dist", "/go/pkg/mod", "/usr/local/lib/python3.12/site-packages", "/a"}
	for n := 2; n <= 24; n++ {
		var df strings.Builder
		for i := 0; i < n; i++ {
			if i > 0 && rng.IntN(2) == 0 {
				fmt.Fprintf(&df, "FROM s%d AS s%d\n", rng.IntN(i), i)
			} else {
				fmt.Fprintf(&df, "FROM %s AS s%d\n", images[rng.IntN(len(images))], i)
			}
			for k := rng.IntN(4); k > 0 && i > 0; k-- {
				from, p := rng.IntN(i), paths[rng.IntN(len(paths))]
				if rng.IntN(3) == 0 {
					fmt.Fprintf(&df, "RUN --mount=type=bind,from=s%d,source=%s,target=/m%d true\n", from, p, k)
				} else {
					fmt.Fprintf(&df, "COPY --from=s%d %s /dst%d/\n", from, p, k)
				}
			}
		}
		f, err := dockerfile.Parse("Dockerfile", []byte(df.String()))
		if err != nil {
			t.Fatal(err)
		}
		p, err := plan.New(f, plan.Options{})
		if err != nil {
			t.Fatal(err)
		}
		g := NewGraph(p)
		t.Run(fmt.Sprintf("%d-stages", n), func(t *testing.T) {
			checkSVG(t, []byte(SVG(g)), g)
			if t.Failed() {
				t.Logf("Dockerfile:\n%s", df.String())
			}
		})
	}
}
