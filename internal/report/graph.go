package report

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/strata-build/strata/internal/dockerfile"
	"github.com/strata-build/strata/internal/plan"
)

// Graph is the stage graph of a Dockerfile: stages and the images and
// contexts they use, linked by FROM, COPY --from and RUN --mount=from.
type Graph struct {
	Nodes []GraphNode `json:"nodes"`
	Edges []GraphEdge `json:"edges"`
}

// NodeKind is what a graph node stands for.
type NodeKind string

// Node kinds.
const (
	StageNode   NodeKind = "stage"
	ImageNode   NodeKind = "image"
	ContextNode NodeKind = "context"
)

// GraphNode is a stage, an image or a named build context.
type GraphNode struct {
	ID    string   `json:"id"`
	Label string   `json:"label"`
	Kind  NodeKind `json:"kind"`
	// For stages: the index, the base as written ("scratch" shows here, it
	// gets no node), whether it is the target and whether the build would
	// skip it (the target does not need it).
	Stage   int    `json:"stage,omitempty"`
	Base    string `json:"base,omitempty"`
	Target  bool   `json:"target,omitempty"`
	Skipped bool   `json:"skipped,omitempty"`
}

// GraphEdge says that To uses From. Several instructions of the same kind
// between the same nodes make one edge.
type GraphEdge struct {
	From  string        `json:"from"`
	To    string        `json:"to"`
	Kind  plan.EdgeKind `json:"-"`
	Type  string        `json:"kind"` // "base", "copy" or "mount"
	Lines []int         `json:"lines"`
	// Paths are the sources copied (COPY) or mounted (RUN --mount).
	Paths []string `json:"paths,omitempty"`
}

// Label is the text drawn on the edge: "FROM", "COPY /out/ /etc/x".
func (e GraphEdge) Label() string {
	verb := map[plan.EdgeKind]string{plan.BaseEdge: "FROM", plan.CopyEdge: "COPY", plan.MountEdge: "mount"}[e.Kind]
	if len(e.Paths) == 0 {
		return verb
	}
	return verb + " " + truncate(strings.Join(e.Paths, " "), 40)
}

// NewGraph makes the graph of p.
func NewGraph(p *plan.Plan) *Graph {
	g := &Graph{}
	ids := map[string]bool{}
	built := map[*plan.Stage]bool{}
	for _, s := range p.Order {
		built[s] = true
	}
	for _, s := range p.Stages {
		g.Nodes = append(g.Nodes, GraphNode{
			ID: stageID(s), Label: s.DisplayName(), Kind: StageNode, Stage: s.Index, Base: baseText(s.Base),
			Target: s == p.Target, Skipped: !built[s],
		})
		ids[stageID(s)] = true
	}
	edges := map[[3]string]int{}
	for _, s := range p.Stages {
		for _, e := range s.Edges {
			from, ok := g.source(e.From, ids)
			if !ok {
				continue
			}
			key := [3]string{from, stageID(s), e.Kind.String()}
			i, seen := edges[key]
			if !seen {
				i = len(g.Edges)
				edges[key] = i
				g.Edges = append(g.Edges, GraphEdge{From: from, To: stageID(s), Kind: e.Kind, Type: e.Kind.String()})
			}
			ge := &g.Edges[i]
			ge.Lines = append(ge.Lines, e.Line)
			for _, p := range edgePaths(p, e) {
				if !slices.Contains(ge.Paths, p) {
					ge.Paths = append(ge.Paths, p)
				}
			}
		}
	}
	return g
}

// source returns the node an edge comes from, adding image and context
// nodes on first use; scratch has none.
func (g *Graph) source(src plan.Source, ids map[string]bool) (string, bool) {
	var n GraphNode
	switch src.Kind {
	case plan.StageRef:
		return stageID(src.Stage), true
	case plan.ImageRef:
		n = GraphNode{ID: "image:" + src.Ref, Label: src.Ref, Kind: ImageNode}
	case plan.ContextRef:
		n = GraphNode{ID: "context:" + src.Ref, Label: "context " + src.Ref, Kind: ContextNode}
	default:
		return "", false
	}
	if !ids[n.ID] {
		ids[n.ID] = true
		g.Nodes = append(g.Nodes, n)
	}
	return n.ID, true
}

func stageID(s *plan.Stage) string { return "stage:" + strconv.Itoa(s.Index) }

func baseText(src plan.Source) string {
	switch src.Kind {
	case plan.StageRef:
		return src.Stage.DisplayName()
	case plan.Scratch:
		return "scratch"
	}
	return src.Ref
}

// edgePaths are the sources a COPY copies or a RUN mounts from e.From (a
// RUN may mount from several stages: only the mounts from e.From count).
func edgePaths(p *plan.Plan, e plan.Edge) []string {
	switch c := e.Command.(type) {
	case *instructions.CopyCommand:
		return e.Paths
	case *instructions.RunCommand:
		var out []string
		for _, m := range mountsOf(c) {
			if m.From == "" {
				continue
			}
			if src, err := p.ResolveFrom(plan.MountEdge, m.From, e.Line); err != nil || src != e.From {
				continue
			}
			src := m.Source
			if src == "" {
				src = "/"
			}
			out = append(out, src+"→"+m.Target)
		}
		return out
	}
	return nil
}

// mountsOf returns the --mount flags of c as written: BuildKit fills them
// in only when a RUN is expanded, so a fresh copy parsed from c's text is
// expanded without variables (as internal/lint does).
func mountsOf(c *instructions.RunCommand) []*instructions.Mount {
	ms, _ := dockerfile.Mounts(c, nil)
	return ms
}

// node returns the node with id.
func (g *Graph) node(id string) *GraphNode {
	for i := range g.Nodes {
		if g.Nodes[i].ID == id {
			return &g.Nodes[i]
		}
	}
	return nil
}

// GraphFormats are the formats WriteGraph knows.
func GraphFormats() []string { return []string{"text", "dot", "mermaid", "svg"} }

// WriteGraph writes g in format: text, dot, mermaid or svg.
func WriteGraph(w io.Writer, g *Graph, format string) error {
	switch format {
	case "text":
		return writeGraphText(w, g)
	case "dot":
		return writeDOT(w, g)
	case "mermaid":
		return writeMermaid(w, g)
	case "svg":
		_, err := io.WriteString(w, SVG(g))
		return err
	}
	return fmt.Errorf("unknown format %q (want one of %s)", format, strings.Join(GraphFormats(), ", "))
}

func writeGraphText(w io.Writer, g *Graph) error {
	for _, n := range g.Nodes {
		if n.Kind != StageNode {
			continue
		}
		mark := ""
		switch {
		case n.Target:
			mark = "  [target]"
		case n.Skipped:
			mark = "  [skipped]"
		}
		fmt.Fprintf(w, "%s (stage %d)%s\n", n.Label, n.Stage, mark)
		if n.Base == "scratch" {
			fmt.Fprintf(w, "  <- FROM scratch\n")
		}
		for _, e := range g.Edges {
			if e.To != n.ID {
				continue
			}
			from := g.node(e.From)
			verb := map[plan.EdgeKind]string{plan.BaseEdge: "FROM", plan.CopyEdge: "COPY --from", plan.MountEdge: "RUN --mount from"}[e.Kind]
			fmt.Fprintf(w, "  <- %s %s%s (line %s)\n", verb, from.Label, pathsText(e.Paths), joinInts(e.Lines))
		}
	}
	return nil
}

func pathsText(paths []string) string {
	if len(paths) == 0 {
		return ""
	}
	return ": " + strings.Join(paths, " ")
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

func writeDOT(w io.Writer, g *Graph) error {
	fmt.Fprintln(w, "digraph stages {")
	fmt.Fprintln(w, `  rankdir=TB;`)
	fmt.Fprintln(w, `  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname="sans-serif"];`)
	fmt.Fprintln(w, `  edge [fontname="sans-serif", fontsize=10];`)
	for _, n := range g.Nodes {
		attrs := []string{"label=" + strconv.Quote(nodeText(n))}
		switch {
		case n.Kind != StageNode:
			attrs = append(attrs, `shape=box`, `style="filled,dashed"`, `fillcolor="#f4f4f4"`)
		case n.Target:
			attrs = append(attrs, `penwidth=2.5`, `color="#1f6feb"`)
		case n.Skipped:
			attrs = append(attrs, `style="rounded,dashed"`, `fontcolor="#888888"`, `color="#888888"`)
		}
		fmt.Fprintf(w, "  %s [%s];\n", strconv.Quote(n.ID), strings.Join(attrs, ", "))
	}
	for _, e := range g.Edges {
		attrs := []string{"label=" + strconv.Quote(e.Label())}
		switch e.Kind {
		case plan.CopyEdge:
			attrs = append(attrs, `color="#1f6feb"`)
		case plan.MountEdge:
			attrs = append(attrs, `color="#d4760a"`, `style=dashed`)
		}
		fmt.Fprintf(w, "  %s -> %s [%s];\n", strconv.Quote(e.From), strconv.Quote(e.To), strings.Join(attrs, ", "))
	}
	_, err := fmt.Fprintln(w, "}")
	return err
}

// nodeText is a node's label with its marks, one line.
func nodeText(n GraphNode) string {
	switch {
	case n.Kind != StageNode:
		return n.Label
	case n.Target:
		return n.Label + " (target)"
	case n.Skipped:
		return n.Label + " (skipped)"
	}
	return n.Label
}

func writeMermaid(w io.Writer, g *Graph) error {
	fmt.Fprintln(w, "flowchart TD")
	mid := map[string]string{}
	for i, n := range g.Nodes {
		id := "n" + strconv.Itoa(i)
		mid[n.ID] = id
		label := mermaidText(nodeText(n))
		if n.Kind == StageNode {
			fmt.Fprintf(w, "  %s(\"%s\")\n", id, label)
		} else {
			fmt.Fprintf(w, "  %s[/\"%s\"/]\n", id, label)
		}
	}
	for _, e := range g.Edges {
		arrow := "-->"
		if e.Kind == plan.MountEdge {
			arrow = "-.->"
		}
		fmt.Fprintf(w, "  %s %s|\"%s\"| %s\n", mid[e.From], arrow, mermaidText(e.Label()), mid[e.To])
	}
	fmt.Fprintln(w, "  classDef target stroke:#1f6feb,stroke-width:3px")
	fmt.Fprintln(w, "  classDef skipped stroke-dasharray:5 5,color:#888888")
	for _, n := range g.Nodes {
		switch {
		case n.Target:
			fmt.Fprintf(w, "  class %s target\n", mid[n.ID])
		case n.Skipped:
			fmt.Fprintf(w, "  class %s skipped\n", mid[n.ID])
		}
	}
	return nil
}

// mermaidText escapes a quoted Mermaid label.
func mermaidText(s string) string {
	return strings.NewReplacer(`"`, "#quot;", "|", "#124;").Replace(s)
}
