package cli

// Attestations on build: --sbom, --provenance and --attest as buildx names
// them, and how an output that changes media types or holds files carries
// them.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/attest"
	"github.com/strata-build/strata/internal/build"
	"github.com/strata-build/strata/internal/export"
	"github.com/strata-build/strata/internal/registry"
)

// parseAttestations reads --sbom, --provenance and --attest (later ones
// win, as in buildx): whether to attach an SBOM, and the provenance mode
// ("" for none).
func parseAttestations(sbomFlag, provFlag string, attests []string) (sbom bool, prov string, err error) {
	specs := make([]string, 0, len(attests)+2)
	if sbomFlag != "" {
		specs = append(specs, shorthand("sbom", sbomFlag))
	}
	if provFlag != "" {
		specs = append(specs, shorthand("provenance", provFlag))
	}
	specs = append(specs, attests...)
	for _, spec := range specs {
		typ, mode, disabled := "", attest.ModeMin, false
		for _, field := range strings.Split(spec, ",") {
			k, v, _ := strings.Cut(field, "=")
			switch k {
			case "type":
				typ = v
			case "mode":
				if v != attest.ModeMin && v != attest.ModeMax {
					return false, "", fmt.Errorf("invalid --attest %q: mode must be min or max", spec)
				}
				mode = v
			case "disabled":
				b, perr := strconv.ParseBool(v)
				if perr != nil {
					return false, "", fmt.Errorf("invalid --attest %q: disabled must be true or false", spec)
				}
				disabled = b
			case "generator":
				return false, "", fmt.Errorf("invalid --attest %q: strata makes the SBOM from the layers itself; generator= (a scanner image) is not supported", spec)
			default:
				return false, "", fmt.Errorf("invalid --attest %q: unknown key %q", spec, k)
			}
		}
		switch typ {
		case "sbom":
			sbom = !disabled
		case "provenance":
			prov = mode
			if disabled {
				prov = ""
			}
		default:
			return false, "", fmt.Errorf("invalid --attest %q: type must be sbom or provenance", spec)
		}
	}
	return sbom, prov, nil
}

// shorthand turns --sbom=VALUE or --provenance=VALUE into an --attest spec:
// true, false, or key=value fields.
func shorthand(typ, v string) string {
	if b, err := strconv.ParseBool(v); err == nil {
		return "type=" + typ + ",disabled=" + strconv.FormatBool(!b)
	}
	return "type=" + typ + "," + v
}

// attested reports whether res carries attestations.
func attested(res *build.Result) bool {
	for _, pr := range res.Platforms {
		if len(pr.Predicates) > 0 {
			return true
		}
	}
	return false
}

// dockerIndex is res's index with Docker media types: each image
// converted, and the attestations made again about the converted images
// (their subjects must name what is pushed).
func dockerIndex(res *build.Result, tags []string) (v1.ImageIndex, error) {
	prs := make([]build.PlatformResult, len(res.Platforms))
	for i, pr := range res.Platforms {
		img, err := registry.DockerImage(pr.Image)
		if err != nil {
			return nil, err
		}
		pr.Image = img
		prs[i] = pr
	}
	return build.IndexOf(prs, tags, attest.FormDocker)
}

// writeAttestationFiles writes each statement of img's attestations into
// dir as BuildKit's local exporter does: sbom.spdx.json, provenance.json
// (indented, 0600).
func writeAttestationFiles(res *build.Result, pr build.PlatformResult, dir string) error {
	stmts, err := attest.Find(res.Index, pr.Digest)
	if err != nil {
		return err
	}
	for _, s := range stmts {
		name := "provenance.json"
		if s.PredicateType == attest.PredicateSPDX {
			name = "sbom.spdx.json"
		}
		b, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return fmt.Errorf("writing attestation %s: %w", name, err)
		}
	}
	return nil
}

// writeLocalIndex writes a local output of an index result: one platform's
// filesystem in dest, several in a directory each; the attestation files
// beside each.
func writeLocalIndex(ctx context.Context, res *build.Result, dest string) error {
	if len(res.Platforms) == 1 {
		if err := export.Local(ctx, res.Image, dest); err != nil {
			return err
		}
		if attested(res) {
			return writeAttestationFiles(res, res.Platforms[0], dest)
		}
		return nil
	}
	if err := export.LocalPlatforms(ctx, platformImages(res), dest); err != nil {
		return err
	}
	if !attested(res) {
		return nil
	}
	for _, pr := range res.Platforms {
		if err := writeAttestationFiles(res, pr, filepath.Join(dest, export.PlatformDir(pr.Platform))); err != nil {
			return err
		}
	}
	return nil
}

// warnDropped says an output left the attestations out.
func warnDropped(w io.Writer, what string) {
	fmt.Fprintf(w, "warning: %s holds no attestations: the SBOM and provenance are left out of it\n", what)
}
