package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/strata-build/strata/internal/build"
	"github.com/strata-build/strata/internal/dockerfile"
	"github.com/strata-build/strata/internal/export"
	"github.com/strata-build/strata/internal/plan"
	"github.com/strata-build/strata/internal/report"
	"github.com/strata-build/strata/internal/sandbox"
	"github.com/strata-build/strata/internal/store"
)

// Two builds of one program: everything in one stage (with an apt-like
// cache, a fake toolchain and the sources), and the multi-stage version
// that ships the artifact alone.
const (
	singleStage = `FROM busybox:latest
COPY src/ /app/
RUN mkdir -p /usr/local/go/bin /var/lib/apt/lists \
 && dd if=/dev/urandom of=/usr/local/go/bin/go bs=1k count=256 2>/dev/null \
 && dd if=/dev/urandom of=/var/lib/apt/lists/main bs=1k count=64 2>/dev/null \
 && cp /bin/busybox /app/server
`
	multiStage = `FROM busybox:latest AS builder
COPY src/ /app/
RUN mkdir -p /usr/local/go/bin /var/lib/apt/lists /out \
 && dd if=/dev/urandom of=/usr/local/go/bin/go bs=1k count=256 2>/dev/null \
 && dd if=/dev/urandom of=/var/lib/apt/lists/main bs=1k count=64 2>/dev/null \
 && cp /bin/busybox /out/server

FROM scratch AS final
COPY --from=builder /out/server /app/server
`
)

// buildDockerfile builds src in a temp context holding src/main.go, with
// the builtin sandbox, and tags the result.
func buildDockerfile(t *testing.T, root, src, tag string) *build.Result {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "src", "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	df, err := dockerfile.Parse("Dockerfile", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	b := build.New(st, nil, sandbox.NewBuiltin(sandbox.Options{TempDir: t.TempDir()}), nil)
	res, err := b.Build(ctx, build.Options{File: df, ContextDir: dir, Timestamp: time.Unix(0, 0).UTC()})
	if err != nil {
		t.Fatalf("Build() = %v", err)
	}
	if err := st.Tag(ctx, tag, res.Digest); err != nil {
		t.Fatal(err)
	}
	return res
}

func TestBuildReport(t *testing.T) {
	root := buildRoot(t)
	res := buildDockerfile(t, root, multiStage, "app:multi")
	var out bytes.Buffer
	if err := printBuildReport(context.Background(), &out, res); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"image size:", "stage builder", "left behind", "stage final", "exported", "multi-stage split kept"} {
		if !strings.Contains(text, want) {
			t.Errorf("printBuildReport() =\n%s\nwant it to contain %q", text, want)
		}
	}
	file := filepath.Join(t.TempDir(), "report.json")
	if err := writeBuildReport(file, res); err != nil {
		t.Fatal(err)
	}
	var b report.Build
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatalf("writeBuildReport() wrote invalid JSON: %v", err)
	}
	// The builder's layers (busybox, the sources, the toolchain) are all
	// kept out: the final image shares none of them.
	var builder report.BuildStage
	for _, s := range b.Stages {
		if s.Name == "builder" {
			builder = s
		}
	}
	if len(b.Stages) != 2 || builder.Exported || b.KeptOut != builder.Compressed || b.KeptOut == 0 || b.Image.Layers != 1 {
		t.Errorf("writeBuildReport() = %+v, want 2 stages, builder left behind and all %d bytes of it kept out", b, builder.Compressed)
	}
	html := filepath.Join(t.TempDir(), "build.html")
	df, _ := dockerfile.Parse("Dockerfile", []byte(multiStage))
	if err := writeBuildReportHTML(context.Background(), html, res, df, plan.Options{}, []string{"app:1.2", "app:latest"}); err != nil {
		t.Fatal(err)
	}
	page, _ := os.ReadFile(html)
	if !bytes.Contains(page, []byte(`class="stage-graph"`)) || !bytes.Contains(page, []byte("builder")) {
		t.Errorf("writeBuildReportHTML() page lacks the stage graph or stages")
	}
	if !bytes.Contains(page, []byte("<title>app:1.2 · strata build report</title>")) || !bytes.Contains(page, []byte(res.Digest.String())) {
		t.Errorf("writeBuildReportHTML() page is not titled by the first tag, or lacks the digest")
	}
}

// TestSizeCompareReport runs size, compare and report on real builds and
// on an OCI layout and a docker archive saved from the store.
func TestSizeCompareReport(t *testing.T) {
	root := buildRoot(t)
	buildDockerfile(t, root, singleStage, "app:single")
	multi := buildDockerfile(t, root, multiStage, "app:multi")

	out := mustStrata(t, root, nil, "size", "--format", "json", "app:single")
	var rep report.Image
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("size --format json: %v\n%s", err, out)
	}
	found := map[string]int64{}
	for _, c := range rep.Bloat {
		found[c.Key] = c.Bytes
	}
	if found["compilers"] < 256<<10 || found["caches"] < 64<<10 || found["sources"] == 0 || len(rep.Layers) != 3 || rep.Layers[2].Instruction == "" {
		t.Errorf("size app:single: bloat %v, %d layers (%+v), want the toolchain, the apt lists and the sources found", found, len(rep.Layers), rep.Layers)
	}
	table := mustStrata(t, root, nil, "size", "app:multi")
	if !strings.Contains(table, "Efficiency:") || !strings.Contains(table, "/app/server") {
		t.Errorf("size app:multi =\n%s", table)
	}

	out = mustStrata(t, root, nil, "compare", "--format", "csv", "app:single", "app:multi", "busybox:latest", "app:multi")
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Fatalf("compare --format csv = %q, %v; want a header and 2 rows", out, err)
	}
	if rows[1][0] != "app:single" || !strings.Contains(rows[1][14], "compilers") || !strings.Contains(rows[1][14], "caches") || strings.HasPrefix(rows[1][4], "-") {
		t.Errorf("compare row = %v, want a reduction and compilers and caches dropped", rows[1])
	}
	md := mustStrata(t, root, nil, "compare", "--format", "markdown", "app:single", "app:multi")
	if !strings.HasPrefix(md, "| A | B |") {
		t.Errorf("compare --format markdown =\n%s", md)
	}

	// The same image read from an OCI layout and a docker archive.
	dir := t.TempDir()
	mustStrata(t, root, nil, "save", "-o", filepath.Join(dir, "multi.tar"), "app:multi")
	if err := export.OCILayout(context.Background(), multi.Image, filepath.Join(dir, "oci"), []string{"app:multi"}); err != nil {
		t.Fatal(err)
	}
	if err := export.OCIArchive(context.Background(), multi.Image, filepath.Join(dir, "multi-oci.tar"), nil); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"docker-archive:" + filepath.Join(dir, "multi.tar"), "oci:" + filepath.Join(dir, "oci"), "oci-archive:" + filepath.Join(dir, "multi-oci.tar")} {
		out := mustStrata(t, root, nil, "size", "--format", "json", ref)
		var r report.Image
		if err := json.Unmarshal([]byte(out), &r); err != nil || r.Files != rep2Files(t, root) {
			t.Errorf("size %s: files %d, %v; want the store's figure", ref, r.Files, err)
		}
	}

	// And from a registry, with --remote.
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	remoteRef := strings.TrimPrefix(srv.URL, "http://") + "/app:multi"
	mustStrata(t, root, nil, "push", "app:multi", remoteRef)
	out = mustStrata(t, t.TempDir(), nil, "size", "--remote", "--format", "json", remoteRef)
	var r report.Image
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Files != rep2Files(t, root) || r.Digest != multi.Digest.String() {
		t.Errorf("size --remote %s = files %d digest %s, %v; want the store's", remoteRef, r.Files, r.Digest, err)
	}

	html := filepath.Join(t.TempDir(), "out.html")
	df := filepath.Join(t.TempDir(), "Dockerfile")
	if err := os.WriteFile(df, []byte(multiStage), 0o644); err != nil {
		t.Fatal(err)
	}
	mustStrata(t, root, nil, "report", "app:single", "app:multi", "-f", df, "--html", html)
	page, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`class="stage-graph"`, `id="comparison"`, "app:single", "Bloat finder"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("report --html lacks %q", want)
		}
	}

	if _, errs, code := strata(t, root, nil, "size", "no-such:image"); code != 1 || !strings.Contains(errs, "no such image") {
		t.Errorf("size of a missing image = exit %d, %q; want 1 and no such image", code, errs)
	}
	if _, _, code := strata(t, root, nil, "compare", "a"); code != 2 {
		t.Errorf("compare with one image = exit %d, want 2", code)
	}
}

func rep2Files(t *testing.T, root string) int {
	t.Helper()
	var r report.Image
	if err := json.Unmarshal([]byte(mustStrata(t, root, nil, "size", "--format", "json", "app:multi")), &r); err != nil {
		t.Fatal(err)
	}
	return r.Files
}

func TestGraphCommand(t *testing.T) {
	df := filepath.Join(sampleDir(t), "Dockerfile")
	root := t.TempDir()
	text := mustStrata(t, root, nil, "graph", "-f", df, "--target", "production")
	for _, want := range []string{"production (stage 3)  [target]", "test (stage 2)  [skipped]", "COPY --from builder: /out/"} {
		if !strings.Contains(text, want) {
			t.Errorf("graph =\n%s\nwant %q", text, want)
		}
	}
	svg := mustStrata(t, root, nil, "graph", "-f", df, "--format", "svg")
	if !strings.HasPrefix(svg, "<svg") || !strings.Contains(svg, "<rect") {
		t.Errorf("graph --format svg = %.200s", svg)
	}
	if _, _, code := strata(t, root, nil, "graph", "-f", df, "--format", "png"); code != 2 {
		t.Errorf("graph --format png = exit %d, want 2", code)
	}
}

// TestCacheSummary: the build's cache figures become the summary's, nil
// without --cache-from or --cache-to.
func TestCacheSummary(t *testing.T) {
	if got := cacheSummary(nil); got != nil {
		t.Errorf("cacheSummary(nil) = %+v, want nil", got)
	}
	if got := cacheSummary(&build.CacheStats{}); got != nil {
		t.Errorf("cacheSummary(no phases) = %+v, want nil", got)
	}
	cs := &build.CacheStats{Export: &build.CachePhase{Duration: 800 * time.Millisecond, Blobs: 3, Bytes: 41_000_000, Present: 12, Mounted: 1, Records: 20}}
	got := cacheSummary(cs)
	want := report.CachePhase{Seconds: 0.8, Blobs: 3, Bytes: 41_000_000, Present: 12, Mounted: 1, Records: 20}
	if got == nil || got.Import != nil || got.Export == nil || *got.Export != want {
		t.Fatalf("cacheSummary(%+v) = %+v, want export %+v only", cs.Export, got, want)
	}
	var b bytes.Buffer
	report.WriteCacheSummary(&b, got)
	if line := "exporting cache 0.8 s, 3 blobs, 41MB (12 already there, 1 mounted; 20 records)\n"; b.String() != line {
		t.Errorf("summary = %q, want %q", b.String(), line)
	}
}
