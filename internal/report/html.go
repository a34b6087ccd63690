package report

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"strings"
)

// HTMLInput is what the HTML report shows; everything but Images is
// optional.
type HTMLInput struct {
	Title string
	// Images are one or two size reports; with two, Comparison compares
	// them (the first is A).
	Images     []*Image
	Comparison *Comparison
	// Graph is the stage graph of the Dockerfile, drawn as inline SVG.
	Graph *Graph
	// Build is an end-of-build summary: its stages get a bar chart.
	Build *Build
}

// BuildHTML is the HTML report of a build of img (its summary b): titled
// ("app:1.2 · strata build report", the name first for browser tabs) by
// the image's first tag (the build's first -t), which also heads the
// image's section, or by its digest when the build has no tag; the body
// shows the digest either way. A platform (img.Platform, set for a
// multi-platform build) follows the name.
func BuildHTML(img *Image, b *Build, tags []string) HTMLInput {
	named := *img
	named.Name = img.Digest
	if len(tags) > 0 {
		named.Name = tags[0]
	}
	if img.Platform != "" {
		named.Name += " (" + img.Platform + ")"
	}
	return HTMLInput{Title: named.Name + " · strata build report", Images: []*Image{&named}, Build: b}
}

// WriteHTML writes one self-contained HTML page: inline CSS and SVG, no
// script and nothing fetched from the network.
func WriteHTML(w io.Writer, in HTMLInput) error {
	t, err := template.New("report").Funcs(template.FuncMap{
		"size":    HumanSize,
		"count":   Count,
		"percent": func(f float64) string { return fmt.Sprintf("%.1f %%", f) },
		"score":   func(f float64) string { return fmt.Sprintf("%.1f %%", 100*f) },
		"layers":  layerChart,
		"stages":  stageChart,
		"pair":    comparisonChart,
		"graph":   func(g *Graph) template.HTML { return template.HTML(SVG(g)) },
		"join":    strings.Join,
	}).Parse(htmlTemplate)
	if err != nil {
		return fmt.Errorf("parsing report template: %w", err)
	}
	if in.Title == "" {
		in.Title = "strata report"
	}
	return t.Execute(w, in)
}

// bar is one bar of a horizontal bar chart.
type bar struct {
	label, note string
	value       int64
	color       string
}

// barChart renders bars as an SVG, longest bar the full width.
func barChart(bars []bar) template.HTML {
	const labelW, barW, rowH, noteW = 300.0, 380.0, 24.0, 220.0
	var peak int64 = 1
	for _, b := range bars {
		peak = max(peak, b.value)
	}
	h := rowH*float64(len(bars)) + 8
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" class="bars" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`,
		labelW+barW+noteW, h, labelW+barW+noteW, h)
	for i, b := range bars {
		y := 4 + rowH*float64(i)
		w := max(1, barW*float64(b.value)/float64(peak))
		fmt.Fprintf(&s, `<text x="%.0f" y="%.1f" text-anchor="end" fill="#24292f">%s</text>`, labelW-8, y+15, html.EscapeString(truncate(b.label, 44)))
		fmt.Fprintf(&s, `<rect x="%.0f" y="%.1f" width="%.1f" height="%.0f" rx="3" fill="%s"><title>%s</title></rect>`,
			labelW, y+3, w, rowH-8, b.color, html.EscapeString(b.label+": "+HumanSize(b.value)))
		fmt.Fprintf(&s, `<text x="%.1f" y="%.1f" fill="#57606a">%s</text>`, labelW+w+6, y+15, html.EscapeString(HumanSize(b.value)+b.note))
	}
	s.WriteString("</svg>")
	return template.HTML(s.String())
}

// layerChart has one bar per layer: its uncompressed size.
func layerChart(im *Image) template.HTML {
	var bars []bar
	for _, l := range im.Layers {
		label := l.Instruction
		if label == "" {
			label = fmt.Sprintf("layer %d", l.Index)
		}
		bars = append(bars, bar{label: fmt.Sprintf("%d  %s", l.Index, label), value: l.Uncompressed, color: "#4c8bf5"})
	}
	return barChart(bars)
}

// stageChart has one bar per stage: its compressed size, the exported
// stage in green.
func stageChart(b *Build) template.HTML {
	var bars []bar
	for _, s := range b.Stages {
		c, note := "#9aa4b1", " left behind"
		if s.Exported {
			c, note = "#2da44e", " exported"
		}
		bars = append(bars, bar{label: s.Name, value: s.Compressed, color: c, note: note})
	}
	return barChart(bars)
}

// comparisonChart has the two images' uncompressed and compressed sizes.
func comparisonChart(c *Comparison) template.HTML {
	return barChart([]bar{
		{label: c.A.Name + " (uncompressed)", value: c.A.Uncompressed, color: "#cf6f2e"},
		{label: c.B.Name + " (uncompressed)", value: c.B.Uncompressed, color: "#2da44e"},
		{label: c.A.Name + " (compressed)", value: c.A.Compressed, color: "#e3a47a"},
		{label: c.B.Name + " (compressed)", value: c.B.Compressed, color: "#86d29b"},
	})
}

const htmlTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; background: #f6f8fa; color: #24292f; }
header { background: #24292f; color: #fff; padding: 16px 32px; }
header h1 { margin: 0; font-size: 20px; }
main { padding: 16px 32px; max-width: 1200px; }
section { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 16px 20px; margin: 16px 0; overflow-x: auto; }
h2 { font-size: 17px; margin: 0 0 12px; }
h3 { font-size: 14px; margin: 16px 0 8px; color: #57606a; }
table { border-collapse: collapse; font-size: 13px; }
th, td { text-align: left; padding: 4px 12px 4px 0; border-bottom: 1px solid #eaeef2; vertical-align: top; }
td.num, th.num { text-align: right; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; }
.card { border: 1px solid #d0d7de; border-radius: 6px; padding: 8px 14px; min-width: 120px; }
.card b { display: block; font-size: 18px; }
.card span { font-size: 12px; color: #57606a; }
code { font-size: 12px; }
</style>
</head>
<body>
<header><h1>{{.Title}}</h1></header>
<main>
{{with .Comparison}}
<section id="comparison">
<h2>Comparison</h2>
<table>
<tr><th></th><th>Image</th><th class="num">Size</th><th class="num">Compressed</th><th class="num">Layers</th><th class="num">Files</th><th class="num">Bloat</th></tr>
<tr><td>A</td><td><code>{{.A.Name}}</code></td><td class="num">{{size .A.Uncompressed}}</td><td class="num">{{size .A.Compressed}}</td><td class="num">{{.A.Layers}}</td><td class="num">{{.A.Files}}</td><td class="num">{{size .A.Bloat}}</td></tr>
<tr><td>B</td><td><code>{{.B.Name}}</code></td><td class="num">{{size .B.Uncompressed}}</td><td class="num">{{size .B.Compressed}}</td><td class="num">{{.B.Layers}}</td><td class="num">{{.B.Files}}</td><td class="num">{{size .B.Bloat}}</td></tr>
</table>
<p>B is <b>{{percent .Reduction}}</b> smaller than A ({{percent .CompressedReduction}} compressed).{{if .Dropped}} B dropped: {{join .Dropped ", "}}.{{end}}</p>
{{pair .}}
{{if .Bloat}}<h3>Bloat by category</h3>
<table><tr><th>Category</th><th class="num">A</th><th class="num">B</th></tr>
{{range .Bloat}}<tr><td>{{.Title}}</td><td class="num">{{size .ABytes}}</td><td class="num">{{size .BBytes}}</td></tr>
{{end}}</table>{{end}}
</section>
{{end}}
{{with .Graph}}
<section id="graph">
<h2>Stage graph</h2>
{{graph .}}
</section>
{{end}}
{{with .Build}}
<section id="stages">
<h2>Stages</h2>
<p>Final image {{size .Image.Compressed}} compressed in {{count .Image.Layers "layer"}}; the multi-stage split kept <b>{{size .KeptOut}}</b> ({{count .KeptOutLayers "layer"}}) out of it.</p>
{{stages .}}
</section>
{{end}}
{{range .Images}}
<section class="image">
<h2>{{if .Name}}{{.Name}}{{else}}{{.Digest}}{{end}}</h2>
<div class="cards">
<div class="card"><b>{{size .Uncompressed}}</b><span>uncompressed</span></div>
<div class="card"><b>{{size .Compressed}}</b><span>compressed</span></div>
<div class="card"><b>{{len .Layers}}</b><span>layers</span></div>
<div class="card"><b>{{.Files}}</b><span>files</span></div>
<div class="card"><b>{{score .Efficiency.Score}}</b><span>efficiency</span></div>
<div class="card"><b>{{size .Efficiency.WastedBytes}}</b><span>wasted</span></div>
</div>
<p><code>{{.Digest}}</code></p>
<h3>Layers (uncompressed)</h3>
{{layers .}}
<h3>Bloat finder</h3>
<table><tr><th>Category</th><th>Found</th><th class="num">Size</th><th class="num">Files</th><th>Where</th></tr>
{{range .Bloat}}{{$c := .}}{{range .Items}}<tr><td>{{$c.Title}}</td><td>{{.Name}}</td><td class="num">{{size .Bytes}}</td><td class="num">{{.Files}}</td><td><code>{{join .Where " "}}</code></td></tr>
{{else}}<tr><td>{{.Title}}</td><td>none</td><td class="num">0B</td><td class="num">0</td><td></td></tr>
{{end}}{{end}}</table>
<h3>Largest files</h3>
<table>{{range .LargestFiles}}<tr><td class="num">{{size .Size}}</td><td><code>{{.Path}}</code></td></tr>
{{end}}</table>
<h3>Largest directories</h3>
<table>{{range .LargestDirs}}<tr><td class="num">{{size .Size}}</td><td class="num">{{.Files}} files</td><td><code>{{.Path}}</code></td></tr>
{{end}}</table>
{{if .Efficiency.Wasted}}<h3>Wasted space (paths in several layers)</h3>
<table>{{range .Efficiency.Wasted}}<tr><td class="num">{{size .Bytes}}</td><td class="num">{{.Layers}} layers</td><td><code>{{.Path}}</code></td></tr>
{{end}}</table>{{end}}
</section>
{{end}}
</main>
</body>
</html>
`
