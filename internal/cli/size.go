package cli

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/spf13/cobra"

	"github.com/strata-build/strata/internal/build"
	"github.com/strata-build/strata/internal/export"
	"github.com/strata-build/strata/internal/report"
	"github.com/strata-build/strata/internal/store"
)

// sizeFlags are the flags of the commands that analyse images.
type sizeFlags struct {
	format   string
	remote   bool
	top      int
	platform string
}

func (f *sizeFlags) register(cmd *cobra.Command, formats string) {
	cmd.Flags().StringVar(&f.format, "format", "table", "output format: "+formats)
	cmd.Flags().BoolVar(&f.remote, "remote", false, "read IMAGE from its registry instead of the store")
	cmd.Flags().IntVar(&f.top, "top", 10, "how many largest files, directories and wasted paths to list")
	f.registerPlatform(cmd)
}

func (f *sizeFlags) registerPlatform(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.platform, "platform", "", "platform to read from a multi-platform image (default: the host's, else the first)")
}

func newSizeCmd(g *globals) *cobra.Command {
	f := &sizeFlags{}
	cmd := &cobra.Command{
		Use:   "size IMAGE",
		Short: "Show what an image weighs and why: layers, largest files, waste, bloat",
		Long: `Show what an image weighs and why: compressed and uncompressed totals, one row
per layer (size, files, the instruction that made it), the largest files and
directories, wasted bytes and the efficiency score as dive computes them, and
the bloat finder (compilers and SDKs, package-manager caches, dev dependencies,
sources next to binaries, docs).

IMAGE is an image in the store, oci:DIR[:TAG], oci-archive:FILE[:TAG],
docker-archive:FILE[:REF], or with --remote a registry reference. Of a
multi-platform image, --platform's image is read (default: the host's
platform, else the first).`,
		Args: argsRange(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.format != "table" && f.format != "json" {
				return usageError{fmt.Errorf("unknown --format %q (want table or json)", f.format)}
			}
			rep, err := analyzeImage(cmd.Context(), g, f, args[0])
			if err != nil {
				return err
			}
			if f.format == "json" {
				return report.WriteJSON(g.stdio.Out, rep)
			}
			return report.WriteSizeTable(g.stdio.Out, rep)
		},
	}
	f.register(cmd, "table|json")
	return cmd
}

// analyzeImage opens ref and reports its sizes.
func analyzeImage(ctx context.Context, g *globals, f *sizeFlags, ref string) (*report.Image, error) {
	platform, err := platformFlag(f.platform)
	if err != nil {
		return nil, err
	}
	img, done, err := openImage(ctx, g, ref, f.remote, platform)
	if err != nil {
		return nil, fmt.Errorf("analyzing %q: %w", ref, err)
	}
	defer done()
	rep, err := report.Analyze(ctx, img.Image, report.Options{Top: f.top})
	if err != nil {
		return nil, fmt.Errorf("analyzing %q: %w", ref, err)
	}
	rep.Name, rep.Platform = ref, img.Platform
	if img.Index != nil { // compare's rows tell the platforms apart
		rep.Name += " [" + img.Platform + "]"
	}
	return rep, nil
}

// openImage finds ref: an OCI layout or archive, a docker archive, a
// registry reference (remote) or an image in the store; of a
// multi-platform image, platform's ("" for the default). done releases
// what reading the image needs (the store, an unpacked archive).
func openImage(ctx context.Context, g *globals, ref string, remote bool, platform string) (*chosenImage, func(), error) {
	nop := func() {}
	switch transport, rest, _ := strings.Cut(ref, ":"); transport {
	case "oci":
		dir, tag := splitTransportRef(rest)
		c, err := layoutImage(dir, tag, platform)
		return c, nop, err
	case "oci-archive":
		file, tag := splitTransportRef(rest)
		tmp, err := os.MkdirTemp("", "strata-oci-archive-")
		if err != nil {
			return nil, nop, err
		}
		done := func() { os.RemoveAll(tmp) }
		if err := untarLayout(file, tmp); err != nil {
			done()
			return nil, nop, fmt.Errorf("unpacking %s: %w", file, err)
		}
		c, err := layoutImage(tmp, tag, platform)
		if err != nil {
			done()
			return nil, nop, err
		}
		return c, done, nil
	case "docker-archive":
		file, tag := splitTransportRef(rest)
		var sel *name.Tag
		if tag != "" {
			t, err := name.NewTag(tag)
			if err != nil {
				return nil, nop, usageError{fmt.Errorf("parsing %q: %w", tag, err)}
			}
			sel = &t
		}
		img, err := tarball.ImageFromPath(file, sel)
		if err != nil {
			return nil, nop, err
		}
		c, err := singleImage(img, platform)
		return c, nop, err
	}
	if remote {
		img, err := g.registryClient("").PullPlatform(ctx, ref, cmp.Or(platform, build.BuildPlatform()))
		if err != nil {
			return nil, nop, err
		}
		c, err := singleImage(img, "")
		return c, nop, err
	}
	s, err := g.openStore(ctx)
	if err != nil {
		return nil, nop, err
	}
	c, err := resolveImage(ctx, s, ref, platform)
	if err != nil {
		s.Close()
		return nil, nop, err
	}
	return c, func() { s.Close() }, nil
}

// layoutImage picks the image of the OCI layout dir tagged tag (see
// export.ReadLayoutEntry); of a multi-platform image, platform's.
func layoutImage(dir, tag, platform string) (*chosenImage, error) {
	idx, d, err := export.ReadLayoutEntry(dir, tag)
	if err != nil {
		return nil, err
	}
	if d.MediaType.IsImage() {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, err
		}
		return singleImage(img, platform)
	}
	if !d.MediaType.IsIndex() {
		return nil, fmt.Errorf("unsupported media type %s", d.MediaType)
	}
	child, err := idx.ImageIndex(d.Digest)
	if err != nil {
		return nil, err
	}
	e, err := pickEntry(child, platform)
	if err != nil {
		return nil, fmt.Errorf("multi-platform image %w", err)
	}
	img, err := child.Image(e.Digest)
	if err != nil {
		return nil, err
	}
	return &chosenImage{ID: d.Digest, Index: child, Digest: e.Digest, Image: img, Platform: store.FormatPlatform(*e.Platform)}, nil
}

// singleImage is img, which must serve platform when one is given.
func singleImage(img v1.Image, platform string) (*chosenImage, error) {
	h, err := img.Digest()
	if err != nil {
		return nil, err
	}
	have, err := configPlatform(img)
	if err != nil {
		return nil, err
	}
	if platform != "" && !platformServes(have, platform) {
		return nil, platformMismatch(platform, have)
	}
	return &chosenImage{ID: h, Digest: h, Image: img, Platform: formatPlatform(have)}, nil
}

// splitTransportRef splits "PATH[:TAG]"; a colon inside a path component
// with a slash after it is part of the path.
func splitTransportRef(s string) (path, tag string) {
	i := strings.LastIndex(s, ":")
	if i < 0 || strings.Contains(s[i:], "/") {
		return s, ""
	}
	if _, err := os.Stat(s); err == nil { // a file whose name has a colon
		return s, ""
	}
	return s[:i], s[i+1:]
}
