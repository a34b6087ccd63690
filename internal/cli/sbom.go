package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/internal/build"
	"github.com/strata-build/strata/internal/sbom"
)

type sbomFlags struct {
	platform, format string
}

func newSBOMCmd(g *globals) *cobra.Command {
	f := &sbomFlags{}
	cmd := &cobra.Command{
		Use:   "sbom IMAGE",
		Short: "List the packages in an image (SBOM): table, SPDX 2.3 or CycloneDX 1.5 JSON",
		Long: `List the software packages in a stored image's final filesystem: Debian and
Alpine packages, Python distributions, npm packages, Go modules of Go
binaries, Maven artifacts in jars; each with its version, licences, package
URL and the layer (and instruction) that added it. The layers are scanned
once and the results kept in the store by layer, so an image that shares
its base with one scanned before costs only its own layers. strata build
--sbom attaches the same SBOM to the image it builds.`,
		Args: argsRange(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSBOM(cmd.Context(), g, f, args[0])
		},
	}
	cmd.Flags().StringVar(&f.platform, "platform", "", "platform of a multi-platform image (default: the host's, else the first)")
	cmd.Flags().StringVar(&f.format, "format", "table", "output format: table, spdx-json or cyclonedx-json")
	return cmd
}

func runSBOM(ctx context.Context, g *globals, f *sbomFlags, ref string) error {
	switch f.format {
	case "table", "spdx-json", "cyclonedx-json":
	default:
		return usageError{fmt.Errorf("invalid --format %q: want table, spdx-json or cyclonedx-json", f.format)}
	}
	platform, err := platformFlag(f.platform)
	if err != nil {
		return err
	}
	s, done, err := g.openStoreLeased(ctx)
	if err != nil {
		return err
	}
	defer done()
	c, err := resolveImage(ctx, s, ref, platform)
	if err != nil {
		return fmt.Errorf("listing packages of %q: %w", ref, err)
	}
	cache, err := s.SBOMCacheDir(ctx)
	if err != nil {
		return err
	}
	doc, err := sbom.ScanImage(ctx, s, c.Image, sbom.Options{CacheDir: cache})
	if err != nil {
		return fmt.Errorf("listing packages of %q: %w", ref, err)
	}
	opts := sbom.DocumentOptions{Name: ref, Digest: c.Digest.String(), Tool: "strata-" + build.Version()}
	if cf, err := c.Image.ConfigFile(); err == nil && cf.Created.Unix() > 0 {
		opts.Created = cf.Created.Time
	}
	switch f.format {
	case "spdx-json":
		err = sbom.WriteSPDX(g.stdio.Out, doc, opts)
	case "cyclonedx-json":
		err = sbom.WriteCycloneDX(g.stdio.Out, doc, opts)
	default:
		err = sbom.WriteTable(g.stdio.Out, doc)
	}
	if err != nil {
		return fmt.Errorf("listing packages of %q: %w", ref, err)
	}
	return nil
}
