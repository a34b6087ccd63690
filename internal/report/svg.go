package report

import (
	"cmp"
	"fmt"
	"html"
	"math"
	"slices"
	"strings"

	"github.com/strata-build/strata/internal/plan"
)

// Layout sizes, in SVG user units.
const (
	nodeHeight  = 46.0
	labelHeight = 18.0 // a rank of edge labels: one line of labelFont text
	rankGap     = 36.0 // vertical space between a rank of nodes and a rank of labels
	nodeGap     = 40.0 // horizontal space between nodes of a rank
	edgeGap     = 14.0 // horizontal space beside an edge's point or label
	nodeFont    = 13.0 // semi-bold
	labelFont   = 11.0
	lineInset   = 6.0 // an edge crosses its dummy this far from the dummy's left side
	labelPad    = 5.0 // between an edge and its label
	margin      = 20.0
)

// textWidth is the width of s in a sans-serif font of size px, measured
// generously: advances rounded up from DejaVu Sans, the widest of the
// usual default sans-serif fonts (Helvetica, Arial and Liberation Sans
// draw narrower).
func textWidth(s string, size float64) float64 {
	em := 0.0
	for _, r := range s {
		switch {
		case strings.ContainsRune("iljfrt.,:;|!'` /()[]I", r):
			em += 0.42
		case strings.ContainsRune("mwMW@%…→", r) || r > 0x7f:
			em += 1.0
		case r >= 'A' && r <= 'Z':
			em += 0.8
		default:
			em += 0.65
		}
	}
	return em * size
}

// layoutNode is a node placed by the layered layout: a graph node, or a
// dummy that carries an edge across a rank, and on one rank its label.
type layoutNode struct {
	node       *GraphNode // nil for a dummy
	label      string     // the label of the edge, on its label dummy
	rank       int
	order      float64
	x, y, w, h float64
}

// anchor is the x where edges attach: a node's centre, the line of a dummy.
func (n *layoutNode) anchor() float64 {
	if n.node == nil {
		return n.x + lineInset
	}
	return n.x + n.w/2
}

// layout places g's nodes in ranks (longest path from the sources), with a
// rank between each two for the edges' labels, as Graphviz does: every
// edge gets a dummy on each rank it crosses, and on the label rank in its
// middle the dummy is as wide as the label, which is drawn inside it, right
// of the edge. Ranks are ordered by the barycentre of the neighbours (a few
// sweeps down and up) and nodes pulled towards their neighbours without
// closing the gaps of their rank. Boxes of one rank are disjoint, ranks lie
// in disjoint bands, and an edge crosses a rank as a vertical line through
// its own dummy: no label overlaps a node, another label or an edge.
type layout struct {
	nodes  []*layoutNode
	byID   map[string]*layoutNode
	routes [][]*layoutNode // per edge of g: source, dummies, target
	ranks  [][]*layoutNode
	up     map[*layoutNode][]*layoutNode // neighbours in the rank above
	down   map[*layoutNode][]*layoutNode // and below
	// out and in are the x of each edge's ends.
	out, in []float64
	width   float64
	height  float64
}

func newLayout(g *Graph) *layout {
	l := &layout{byID: map[string]*layoutNode{}}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		ln := &layoutNode{node: n, w: max(90, 1.1*textWidth(nodeText(*n), nodeFont)+28), h: nodeHeight}
		l.nodes = append(l.nodes, ln)
		l.byID[n.ID] = ln
	}
	l.rank(g)
	for _, n := range l.nodes {
		n.rank *= 2
	}
	labelRanks := l.labelRanks(g)
	for i, e := range g.Edges {
		from, to := l.byID[e.From], l.byID[e.To]
		route := []*layoutNode{from}
		for r := from.rank + 1; r < to.rank; r++ {
			d := &layoutNode{rank: r, w: 2 * lineInset, h: nodeHeight}
			if r%2 == 1 {
				d.h = labelHeight
			}
			if r == labelRanks[i] {
				d.label = e.Label()
				d.w = lineInset + labelPad + textWidth(d.label, labelFont) + lineInset
			}
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

// labelRanks picks the label rank (odd) of each edge: the one between its
// ends for an edge to the next rank; for a longer edge the least crowded of
// those it crosses (the least label width so far, then the nearest its
// middle), so that labels spread over the ranks and the graph stays narrow.
func (l *layout) labelRanks(g *Graph) []int {
	out := make([]int, len(g.Edges))
	load := map[int]float64{}
	idx := make([]int, len(g.Edges))
	for i := range idx {
		idx[i] = i
	}
	span := func(i int) int { return l.byID[g.Edges[i].To].rank - l.byID[g.Edges[i].From].rank }
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(span(a), span(b)) })
	for _, i := range idx {
		a, b := l.byID[g.Edges[i].From].rank, l.byID[g.Edges[i].To].rank
		mid := float64(a+b) / 2
		best := a + 1
		for r := a + 1; r < b; r += 2 {
			if load[r] < load[best] || (load[r] == load[best] && math.Abs(float64(r)-mid) < math.Abs(float64(best)-mid)) {
				best = r
			}
		}
		out[i] = best
		load[best] += textWidth(g.Edges[i].Label(), labelFont) + edgeGap + 2*lineInset + labelPad
	}
	return out
}

// ports spreads the ends of the edges along the bottom of their source and
// the top of their target, in the order of the other ends, so that edges
// between the same nodes do not draw over each other.
func (l *layout) ports() {
	l.out, l.in = make([]float64, len(l.routes)), make([]float64, len(l.routes))
	outs, ins := map[*layoutNode][]int{}, map[*layoutNode][]int{}
	for i, r := range l.routes {
		outs[r[0]] = append(outs[r[0]], i)
		ins[r[len(r)-1]] = append(ins[r[len(r)-1]], i)
	}
	spread := func(n *layoutNode, edges []int, other func(int) *layoutNode, set []float64) {
		slices.SortStableFunc(edges, func(a, b int) int { return cmp.Compare(other(a).anchor(), other(b).anchor()) })
		for k, i := range edges {
			set[i] = n.x + n.w*float64(k+1)/float64(len(edges)+1)
		}
	}
	for n, edges := range outs {
		spread(n, edges, func(i int) *layoutNode { return l.routes[i][1] }, l.out)
	}
	for n, edges := range ins {
		spread(n, edges, func(i int) *layoutNode { r := l.routes[i]; return r[len(r)-2] }, l.in)
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
	l.up, l.down = map[*layoutNode][]*layoutNode{}, map[*layoutNode][]*layoutNode{}
	for _, r := range l.routes {
		for i := 1; i < len(r); i++ {
			l.up[r[i]] = append(l.up[r[i]], r[i-1])
			l.down[r[i-1]] = append(l.down[r[i-1]], r[i])
		}
	}
	for sweep := 0; sweep < 4; sweep++ {
		for ri := 1; ri < len(l.ranks); ri++ {
			reorder(l.ranks[ri], l.up)
		}
		for ri := len(l.ranks) - 2; ri >= 0; ri-- {
			reorder(l.ranks[ri], l.down)
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

// gap is the least horizontal space between neighbours a and z of a rank.
func gap(a, z *layoutNode) float64 {
	if a.node != nil && z.node != nil {
		return nodeGap
	}
	return edgeGap
}

// place gives the nodes their coordinates: ranks top to bottom, each first
// packed and centred, then a few sweeps pulling every node towards the
// mean anchor of its neighbours above (going down) or below (going up).
func (l *layout) place() {
	y := margin
	for ri, rank := range l.ranks {
		h := nodeHeight
		if ri%2 == 1 {
			h = labelHeight
		}
		x := 0.0
		for i, n := range rank {
			if i > 0 {
				x += gap(rank[i-1], n)
			}
			n.x, n.y = x, y
			x += n.w
		}
		for _, n := range rank {
			n.x -= x / 2
		}
		y += h + rankGap
	}
	for sweep := 0; sweep < 8; sweep++ {
		for ri := 1; ri < len(l.ranks); ri++ {
			pull(l.ranks[ri], l.up)
		}
		for ri := len(l.ranks) - 2; ri >= 0; ri-- {
			pull(l.ranks[ri], l.down)
		}
	}
	left, right := 0.0, 0.0
	for i, n := range l.nodes {
		if i == 0 || n.x < left {
			left = n.x
		}
		right = max(right, n.x+n.w)
	}
	for _, n := range l.nodes {
		n.x += margin - left
	}
	l.width = max(right-left, 340) + 2*margin // room for the legend
	l.height = y - rankGap + margin + 30      // and its line
}

// pull moves the nodes of a rank towards the mean anchor of their
// neighbours, keeping their order and gaps: the mean of the rank packed
// from the left and packed from the right, each as close to the wanted
// places as the gaps allow, keeps the gaps too.
func pull(rank []*layoutNode, nbrs map[*layoutNode][]*layoutNode) {
	if len(rank) == 0 {
		return
	}
	want := make([]float64, len(rank))
	for i, n := range rank {
		want[i] = n.x
		if ns := nbrs[n]; len(ns) > 0 {
			sum := 0.0
			for _, m := range ns {
				sum += m.anchor()
			}
			want[i] = sum/float64(len(ns)) - (n.anchor() - n.x)
		}
	}
	lo, hi := make([]float64, len(rank)), make([]float64, len(rank))
	for i := range rank {
		lo[i] = want[i]
		if i > 0 {
			lo[i] = max(want[i], lo[i-1]+rank[i-1].w+gap(rank[i-1], rank[i]))
		}
	}
	for i := len(rank) - 1; i >= 0; i-- {
		hi[i] = want[i]
		if i+1 < len(rank) {
			hi[i] = min(want[i], hi[i+1]-rank[i].w-gap(rank[i], rank[i+1]))
		}
	}
	for i, n := range rank {
		n.x = (lo[i] + hi[i]) / 2
	}
}

// SVG renders g as a standalone SVG document laid out by strata (no
// Graphviz): stages as rounded boxes (the target with a thick blue border,
// skipped stages dashed and grey), images and contexts as grey boxes,
// FROM edges grey, COPY --from blue, RUN --mount=from orange and dashed,
// each labelled with its paths.
func SVG(g *Graph) string {
	l := newLayout(g)
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

// writeSVGEdge draws edge i: curves between ranks, a vertical line across
// each rank it passes, and its label beside that line on its label rank.
func writeSVGEdge(b *strings.Builder, e GraphEdge, l *layout, i int) {
	color, dash := map[plan.EdgeKind]string{plan.BaseEdge: "#8a8a8a", plan.CopyEdge: "#1f6feb", plan.MountEdge: "#d4760a"}[e.Kind], ""
	if e.Kind == plan.MountEdge {
		dash = ` stroke-dasharray="6 4"`
	}
	route := l.routes[i]
	var d strings.Builder
	x, y := l.out[i], route[0].y+route[0].h
	fmt.Fprintf(&d, "M%.1f,%.1f", x, y)
	curve := func(x2, y2 float64) {
		my := (y + y2) / 2
		fmt.Fprintf(&d, " C%.1f,%.1f %.1f,%.1f %.1f,%.1f", x, my, x2, my, x2, y2)
		x, y = x2, y2
	}
	var label *layoutNode
	for _, n := range route[1 : len(route)-1] {
		curve(n.anchor(), n.y)
		y = n.y + n.h
		fmt.Fprintf(&d, " L%.1f,%.1f", x, y)
		if n.label != "" {
			label = n
		}
	}
	z := route[len(route)-1]
	curve(l.in[i], z.y)
	fmt.Fprintf(b, `<path class="edge edge-%s" d="%s" fill="none" stroke="%s" stroke-width="1.6"%s marker-end="url(#arrow-%s)"/>`+"\n",
		e.Type, d.String(), color, dash, e.Type)
	if label != nil {
		fmt.Fprintf(b, `<text class="edge-label" x="%.1f" y="%.1f" font-size="%.0f" fill="%s">%s</text>`+"\n",
			label.x+lineInset+labelPad, label.y+13, labelFont, color, html.EscapeString(label.label))
	}
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
		x += 40 + textWidth(it[2], labelFont)
	}
}
