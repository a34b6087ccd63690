package report

import (
	"bytes"
	"encoding/xml"
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
// path, and that boxes of one rank do not overlap.
func checkSVG(t *testing.T, b []byte, g *Graph) {
	t.Helper()
	var doc struct {
		Groups []struct {
			Class string `xml:"class,attr"`
			Rect  struct {
				X float64 `xml:"x,attr"`
				Y float64 `xml:"y,attr"`
				W float64 `xml:"width,attr"`
			} `xml:"rect"`
		} `xml:"g"`
		Paths []struct {
			Class string `xml:"class,attr"`
		} `xml:"path"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("SVG does not parse: %v", err)
	}
	if len(doc.Groups) != len(g.Nodes) || len(doc.Paths) != len(g.Edges) {
		t.Errorf("SVG has %d nodes and %d edges, want %d and %d", len(doc.Groups), len(doc.Paths), len(g.Nodes), len(g.Edges))
	}
	for i, a := range doc.Groups {
		for _, z := range doc.Groups[i+1:] {
			if a.Rect.Y == z.Rect.Y && a.Rect.X < z.Rect.X+z.Rect.W && z.Rect.X < a.Rect.X+a.Rect.W {
				t.Errorf("SVG boxes overlap: %+v and %+v", a.Rect, z.Rect)
			}
		}
	}
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
