package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/strata-build/strata/internal/build"
	"github.com/strata-build/strata/internal/dockerfile"
	"github.com/strata-build/strata/internal/plan"
	"github.com/strata-build/strata/internal/report"
)

type reportFlags struct {
	size        sizeFlags
	graph       graphFlags
	html        string
	buildReport string
}

func newReportCmd(g *globals) *cobra.Command {
	f := &reportFlags{}
	cmd := &cobra.Command{
		Use:   "report IMAGE [IMAGE2] --html FILE",
		Short: "Write a self-contained HTML report of one image, or two compared",
		Long: `Write one self-contained HTML file (no network, no script): sizes per layer
as bar charts, largest files and directories, waste, the bloat finder, and
with two images their comparison (the first is A). -f Dockerfile adds the
stage graph; --build-report FILE.json (from strata build --report) adds the
sizes of the build's stages. Images are named as for "strata size".`,
		Args: argsRange(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.html == "" {
				return usageError{errors.New(`"strata report" needs --html FILE`)}
			}
			return runReport(cmd.Context(), g, f, args)
		},
	}
	cmd.Flags().StringVar(&f.html, "html", "", "write the report to FILE")
	cmd.Flags().StringVar(&f.buildReport, "build-report", "", "add the stages of a build report (strata build --report FILE.json)")
	cmd.Flags().BoolVar(&f.size.remote, "remote", false, "read images from their registry instead of the store")
	cmd.Flags().IntVar(&f.size.top, "top", 10, "how many largest files, directories and wasted paths to list")
	f.size.registerPlatform(cmd)
	f.graph.register(cmd)
	return cmd
}

func runReport(ctx context.Context, g *globals, f *reportFlags, refs []string) error {
	in := report.HTMLInput{Title: "strata report: " + strings.Join(refs, " vs ")}
	for _, ref := range refs {
		rep, err := analyzeImage(ctx, g, &f.size, ref)
		if err != nil {
			return err
		}
		in.Images = append(in.Images, rep)
	}
	if len(in.Images) == 2 {
		c := report.Compare(in.Images[0], in.Images[1])
		in.Comparison = &c
	}
	if f.graph.file != "" {
		gr, err := f.graph.stageGraph(g)
		if err != nil {
			return err
		}
		in.Graph = gr
	}
	if f.buildReport != "" {
		b, err := os.ReadFile(f.buildReport)
		if err != nil {
			return fmt.Errorf("reading build report: %w", err)
		}
		in.Build = &report.Build{}
		if err := json.Unmarshal(b, in.Build); err != nil {
			return fmt.Errorf("reading build report %s: %w", f.buildReport, err)
		}
	}
	return writeHTMLFile(f.html, in)
}

// writeHTMLFile writes the report to file through a temporary file.
func writeHTMLFile(file string, in report.HTMLInput) error {
	var buf bytes.Buffer
	if err := report.WriteHTML(&buf, in); err != nil {
		return err
	}
	return writeFileAtomic(file, buf.Bytes())
}

func writeFileAtomic(file string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", file, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	return nil
}

// buildSummary computes the end-of-build summary of one platform's
// target image and stages.
func buildSummary(img v1.Image, results []build.StageResult) (*report.Build, error) {
	var stages []report.StageImage
	for _, s := range results {
		if s.Image == nil {
			continue
		}
		stages = append(stages, report.StageImage{Index: s.Index, Name: s.Name, Image: s.Image, Target: s.Target})
	}
	return report.Summarize(img, stages)
}

// platformSummary is one platform's summary in a multi-platform report.
type platformSummary struct {
	Platform string `json:"platform"`
	*report.Build
}

// multiPlatformSummary is the report of a multi-platform build: the first
// platform's summary at the top (what a single-platform report holds, so
// readers of report.Build read it too), the index digest and every
// platform's summary.
type multiPlatformSummary struct {
	*report.Build
	Index     string            `json:"index"`
	Platforms []platformSummary `json:"platforms"`
}

// platformSummaries summarises each platform of a multi-platform build.
func platformSummaries(res *build.Result) ([]platformSummary, error) {
	var out []platformSummary
	for _, pr := range res.Platforms {
		b, err := buildSummary(pr.Image, pr.Stages)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", pr.Platform, err)
		}
		out = append(out, platformSummary{Platform: pr.Platform, Build: b})
	}
	return out, nil
}

// printBuildReport writes the end-of-build size summary (final image size,
// each stage's size, exported or left behind, and what the multi-stage
// split kept out of the image), for each platform of a multi-platform
// build. It reads manifests only. The build command calls it after a build
// unless --progress=quiet.
func printBuildReport(ctx context.Context, w io.Writer, res *build.Result) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if res.Index == nil {
		b, err := buildSummary(res.Image, res.Stages)
		if err != nil {
			return err
		}
		b.Cache = cacheSummary(cacheStatsOf(res))
		return report.WriteBuildSummary(w, b)
	}
	ps, err := platformSummaries(res)
	if err != nil {
		return err
	}
	for _, p := range ps {
		fmt.Fprintf(w, "%s:\n", p.Platform)
		if err := report.WriteBuildSummary(w, p.Build); err != nil {
			return err
		}
	}
	report.WriteCacheSummary(w, cacheSummary(cacheStatsOf(res)))
	return nil
}

// writeBuildReport writes the end-of-build summary as JSON to file
// (strata build --report FILE.json).
func writeBuildReport(file string, res *build.Result) error {
	var v any
	if res.Index == nil {
		b, err := buildSummary(res.Image, res.Stages)
		if err != nil {
			return err
		}
		b.Cache = cacheSummary(cacheStatsOf(res))
		v = b
	} else {
		ps, err := platformSummaries(res)
		if err != nil {
			return err
		}
		top := *ps[0].Build
		top.Cache = cacheSummary(cacheStatsOf(res))
		v = multiPlatformSummary{Build: &top, Index: res.IndexDigest.String(), Platforms: ps}
	}
	var buf bytes.Buffer
	if err := report.WriteJSON(&buf, v); err != nil {
		return err
	}
	return writeFileAtomic(file, buf.Bytes())
}

// cacheStatsOf is the figures of the build's cache phases.
//
// TODO: return res.Cache once build.Result carries it (build.go: field
// "Cache *CacheStats", set from run.cacheStats() in execute); until then
// the phases show in the progress display only ("exporting cache to R").
func cacheStatsOf(res *build.Result) *build.CacheStats { return res.Cache }

// cacheSummary turns the build's cache figures into the summary's; nil
// when the build had neither --cache-from nor --cache-to.
func cacheSummary(cs *build.CacheStats) *report.CacheSummary {
	if cs == nil || cs.Import == nil && cs.Export == nil {
		return nil
	}
	conv := func(p *build.CachePhase) *report.CachePhase {
		if p == nil {
			return nil
		}
		return &report.CachePhase{Seconds: p.Duration.Seconds(), Blobs: p.Blobs, Bytes: p.Bytes,
			Present: p.Present, Mounted: p.Mounted, Records: p.Records}
	}
	return &report.CacheSummary{Import: conv(cs.Import), Export: conv(cs.Export)}
}

// writeBuildReportHTML writes the HTML report of a build (strata build
// --report-html FILE): the final image analysed (its layers are read once),
// the stages' sizes and the stage graph of df planned with popts.
func writeBuildReportHTML(ctx context.Context, file string, res *build.Result, df *dockerfile.File, popts plan.Options, tags []string) error {
	b, err := buildSummary(res.Image, res.Stages)
	if err != nil {
		return err
	}
	rep, err := report.Analyze(ctx, res.Image, report.Options{})
	if err != nil {
		return fmt.Errorf("analyzing built image: %w", err)
	}
	if res.Index != nil { // the first platform's image
		rep.Platform = res.Platforms[0].Platform
	}
	in := report.BuildHTML(rep, b, tags)
	if df != nil {
		p, err := plan.New(df, popts)
		if err != nil {
			return err
		}
		in.Graph = report.NewGraph(p)
	}
	return writeHTMLFile(file, in)
}
