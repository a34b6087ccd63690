package report

import (
	"context"
	"fmt"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// Image is the size report of one image.
type Image struct {
	// Name is how the caller named the image (a ref or a path); Digest is
	// its manifest digest.
	Name   string `json:"name,omitempty"`
	Digest string `json:"digest"`
	// Platform is the image's "os/arch[/variant]", when the caller set it
	// (the platform picked from a multi-platform image).
	Platform string `json:"platform,omitempty"`
	// Compressed is the sum of the layer blobs; Uncompressed the sum of the
	// layer tars; Content the sum of the file sizes in the layers (dive's
	// "total image size").
	Compressed   int64 `json:"compressed"`
	Uncompressed int64 `json:"uncompressed"`
	Content      int64 `json:"content"`
	// Files counts the non-directories of the final filesystem.
	Files  int     `json:"files"`
	Layers []Layer `json:"layers"`
	// LargestFiles and LargestDirs are of the final filesystem, largest
	// first; a directory's size is the sum of the files under it.
	LargestFiles []PathSize `json:"largest_files"`
	LargestDirs  []PathSize `json:"largest_dirs"`
	Efficiency   Efficiency `json:"efficiency"`
	Bloat        []Category `json:"bloat"`
}

// Layer is one layer of an image, bottom first.
type Layer struct {
	Index        int    `json:"index"`
	Digest       string `json:"digest"`
	Compressed   int64  `json:"compressed"`
	Uncompressed int64  `json:"uncompressed"`
	// Content is the sum of the sizes of the layer's files.
	Content int64 `json:"content"`
	// Files counts the layer's entries that are not directories or
	// whiteouts; Deleted counts its whiteouts.
	Files   int `json:"files"`
	Deleted int `json:"deleted,omitempty"`
	// Instruction is the history entry that made the layer ("" without
	// history).
	Instruction string `json:"instruction"`
}

// PathSize is a path with a size in bytes and, for a directory, the number
// of files under it.
type PathSize struct {
	Path  string `json:"path"`
	Size  int64  `json:"size"`
	Files int    `json:"files,omitempty"`
}

// Options tune Analyze.
type Options struct {
	// Top is how many largest files, directories and wasted paths to keep
	// (default 10).
	Top int
	// Jobs bounds how many layers are read at once (default GOMAXPROCS).
	Jobs int
}

// Analyze reads img's layers, each once and as a stream, and reports its
// sizes. Layers are decompressed concurrently (bounded by opts.Jobs) and
// folded bottom first, so at most Jobs layer listings are held at a time.
func Analyze(ctx context.Context, img v1.Image, opts Options) (*Image, error) {
	if opts.Top <= 0 {
		opts.Top = 10
	}
	if opts.Jobs <= 0 {
		opts.Jobs = runtime.GOMAXPROCS(0)
	}
	rep, layers, err := describe(img)
	if err != nil {
		return nil, err
	}
	fs := newFilesystem()
	eff := newEfficiency()
	err = scanLayers(ctx, layers, opts.Jobs, func(i int, sc *layerScan) {
		l := &rep.Layers[i]
		l.Uncompressed, l.Content, l.Files, l.Deleted = sc.tarBytes, sc.content, sc.files, sc.deleted
		rep.Uncompressed += sc.tarBytes
		rep.Content += sc.content
		eff.addLayer(sc, fs)
		fs.apply(sc)
	})
	if err != nil {
		return nil, err
	}
	rep.Efficiency = eff.result(rep, opts.Top)
	fs.summarize(rep, opts.Top)
	rep.Bloat = findBloat(fs)
	return rep, nil
}

// describe reads what the manifest and config say: digests, compressed
// sizes and instructions.
func describe(img v1.Image) (*Image, []v1.Layer, error) {
	dg, err := img.Digest()
	if err != nil {
		return nil, nil, fmt.Errorf("reading manifest: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, nil, fmt.Errorf("reading layers: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, nil, fmt.Errorf("reading config: %w", err)
	}
	instr := Instructions(cf.History)
	rep := &Image{Digest: dg.String(), Layers: make([]Layer, len(layers))}
	for i, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return nil, nil, fmt.Errorf("reading layer %d: %w", i, err)
		}
		n, err := l.Size()
		if err != nil {
			return nil, nil, fmt.Errorf("reading layer %d: %w", i, err)
		}
		rep.Layers[i] = Layer{Index: i, Digest: d.String(), Compressed: n}
		if i < len(instr) {
			rep.Layers[i].Instruction = instr[i]
		}
		rep.Compressed += n
	}
	return rep, layers, nil
}

// scanLayers reads layers with up to jobs workers and calls fold for each,
// in order, from this goroutine. A worker takes a slot before reading and
// the slot is freed once its layer is folded, which bounds the listings
// held in memory.
func scanLayers(ctx context.Context, layers []v1.Layer, jobs int, fold func(int, *layerScan)) error {
	g, ctx := errgroup.WithContext(ctx)
	slots := make(chan struct{}, jobs)
	results := make([]chan *layerScan, len(layers))
	for i := range results {
		results[i] = make(chan *layerScan, 1)
	}
	g.Go(func() error {
		for i, l := range layers {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			g.Go(func() error {
				sc, err := scanLayer(ctx, l)
				if err != nil {
					return fmt.Errorf("reading layer %d: %w", i, err)
				}
				results[i] <- sc
				return nil
			})
		}
		return nil
	})
	g.Go(func() error {
		for i := range layers {
			select {
			case sc := <-results[i]:
				fold(i, sc)
				<-slots
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	return g.Wait()
}
