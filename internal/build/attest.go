package build

// Attestations: the SBOM (from the layers, cached per diff ID) and the SLSA
// provenance of each platform's image, attached as BuildKit attaches them.

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/strata-build/strata/internal/attest"
	"github.com/strata-build/strata/internal/sbom"
)

// provLog records what a platform's build ran, for provenance.
type provLog struct {
	mu      sync.Mutex
	steps   []attest.Step
	network bool // a RUN step had the network
}

// record notes one dispatched instruction and the layer it added.
func (r *run) record(stp step, before, after *state) {
	r.log.mu.Lock()
	defer r.log.mu.Unlock()
	if c, ok := stp.cmd.(*instructions.RunCommand); ok && r.runNetwork(c) != "none" {
		r.log.network = true
	}
	if r.opts.Provenance != attest.ModeMax {
		return
	}
	s := attest.Step{Stage: stp.stage.DisplayName(), Instruction: commandText(stp.cmd), Line: stp.line}
	if loc := stp.cmd.Location(); len(loc) > 0 && loc[len(loc)-1].End.Line > stp.line {
		s.EndLine = loc[len(loc)-1].End.Line
	}
	if len(after.layers) > len(before.layers) {
		s.Layer, _ = after.layers[len(after.layers)-1].layer.Digest()
	}
	r.log.steps = append(r.log.steps, s)
}

// attestations returns the predicates of each platform's image (SBOM,
// provenance), in platform order.
func attestations(ctx context.Context, runs []*run, res *Result, started time.Time) ([][]attest.Predicate, error) {
	out := make([][]attest.Predicate, len(runs))
	ctxDigest, err := runs[0].contextDigest(ctx)
	if err != nil {
		return nil, err
	}
	for i, r := range runs {
		pr := &res.Platforms[i]
		if r.opts.SBOM {
			doc, err := r.sbomOf(ctx, pr)
			if err != nil {
				return nil, fmt.Errorf("making the SBOM of the %s image: %w", pr.Platform, err)
			}
			out[i] = append(out[i], attest.Predicate{Type: attest.PredicateSPDX, Data: doc})
		}
		if r.opts.Provenance != "" {
			prov, err := attest.Provenance(r.buildInfo(pr.Platform, ctxDigest, started), r.opts.Provenance)
			if err != nil {
				return nil, fmt.Errorf("making the provenance of the %s image: %w", pr.Platform, err)
			}
			out[i] = append(out[i], attest.Predicate{Type: attest.PredicateSLSA1, Data: prov})
		}
	}
	return out, nil
}

// sbomOf is the SPDX document of pr's image: its layers scanned (each
// from the store's per-layer cache when it has it), each package's source
// the Dockerfile line of the step that added it when this build made it.
func (r *run) sbomOf(ctx context.Context, pr *PlatformResult) ([]byte, error) {
	cache, err := r.b.store.SBOMCacheDir(ctx)
	if err != nil {
		return nil, err
	}
	s, err := sbom.ScanImage(ctx, r.b.store, pr.Image, sbom.Options{CacheDir: cache})
	if err != nil {
		return nil, err
	}
	for i := range s.Packages {
		if l := s.Packages[i].Layer; l >= 0 && l < len(pr.Layers) && pr.Layers[l].Source != "" {
			s.Packages[i].Source = pr.Layers[l].Source
		}
	}
	for i := range s.Layers {
		if i < len(pr.Layers) && pr.Layers[i].Source != "" {
			s.Layers[i].Source = pr.Layers[i].Source
		}
	}
	name := ""
	if len(r.opts.Names) > 0 {
		name = r.opts.Names[0]
	}
	var buf bytes.Buffer
	err = sbom.WriteSPDX(&buf, s, sbom.DocumentOptions{Name: name, Digest: pr.Digest.String(),
		Created: r.opts.Timestamp, Tool: "strata-" + Version()})
	return buf.Bytes(), err
}

// contextDigest is strata's digest of the main build context (what COPY
// keys hash), zero when there is none.
func (r *run) contextDigest(ctx context.Context) (v1.Hash, error) {
	if r.opts.Provenance == "" || r.opts.ContextDir == "" {
		return v1.Hash{}, nil
	}
	src, err := r.mainContext()
	if err != nil {
		return v1.Hash{}, err
	}
	k, err := contentKey(ctx, src, []string{"."}, r.stats)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("hashing the build context: %w", err)
	}
	return v1.NewHash(k)
}

// buildInfo is what provenance records of this platform's build.
func (r *run) buildInfo(platform string, ctxDigest v1.Hash, started time.Time) attest.BuildInfo {
	o := r.opts
	info := attest.BuildInfo{
		Version: Version(), BuilderPlatform: BuildPlatform(), Platform: platform,
		Dockerfile:    attest.File{Path: o.DockerfilePath, Content: o.File.Source},
		ContextDigest: ctxDigest, Target: o.Target,
		Args: maps.Clone(o.BuildArgs), Labels: maps.Clone(o.Labels),
		Reproducible: !o.ClockTime,
	}
	if info.Dockerfile.Path == "" {
		info.Dockerfile.Path = "Dockerfile"
	}
	if h, _, err := v1.SHA256(bytes.NewReader(o.File.Source)); err == nil {
		info.Dockerfile.Digest = h
	}
	for id := range o.Secrets {
		info.Secrets = append(info.Secrets, id)
	}
	for id := range o.SSH {
		info.SSH = append(info.SSH, id)
	}
	slices.Sort(info.Secrets)
	slices.Sort(info.SSH)
	r.basesMu.Lock()
	for _, b := range r.bases {
		info.Bases = append(info.Bases, attest.Base{Ref: b.Ref, Platform: b.Platform, Digest: b.Digest, Local: b.Local})
	}
	r.basesMu.Unlock()
	r.log.mu.Lock()
	info.Steps = slices.Clone(r.log.steps)
	info.Network = r.log.network
	r.log.mu.Unlock()
	info.Started, info.Finished = o.Timestamp, o.Timestamp
	if o.ClockTime {
		info.Started, info.Finished = started.UTC(), time.Now().UTC()
	}
	return info
}

// Version is strata's version as the binary records it: the module
// version, else "devel" and the VCS revision it was built from.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	v := "devel"
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += "-" + s.Value[:12]
		}
	}
	return v
}
