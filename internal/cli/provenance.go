package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/internal/attest"
)

// predicateSLSA02 is the provenance older BuildKit releases attach
// (--provenance=version=v0.2); shown as it is.
const predicateSLSA02 = "https://slsa.dev/provenance/v0.2"

// errNoProvenance is findProvenance's error for an image without a
// provenance statement.
var errNoProvenance = errors.New("no provenance attestation")

type provenanceFlags struct {
	platform, format string
}

func newProvenanceCmd(g *globals) *cobra.Command {
	f := &provenanceFlags{}
	cmd := &cobra.Command{
		Use:   "provenance IMAGE",
		Short: "Show the SLSA provenance attached to an image",
		Long: `Show the SLSA provenance attestation of a stored image: the predicate of the
in-toto statement in the image's attestation manifest, as strata build
--provenance (or BuildKit) attaches it. --format json prints the predicate,
summary the builder, inputs, build args and (mode=max) steps.`,
		Args: argsRange(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProvenance(cmd.Context(), g, f, args[0])
		},
	}
	cmd.Flags().StringVar(&f.platform, "platform", "", "platform of a multi-platform image (default: the host's, else the first)")
	cmd.Flags().StringVar(&f.format, "format", "json", "output format: json or summary")
	return cmd
}

func runProvenance(ctx context.Context, g *globals, f *provenanceFlags, ref string) error {
	if f.format != "json" && f.format != "summary" {
		return usageError{fmt.Errorf("invalid --format %q: want json or summary", f.format)}
	}
	platform, err := platformFlag(f.platform)
	if err != nil {
		return err
	}
	s, err := g.openStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	c, err := resolveImage(ctx, s, ref, platform)
	if err != nil {
		return fmt.Errorf("showing provenance of %q: %w", ref, err)
	}
	typ, pred, err := findProvenance(c)
	if errors.Is(err, errNoProvenance) {
		return fmt.Errorf("showing provenance of %q: %w; attach one with: strata build --provenance=mode=max -t %s .", ref, err, ref)
	}
	if err != nil {
		return fmt.Errorf("showing provenance of %q: %w", ref, err)
	}
	if f.format == "json" {
		var buf bytes.Buffer
		if err := json.Indent(&buf, pred, "", "  "); err != nil {
			return fmt.Errorf("showing provenance of %q: %w", ref, err)
		}
		buf.WriteByte('\n')
		_, err := g.stdio.Out.Write(buf.Bytes())
		return err
	}
	if typ != attest.PredicateSLSA1 {
		return fmt.Errorf("showing provenance of %q: it is %s, which only --format json shows", ref, typ)
	}
	p, err := attest.DecodeProvenance(pred)
	if err != nil {
		return fmt.Errorf("showing provenance of %q: %w", ref, err)
	}
	return writeProvenanceSummary(g.stdio.Out, c, p)
}

// findProvenance returns the predicate type and predicate of the chosen
// image's provenance statement (SLSA v1, else v0.2); errNoProvenance when
// it has none.
func findProvenance(c *chosenImage) (string, json.RawMessage, error) {
	what := "image " + c.Digest.String()
	if c.Platform != "" {
		what = c.Platform + " " + what
	}
	if c.Index == nil {
		return "", nil, fmt.Errorf("the %s is not in an image index, so it has %w", what, errNoProvenance)
	}
	stmts, err := attest.Find(c.Index, c.Digest)
	if errors.Is(err, attest.ErrNone) {
		return "", nil, fmt.Errorf("the %s has %w", what, errNoProvenance)
	}
	if err != nil {
		return "", nil, err
	}
	for _, typ := range []string{attest.PredicateSLSA1, predicateSLSA02} {
		if p, err := attest.FindPredicate(stmts, typ); err == nil {
			return typ, p, nil
		}
	}
	var types []string
	for _, st := range stmts {
		types = append(types, st.PredicateType)
	}
	return "", nil, fmt.Errorf("the %s has attestations (%s) but %w", what, strings.Join(types, ", "), errNoProvenance)
}

func writeProvenanceSummary(w io.Writer, c *chosenImage, p *attest.ProvenanceV1) error {
	bd, rd := p.BuildDefinition, p.RunDetails
	ext, req := bd.ExternalParameters, bd.ExternalParameters.Request
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	row("Image", strings.TrimSpace(c.Digest.String()+" "+c.Platform))
	row("Builder", rd.Builder.ID)
	row("Build type", bd.BuildType)
	if md := rd.Metadata; md != nil {
		if md.StartedOn != nil && md.FinishedOn != nil {
			when := md.StartedOn.UTC().Format("2006-01-02T15:04:05Z") + " to " + md.FinishedOn.UTC().Format("2006-01-02T15:04:05Z")
			if md.Reproducible {
				when += " (reproducible)"
			}
			row("Built", when)
		}
		row("Invocation", md.InvocationID)
	}
	row("Dockerfile", strings.TrimSpace(ext.ConfigSource.Path+" "+digestString(ext.ConfigSource.Digest)))
	row("Context", ext.ConfigSource.URI)
	row("Frontend", req.Frontend)
	row("Target", req.Args["target"])
	row("Platform", bd.InternalParameters.TargetPlatform)
	row("Built on", bd.InternalParameters.BuilderPlatform)
	row("Build args", joinArgs(req.Args, "build-arg:"))
	row("Labels", joinArgs(req.Args, "label:"))
	var secrets []string
	for _, s := range req.Secrets {
		secrets = append(secrets, s.ID)
	}
	row("Secrets", strings.Join(secrets, ", "))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(bd.ResolvedDependencies) > 0 {
		fmt.Fprintln(w, "Materials:")
		tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		for _, d := range bd.ResolvedDependencies {
			fmt.Fprintf(tw, "  %s\t%s\n", cmp.Or(d.URI, d.Name), digestString(d.Digest))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return writeProvenanceSteps(w, bd.InternalParameters.BuildConfig)
}

func writeProvenanceSteps(w io.Writer, bc *attest.BuildConfig) error {
	if bc == nil || len(bc.Steps) == 0 {
		return nil
	}
	fmt.Fprintln(w, "Steps:")
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, s := range bc.Steps {
		line := ""
		if s.Line > 0 {
			line = fmt.Sprintf("%d", s.Line)
			if s.EndLine > s.Line {
				line += fmt.Sprintf("-%d", s.EndLine)
			}
		}
		layer := s.Layer
		if len(layer) > 19 {
			layer = layer[:19]
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", s.Stage, line, s.Instruction, layer)
	}
	return tw.Flush()
}

// digestString is a digest set's sha256 (or first) digest as "alg:hex".
func digestString(d map[string]string) string {
	if v, ok := d["sha256"]; ok {
		return "sha256:" + v
	}
	for _, k := range slices.Sorted(maps.Keys(d)) {
		return k + ":" + d[k]
	}
	return ""
}

// joinArgs is the request args with prefix, without it, "K=V" sorted.
func joinArgs(args map[string]string, prefix string) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(args)) {
		if name, ok := strings.CutPrefix(k, prefix); ok {
			out = append(out, name+"="+args[k])
		}
	}
	return strings.Join(out, " ")
}
