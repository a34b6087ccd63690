package report

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// testHTML is the report of the bloated and the wasteful test images, with
// the stage graph and a build summary.
func testHTML(t *testing.T) []byte {
	t.Helper()
	ctx := context.Background()
	a, err := Analyze(ctx, testImage(t, bloatedLayers()), Options{Top: 5})
	if err != nil {
		t.Fatal(err)
	}
	a.Name = "app:single-stage"
	b, err := Analyze(ctx, testImage(t, bloatedLayers()[:1]), Options{Top: 5})
	if err != nil {
		t.Fatal(err)
	}
	b.Name = "app:multi-stage"
	c := Compare(a, b)
	build := &Build{
		Image: BuildImage{Digest: b.Digest, Compressed: b.Compressed, Layers: len(b.Layers)},
		Stages: []BuildStage{
			{Index: 0, Name: "builder", Compressed: a.Compressed, Layers: 4, NotInImage: a.Compressed - b.Compressed},
			{Index: 1, Name: "final", Compressed: b.Compressed, Layers: 1, Exported: true},
		},
		KeptOut: a.Compressed - b.Compressed, KeptOutLayers: 3,
	}
	var buf bytes.Buffer
	in := HTMLInput{Title: "strata report: app", Images: []*Image{a, b}, Comparison: &c, Graph: testGraph(t, "testdata/graph/mounts"), Build: build}
	if err := WriteHTML(&buf, in); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGoldenHTML(t *testing.T) {
	got := testHTML(t)
	if bytes.Contains(got, []byte("http://")) && !bytes.Contains(got, []byte(`xmlns="http://www.w3.org/2000/svg"`)) {
		t.Errorf("WriteHTML() refers to the network")
	}
	for _, bad := range []string{"<script", "<link", "src=", "url(http"} {
		if bytes.Contains(got, []byte(bad)) {
			t.Errorf("WriteHTML() contains %q; the report must be self-contained", bad)
		}
	}
	golden(t, "report.html", got)
}

// TestHTMLInChromium loads the report in headless Chromium (Debian's
// chromium package): the page renders, the stage graph is a non-empty SVG
// and the console has no errors. STRATA_REPORT_SCREENSHOT=FILE.png keeps
// the screenshot.
func TestHTMLInChromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skipf("chromium not installed (apt-get install chromium): %v", err)
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, testHTML(t), 0o644); err != nil {
		t.Fatal(err)
	}
	shot := os.Getenv("STRATA_REPORT_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(dir, "report.png")
	}
	common := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--no-first-run", "--enable-logging=stderr", "--v=0"}
	run := func(args ...string) (string, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append(append(common, "--user-data-dir="+t.TempDir()), args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium %v: %v\n%s", args, err, errb.String())
		}
		return out.String(), errb.String()
	}
	dom, logs := run("--dump-dom", "file://"+page)
	if m := regexp.MustCompile(`(?m)^.*(CONSOLE|Uncaught|console\.error).*$`).FindAllString(logs, -1); len(m) > 0 {
		t.Errorf("chromium console reported:\n%s", strings.Join(m, "\n"))
	}
	graph := regexp.MustCompile(`(?s)<svg[^>]*class="stage-graph".*?</svg>`).FindString(dom)
	if !strings.Contains(graph, "<rect") || !strings.Contains(graph, "<path") {
		t.Errorf("rendered DOM has no stage graph with boxes and edges; graph = %.300q", graph)
	}
	if n := strings.Count(dom, `class="bars"`); n != 4 {
		t.Errorf("rendered DOM has %d bar charts, want 4 (comparison, stages, two images' layers)", n)
	}
	run("--window-size=1280,2400", "--screenshot="+shot, "file://"+page)
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 10_000 {
		t.Errorf("screenshot %s: %v (%v bytes), want a rendered page", shot, err, fi)
	}
}

// TestBuildHTMLTitle: a build's report is titled by its first tag, with
// the digest in the body; without tags by the digest.
func TestBuildHTMLTitle(t *testing.T) {
	im, err := Analyze(context.Background(), testImage(t, bloatedLayers()[:1]), Options{Top: 5})
	if err != nil {
		t.Fatal(err)
	}
	build := &Build{Image: BuildImage{Digest: im.Digest, Compressed: im.Compressed, Layers: len(im.Layers)}}
	multi := *im
	multi.Platform = "linux/arm64"
	for _, c := range []struct {
		img              *Image
		tags             []string
		title, imageHead string
	}{
		{im, []string{"registry.example/app:1.2", "app:latest"}, "registry.example/app:1.2 · strata build report", "registry.example/app:1.2"},
		{im, nil, im.Digest + " · strata build report", im.Digest},
		{&multi, []string{"app:1.2"}, "app:1.2 (linux/arm64) · strata build report", "app:1.2 (linux/arm64)"},
	} {
		var buf bytes.Buffer
		if err := WriteHTML(&buf, BuildHTML(c.img, build, c.tags)); err != nil {
			t.Fatal(err)
		}
		page := buf.String()
		title := regexp.MustCompile(`<title>(.*)</title>`).FindStringSubmatch(page)
		h1 := regexp.MustCompile(`<h1>(.*)</h1>`).FindStringSubmatch(page)
		h2 := regexp.MustCompile(`<section class="image">\s*<h2>(.*)</h2>`).FindStringSubmatch(page)
		if title == nil || h1 == nil || h2 == nil || title[1] != c.title || h1[1] != c.title || h2[1] != c.imageHead {
			t.Errorf("BuildHTML(%v): title %q, h1 %q, image heading %q; want %q, %q, %q", c.tags, title, h1, h2, c.title, c.title, c.imageHead)
		}
		if !strings.Contains(page, "<code>"+im.Digest+"</code>") {
			t.Errorf("BuildHTML(%v): the body does not show the digest %s", c.tags, im.Digest)
		}
		if c.img.Name != im.Name {
			t.Errorf("BuildHTML changed its argument's Name to %q", c.img.Name)
		}
	}
}
