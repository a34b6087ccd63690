package report

import (
	"cmp"
	"fmt"
	"html"
	"slices"
	"strings"

	"github.com/strata-build/strata/internal/plan"
)

// Layout sizes, in SVG user units.
const (
	nodeHeight = 46.0
	rankGap    = 80.0 // vertical space between ranks
	nodeGap    = 40.0 // horizontal space between nodes of a rank
	charWidth  = 7.4  // of the 13px sans-serif label font
	margin     = 20.0
)

// layoutNode is a node placed by the layered layout: a graph node, or a
// dummy point that carries an edge across a rank.
type layoutNode struct {
	node       *GraphNode // nil for a dummy
	rank       int
	order      float64
	x, y, w, h float64
}

// layout places g's nodes in ranks (longest path from the sources), inserts
// dummy points for edges that span ranks, orders each rank by the
// barycentre of its neighbours (a few sweeps down and up) and centres the
// ranks: the classic Sugiyama steps, simply.
type layout struct {
	nodes  []*layoutNode
	byID   map[string]*layoutNode
	routes [][]*layoutNode // per edge of g: source, dummies, target
	ranks  [][]*layoutNode
	// out and in are the x of each edge's ends; inRank its place among
	// the edges entering its target (labels are staggered by it).
	out, in []float64
	inRank  []int
	width   float64
	height  float64
}

func newLayout(g *Graph) *layout {
	l := &layout{byID: map[string]*layoutNode{}}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		ln := &layoutNode{node: n, w: max(90, charWidth*float64(len([]rune(nodeText(*n))))+28), h: nodeHeight}
		l.nodes = append(l.nodes, ln)
		l.byID[n.ID] = ln
	}
	l.rank(g)
	for _, e := range g.Edges {
		from, to := l.byID[e.From], l.byID[e.To]
		route := []*layoutNode{from}
		for r := from.rank + 1; r < to.rank; r++ {
			d := &layoutNode{rank: r, w: 12, h: nodeHeight}
			l.nodes = append(l.nodes, d)
			route = append(route, d)
		}
		l.routes = append(l.routes, append(route, to))
	}
	l.order()
	l.place()
	l.ports()
	return l
}

// ports spreads the ends of the edges along the bottom of their source and
// the top of their target, in the order of the other ends, so that edges
// between the same nodes do not draw over each other.
func (l *layout) ports() {
	l.out, l.in = make([]float64, len(l.routes)), make([]float64, len(l.routes))
	l.inRank = make([]int, len(l.routes))
	outs, ins := map[*layoutNode][]int{}, map[*layoutNode][]int{}
	for i, r := range l.routes {
		outs[r[0]] = append(outs[r[0]], i)
		ins[r[len(r)-1]] = append(ins[r[len(r)-1]], i)
	}
	spread := func(n *layoutNode, edges []int, other func(int) *layoutNode, set []float64, rank []int) {
		slices.SortStableFunc(edges, func(a, b int) int { return cmp.Compare(other(a).x, other(b).x) })
		for k, i := range edges {
			set[i] = n.x + n.w*float64(k+1)/float64(len(edges)+1)
			if rank != nil {
				rank[i] = k
			}
		}
	}
	for n, edges := range outs {
		spread(n, edges, func(i int) *layoutNode { return l.routes[i][1] }, l.out, nil)
	}
	for n, edges := range ins {
		spread(n, edges, func(i int) *layoutNode { r := l.routes[i]; return r[len(r)-2] }, l.in, l.inRank)
	}
}

// rank gives every node the length of the longest path reaching it. The
// stage graph has no cycles (the plan refuses them); edges always go from
// an earlier stage or an external node, so relaxing |nodes| times settles.
func (l *layout) rank(g *Graph) {
	for range g.Nodes {
		changed := false
		for _, e := range g.Edges {
			from, to := l.byID[e.From], l.byID[e.To]
			if to.rank < from.rank+1 {
				to.rank, changed = from.rank+1, true
			}
		}
		if !changed {
			break
		}
	}
	// Sources (images, contexts, first stages) sit just above their
	// first user rather than all at the top.
	incoming := map[string]bool{}
	for _, e := range g.Edges {
		incoming[e.To] = true
	}
	for id, n := range l.byID {
		if incoming[id] {
			continue
		}
		best := -1
		for _, e := range g.Edges {
			if e.From == id && (best < 0 || l.byID[e.To].rank-1 < best) {
				best = l.byID[e.To].rank - 1
			}
		}
		if best > n.rank {
			n.rank = best
		}
	}
}

func (l *layout) order() {
	maxRank := 0
	for _, n := range l.nodes {
		maxRank = max(maxRank, n.rank)
	}
	l.ranks = make([][]*layoutNode, maxRank+1)
	for _, n := range l.nodes {
		n.order = float64(len(l.ranks[n.rank]))
		l.ranks[n.rank] = append(l.ranks[n.rank], n)
	}
	up, down := map[*layoutNode][]*layoutNode{}, map[*layoutNode][]*layoutNode{}
	for _, r := range l.routes {
		for i := 1; i < len(r); i++ {
			up[r[i]] = append(up[r[i]], r[i-1])
			down[r[i-1]] = append(down[r[i-1]], r[i])
		}
	}
	for sweep := 0; sweep < 4; sweep++ {
		for ri := 1; ri < len(l.ranks); ri++ {
			reorder(l.ranks[ri], up)
		}
		for ri := len(l.ranks) - 2; ri >= 0; ri-- {
			reorder(l.ranks[ri], down)
		}
	}
}

// reorder sorts a rank by the mean order of each node's neighbours in the
// adjacent rank; nodes without neighbours keep their place.
func reorder(rank []*layoutNode, nbrs map[*layoutNode][]*layoutNode) {
	key := map[*layoutNode]float64{}
	for _, n := range rank {
		key[n] = n.order
		if ns := nbrs[n]; len(ns) > 0 {
			sum := 0.0
			for _, m := range ns {
				sum += m.order
			}
			key[n] = sum / float64(len(ns))
		}
	}
	slices.SortStableFunc(rank, func(a, b *layoutNode) int { return cmp.Compare(key[a], key[b]) })
	for i, n := range rank {
		n.order = float64(i)
	}
}

func (l *layout) place() {
	widths := make([]float64, len(l.ranks))
	for ri, rank := range l.ranks {
		for i, n := range rank {
			if i > 0 {
				widths[ri] += nodeGap
			}
			widths[ri] += n.w
		}
		l.width = max(l.width, widths[ri])
	}
	l.width = max(l.width, 340) // room for the legend
	for ri, rank := range l.ranks {
		x := margin + (l.width-widths[ri])/2
		for _, n := range rank {
			n.x, n.y = x, margin+float64(ri)*(nodeHeight+rankGap)
			x += n.w + nodeGap
		}
	}
	l.width += 2 * margin
	l.height = 2*margin + float64(len(l.ranks))*nodeHeight + float64(max(0, len(l.ranks)-1))*rankGap + 30 // legend
}

// SVG renders g as a standalone SVG document laid out by strata (no
// Graphviz): stages as rounded boxes (the target with a thick blue border,
// skipped stages dashed and grey), images and contexts as grey boxes,
// FROM edges grey, COPY --from blue, RUN --mount=from orange and dashed,
// each labelled with its paths.
func SVG(g *Graph) string {
	l := newLayout(g)
	for i, e := range g.Edges { // room for labels right of the nodes
		r := l.routes[i]
		a, z := r[len(r)-2], r[len(r)-1]
		x, _ := l.labelAt(i, [4][2]float64{{l.out[i], a.y + a.h}, {l.out[i], a.y + a.h}, {l.in[i], z.y}, {l.in[i], z.y}})
		l.width = max(l.width, x+5+6.4*float64(len([]rune(e.Label())))+margin)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="stage-graph" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="13">`+"\n",
		l.width, l.height, l.width, l.height)
	b.WriteString(`<defs>`)
	for _, m := range [][2]string{{"base", "#8a8a8a"}, {"copy", "#1f6feb"}, {"mount", "#d4760a"}} {
		fmt.Fprintf(&b, `<marker id="arrow-%s" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="%s"/></marker>`, m[0], m[1])
	}
	b.WriteString("</defs>\n")
	for i, e := range g.Edges {
		writeSVGEdge(&b, e, l, i)
	}
	for _, n := range l.nodes {
		if n.node != nil {
			writeSVGNode(&b, n)
		}
	}
	writeSVGLegend(&b, l.height-22)
	b.WriteString("</svg>\n")
	return b.String()
}

func writeSVGEdge(b *strings.Builder, e GraphEdge, l *layout, i int) {
	color, dash := map[plan.EdgeKind]string{plan.BaseEdge: "#8a8a8a", plan.CopyEdge: "#1f6feb", plan.MountEdge: "#d4760a"}[e.Kind], ""
	if e.Kind == plan.MountEdge {
		dash = ` stroke-dasharray="6 4"`
	}
	route := l.routes[i]
	var d strings.Builder
	var last [4][2]float64 // the last segment's bezier points
	for k := 0; k+1 < len(route); k++ {
		a, z := route[k], route[k+1]
		x1, y1 := a.x+a.w/2, a.y+a.h/2
		if k == 0 {
			x1, y1 = l.out[i], a.y+a.h
			fmt.Fprintf(&d, "M%.1f,%.1f ", x1, y1)
		}
		x2, y2 := z.x+z.w/2, z.y+z.h/2
		if k+2 == len(route) {
			x2, y2 = l.in[i], z.y
		}
		my := (y1 + y2) / 2
		fmt.Fprintf(&d, "C%.1f,%.1f %.1f,%.1f %.1f,%.1f ", x1, my, x2, my, x2, y2)
		last = [4][2]float64{{x1, y1}, {x1, my}, {x2, my}, {x2, y2}}
	}
	fmt.Fprintf(b, `<path class="edge edge-%s" d="%s" fill="none" stroke="%s" stroke-width="1.6"%s marker-end="url(#arrow-%s)"/>`+"\n",
		e.Type, strings.TrimSpace(d.String()), color, dash, e.Type)
	// Labels of the edges entering one node sit at staggered heights of
	// their last segment, beside the line.
	x, y := l.labelAt(i, last)
	fmt.Fprintf(b, `<text class="edge-label" x="%.1f" y="%.1f" font-size="11" fill="%s">%s</text>`+"\n", x+5, y+4, color, html.EscapeString(e.Label()))
}

// labelAt is where edge i's label goes on its last segment.
func (l *layout) labelAt(i int, last [4][2]float64) (float64, float64) {
	route := l.routes[i]
	t := 0.3 + 0.45*float64(l.inRank[i])/float64(max(1, l.inCount(route[len(route)-1])-1))
	return bezier(last, t)
}

// inCount is how many edges enter n.
func (l *layout) inCount(n *layoutNode) int {
	c := 0
	for _, r := range l.routes {
		if r[len(r)-1] == n {
			c++
		}
	}
	return c
}

// bezier is the point at t of a cubic Bézier curve.
func bezier(p [4][2]float64, t float64) (float64, float64) {
	u := 1 - t
	a, b, c, d := u*u*u, 3*u*u*t, 3*u*t*t, t*t*t
	return a*p[0][0] + b*p[1][0] + c*p[2][0] + d*p[3][0], a*p[0][1] + b*p[1][1] + c*p[2][1] + d*p[3][1]
}

func writeSVGNode(b *strings.Builder, n *layoutNode) {
	gn := n.node
	fill, stroke, width, dash, text := "#eef3fb", "#5b7db1", 1.2, "", "#1b1f24"
	switch {
	case gn.Kind != StageNode:
		fill, stroke, dash = "#f4f4f4", "#9a9a9a", ` stroke-dasharray="4 3"`
	case gn.Target:
		stroke, width = "#1f6feb", 3
	case gn.Skipped:
		fill, stroke, dash, text = "#fafafa", "#a0a0a0", ` stroke-dasharray="6 4"`, "#888888"
	}
	rx := 10
	if gn.Kind != StageNode {
		rx = 2
	}
	fmt.Fprintf(b, `<g class="node node-%s" data-id="%s">`, gn.Kind, html.EscapeString(gn.ID))
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="%d" fill="%s" stroke="%s" stroke-width="%.1f"%s/>`,
		n.x, n.y, n.w, n.h, rx, fill, stroke, width, dash)
	sub := ""
	switch gn.Kind {
	case StageNode:
		sub = fmt.Sprintf("stage %d", gn.Stage)
		if gn.Base == "scratch" {
			sub += " · FROM scratch"
		}
	case ImageNode:
		sub = "image"
	case ContextNode:
		sub = "build context"
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-weight="600" fill="%s">%s</text>`,
		n.x+n.w/2, n.y+20, text, html.EscapeString(nodeText(*gn)))
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10" fill="#6a737d">%s</text></g>`+"\n",
		n.x+n.w/2, n.y+36, html.EscapeString(sub))
}

func writeSVGLegend(b *strings.Builder, y float64) {
	x := margin
	for _, it := range [][3]string{{"base", "#8a8a8a", "FROM"}, {"copy", "#1f6feb", "COPY --from"}, {"mount", "#d4760a", "RUN --mount=from"}} {
		dash := ""
		if it[0] == "mount" {
			dash = ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="%s" stroke-width="1.6"%s/><text x="%.0f" y="%.0f" font-size="11" fill="#444">%s</text>`+"\n",
			x, y, x+24, y, it[1], dash, x+30, y+4, it[2])
		x += 40 + charWidth*float64(len(it[2]))
	}
}
