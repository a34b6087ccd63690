package sbom

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/store"
)

// ScanImage scans img's layers: each cached result is used as it is, and a
// layer missing from the cache is found (extracted once) in st. Each
// layer's source is its history entry's created_by.
func ScanImage(ctx context.Context, st *store.Store, img v1.Image, opts Options) (*SBOM, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("reading image layers: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	sources := layerSources(cfg.History, len(layers))
	jobs := make([]layerJob, len(layers))
	for i, l := range layers {
		diffID, err := l.DiffID()
		if err != nil {
			return nil, fmt.Errorf("reading layer %d diff ID: %w", i, err)
		}
		jobs[i] = layerJob{diffID: diffID, source: sources[i], dir: func(ctx context.Context) (string, error) {
			return st.LayerDir(ctx, l)
		}}
	}
	return scanJobs(ctx, jobs, opts)
}

// layerSources aligns the history with n layers (entries with empty_layer
// make none) and returns each layer's created_by; a history that does not
// match the layers gives none.
func layerSources(h []v1.History, n int) []string {
	out := make([]string, n)
	var made []v1.History
	for _, e := range h {
		if !e.EmptyLayer {
			made = append(made, e)
		}
	}
	if len(made) != n {
		return out
	}
	for i, e := range made {
		out[i] = e.CreatedBy
	}
	return out
}
