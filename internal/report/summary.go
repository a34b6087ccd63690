package report

import (
	"fmt"
	"io"
	"text/tabwriter"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// StageImage is one stage a build ran, with the image it made.
type StageImage struct {
	Index  int
	Name   string
	Image  v1.Image
	Target bool
}

// Build is the end-of-build summary. Sizes are compressed layer sizes, read
// from the manifests only, so the summary costs nothing measurable.
type Build struct {
	Image  BuildImage   `json:"image"`
	Stages []BuildStage `json:"stages"`
	// KeptOut is what the multi-stage split kept out of the final image:
	// the compressed size of the distinct layers that some left-behind stage
	// has and the final image has not (a stage's base image layers count:
	// a toolchain base left behind is the point of the split). KeptOutLayers
	// counts those layers.
	KeptOut       int64 `json:"kept_out"`
	KeptOutLayers int   `json:"kept_out_layers"`
	// Cache is what the build's --cache-from and --cache-to cost, when it
	// had either.
	Cache *CacheSummary `json:"cache,omitempty"`
}

// CacheSummary is the build's cache phases; nil when it had none.
type CacheSummary struct {
	Import *CachePhase `json:"import,omitempty"`
	Export *CachePhase `json:"export,omitempty"`
}

// CachePhase is one cache phase: its wall time and the layer blobs it
// transferred (fetched from a --cache-from; sent to a --cache-to, where
// Present were there already and Mounted were mounted from another
// repository of the registry); Records is how many records the exported
// cache holds.
type CachePhase struct {
	Seconds float64 `json:"seconds"`
	Blobs   int     `json:"blobs"`
	Bytes   int64   `json:"bytes"`
	Present int     `json:"present,omitempty"`
	Mounted int     `json:"mounted,omitempty"`
	Records int     `json:"records,omitempty"`
}

// BuildImage is the final image of a build.
type BuildImage struct {
	Digest     string `json:"digest"`
	Compressed int64  `json:"compressed"`
	Layers     int    `json:"layers"`
}

// BuildStage is one stage a build ran.
type BuildStage struct {
	Index      int    `json:"index"`
	Name       string `json:"name"`
	Digest     string `json:"digest"`
	Compressed int64  `json:"compressed"`
	Layers     int    `json:"layers"`
	// Exported is true for the target stage, whose image the build
	// outputs; the others are left behind (kept in the store as cache).
	Exported bool `json:"exported"`
	// NotInImage is the compressed size of this stage's layers that the
	// final image does not have.
	NotInImage int64 `json:"not_in_image"`
}

// Summarize computes the build summary of final and the stages that ran.
func Summarize(final v1.Image, stages []StageImage) (*Build, error) {
	fm, dg, err := manifestOf(final)
	if err != nil {
		return nil, fmt.Errorf("summarizing build: %w", err)
	}
	in := map[v1.Hash]bool{}
	b := &Build{Image: BuildImage{Digest: dg.String(), Layers: len(fm.Layers)}}
	for _, l := range fm.Layers {
		in[l.Digest] = true
		b.Image.Compressed += l.Size
	}
	kept := map[v1.Hash]bool{}
	for _, s := range stages {
		m, sd, err := manifestOf(s.Image)
		if err != nil {
			return nil, fmt.Errorf("summarizing build: stage %s: %w", stageName(s.Index, s.Name), err)
		}
		bs := BuildStage{Index: s.Index, Name: stageName(s.Index, s.Name), Digest: sd.String(), Layers: len(m.Layers), Exported: s.Target}
		for _, l := range m.Layers {
			bs.Compressed += l.Size
			if in[l.Digest] {
				continue
			}
			bs.NotInImage += l.Size
			if !s.Target && !kept[l.Digest] {
				kept[l.Digest] = true
				b.KeptOut += l.Size
				b.KeptOutLayers++
			}
		}
		b.Stages = append(b.Stages, bs)
	}
	return b, nil
}

func manifestOf(img v1.Image) (*v1.Manifest, v1.Hash, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, v1.Hash{}, fmt.Errorf("reading manifest: %w", err)
	}
	dg, err := img.Digest()
	if err != nil {
		return nil, v1.Hash{}, fmt.Errorf("reading manifest: %w", err)
	}
	return m, dg, nil
}

func stageName(index int, name string) string {
	if name != "" {
		return name
	}
	return fmt.Sprintf("stage-%d", index)
}

// WriteBuildSummary writes the few lines printed after a build.
func WriteBuildSummary(w io.Writer, b *Build) error {
	fmt.Fprintf(w, "image size: %s compressed, %s\n", HumanSize(b.Image.Compressed), Count(b.Image.Layers, "layer"))
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, s := range b.Stages {
		state := "exported"
		if !s.Exported {
			state = fmt.Sprintf("left behind (%s not in the image)", HumanSize(s.NotInImage))
		}
		fmt.Fprintf(tw, "  stage %s\t%s\t%s\t%s\n", s.Name, HumanSize(s.Compressed), Count(s.Layers, "layer"), state)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(b.Stages) > 1 {
		fmt.Fprintf(w, "multi-stage split kept %s (%s) out of the image\n", HumanSize(b.KeptOut), Count(b.KeptOutLayers, "layer"))
	}
	WriteCacheSummary(w, b.Cache)
	return nil
}

// WriteCacheSummary writes a line per cache phase:
//
//	importing cache 0.2 s, 2 blobs, 12.1 MB
//	exporting cache 0.8 s, 3 blobs, 41 MB (12 already there, 1 mounted)
func WriteCacheSummary(w io.Writer, c *CacheSummary) {
	if c == nil {
		return
	}
	if p := c.Import; p != nil {
		fmt.Fprintf(w, "importing cache %.1f s, %s\n", p.Seconds, blobs(p.Blobs, p.Bytes))
	}
	if p := c.Export; p != nil {
		fmt.Fprintf(w, "exporting cache %.1f s, %s (%d already there", p.Seconds, blobs(p.Blobs, p.Bytes), p.Present)
		if p.Mounted > 0 {
			fmt.Fprintf(w, ", %d mounted", p.Mounted)
		}
		fmt.Fprintf(w, "; %s)\n", Count(p.Records, "record"))
	}
}

func blobs(n int, size int64) string { return Count(n, "blob") + ", " + HumanSize(size) }
