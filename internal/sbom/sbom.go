// Package sbom makes software bills of materials from an image's layers.
//
// Each layer is an overlay-format directory (see ARCHITECTURE.md): catalogers
// find package metadata in it (dpkg, apk, Python dist-info, npm
// node_modules, Go build info, Maven pom.properties in jars) and the result
// is cached per diff ID, so a warm scan reads nothing of the layer. The
// layers are then combined as the image's filesystem combines them: a later
// layer's file replaces an earlier one, whiteouts and opaque directories
// remove what is below, and each surviving package is attributed to the
// lowest layer that added it. The result is written as SPDX 2.3 JSON,
// CycloneDX 1.5 JSON or a table.
//
// The package reads layer directories and its cache directory; it never
// builds, pulls or writes images. The build and the CLI import it.
package sbom

import (
	"context"
	"fmt"
	"runtime"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// Package is one software package found in the image's filesystem.
type Package struct {
	// Type is the package's purl type: deb, apk, pypi, npm, golang, maven.
	Type    string `json:"type"`
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	// Group is the Maven groupId (the purl namespace); empty otherwise.
	Group string `json:"group,omitempty"`
	// Arch is the architecture dpkg or apk records.
	Arch string `json:"arch,omitempty"`
	// Upstream is the source package a deb or apk was built from
	// ("glibc", "gcc-12@12.2.0-14") when it differs from Name.
	Upstream string `json:"upstream,omitempty"`
	// PURL is the package URL, set when the layers are combined (the
	// distro qualifier comes from the final /etc/os-release).
	PURL string `json:"purl,omitempty"`
	// Licenses are SPDX identifiers or expressions where the metadata gives
	// them, else the metadata's own words.
	Licenses []string `json:"licenses,omitempty"`
	// Path is the metadata file that declares the package: the dpkg status
	// file, a METADATA or package.json file, a Go binary, a jar.
	Path string `json:"path"`
	// Location is where inside Path the package was found, for a jar nested
	// in a jar ("BOOT-INF/lib/x.jar"); empty otherwise.
	Location string `json:"location,omitempty"`
	// GoVersion is the Go toolchain that built the binary (golang only).
	GoVersion string `json:"goVersion,omitempty"`
	// Main marks a Go binary's main module.
	Main bool `json:"main,omitempty"`
	// Sum is the module checksum a Go binary records (h1:…).
	Sum string `json:"sum,omitempty"`

	// Layer is the index (bottom 0) of the layer that added the package,
	// LayerDiffID its diff ID and Source what made it (a Dockerfile line
	// or the history's created_by). Set when the layers are combined.
	Layer       int    `json:"layer"`
	LayerDiffID string `json:"layerDiffID,omitempty"`
	Source      string `json:"source,omitempty"`
}

// Distro is the operating system the final /etc/os-release names.
type Distro struct {
	ID        string `json:"id,omitempty"`
	VersionID string `json:"versionID,omitempty"`
	Pretty    string `json:"pretty,omitempty"`
}

// SBOM is the packages of an image's final filesystem, sorted by type,
// name, version, path and location.
type SBOM struct {
	Distro   Distro    `json:"distro"`
	Packages []Package `json:"packages"`
	// Layers are the scanned layers' diff IDs and sources, bottom first.
	Layers []LayerInfo `json:"layers"`
}

// LayerInfo describes one layer of the scanned image.
type LayerInfo struct {
	DiffID string `json:"diffID,omitempty"`
	Source string `json:"source,omitempty"`
}

// Layer is one layer to scan.
type Layer struct {
	// DiffID keys the cache; a zero DiffID disables caching for the layer.
	DiffID v1.Hash
	// Dir is the layer's overlay-format directory.
	Dir string
	// Source is what made the layer: "Dockerfile:12 RUN apt-get install …"
	// when the build knows it, else the history's created_by.
	Source string
}

// Options tune a scan.
type Options struct {
	// CacheDir holds per-layer results named by diff ID; empty disables the
	// cache.
	CacheDir string
	// Jobs is how many layers are scanned at once (default GOMAXPROCS).
	Jobs int
}

// layerJob is a layer to scan whose directory may be found only when the
// cache misses.
type layerJob struct {
	diffID v1.Hash
	source string
	dir    func(ctx context.Context) (string, error)
}

// Scan catalogs each layer (or reads its cached result) and combines them,
// bottom first, into the packages of the final filesystem.
func Scan(ctx context.Context, layers []Layer, opts Options) (*SBOM, error) {
	jobs := make([]layerJob, len(layers))
	for i, l := range layers {
		dir := l.Dir
		jobs[i] = layerJob{diffID: l.DiffID, source: l.Source, dir: func(context.Context) (string, error) { return dir, nil }}
	}
	return scanJobs(ctx, jobs, opts)
}

func scanJobs(ctx context.Context, jobs []layerJob, opts Options) (*SBOM, error) {
	scans := make([]*layerScan, len(jobs))
	g, ctx := errgroup.WithContext(ctx)
	n := opts.Jobs
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	g.SetLimit(n)
	for i, j := range jobs {
		g.Go(func() error {
			s, err := cachedScan(ctx, j, opts.CacheDir)
			if err != nil {
				return fmt.Errorf("scanning layer %d (%s): %w", i, j.diffID, err)
			}
			scans[i] = s
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	infos := make([]LayerInfo, len(jobs))
	for i, j := range jobs {
		infos[i] = LayerInfo{DiffID: diffIDString(j.diffID), Source: j.source}
	}
	return combine(scans, infos), nil
}

func diffIDString(h v1.Hash) string {
	if h == (v1.Hash{}) {
		return ""
	}
	return h.String()
}

// sortPackages orders packages deterministically.
func sortPackages(ps []Package) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		switch {
		case a.Type != b.Type:
			return a.Type < b.Type
		case a.Group != b.Group:
			return a.Group < b.Group
		case a.Name != b.Name:
			return a.Name < b.Name
		case a.Version != b.Version:
			return a.Version < b.Version
		case a.Path != b.Path:
			return a.Path < b.Path
		case a.Location != b.Location:
			return a.Location < b.Location
		}
		return a.Arch < b.Arch
	})
}
