package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/internal/dockerfile"
	"github.com/strata-build/strata/internal/plan"
	"github.com/strata-build/strata/internal/report"
)

// graphFlags select a Dockerfile and how to plan it.
type graphFlags struct {
	file      string
	target    string
	buildArgs []string
	contexts  []string
}

func (f *graphFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.file, "file", "f", "", "the Dockerfile (default ./Dockerfile; - reads stdin)")
	cmd.Flags().StringVar(&f.target, "target", "", "the stage to build (default the last)")
	cmd.Flags().StringArrayVar(&f.buildArgs, "build-arg", nil, "build argument K=V used in FROM lines (repeatable)")
	cmd.Flags().StringArrayVar(&f.contexts, "build-context", nil, "named build context NAME=SOURCE (only NAME matters here; repeatable)")
}

// stageGraph reads and plans the Dockerfile, and returns its graph.
func (f *graphFlags) stageGraph(g *globals) (*report.Graph, error) {
	src, path, err := readDockerfile(g.stdio.In, f.file, ".")
	if err != nil {
		return nil, err
	}
	df, err := dockerfile.Parse(path, src)
	if err != nil {
		return nil, err
	}
	opts := plan.Options{Target: f.target, BuildArgs: map[string]string{}, Contexts: map[string]bool{}}
	for _, kv := range f.buildArgs {
		k, v, _ := strings.Cut(kv, "=")
		opts.BuildArgs[k] = v
	}
	for _, c := range f.contexts {
		k, _, _ := strings.Cut(c, "=")
		opts.Contexts[k] = true
	}
	p, err := plan.New(df, opts)
	if err != nil {
		return nil, err
	}
	return report.NewGraph(p), nil
}

func newGraphCmd(g *globals) *cobra.Command {
	f := &graphFlags{}
	var format string
	cmd := &cobra.Command{
		Use:   "graph [-f Dockerfile] [--target T]",
		Short: "Show the stage graph of a Dockerfile (text, dot, mermaid or svg)",
		Long: `Show the stage graph of a Dockerfile: stages, the images and build contexts
they use, FROM, COPY --from and RUN --mount=from edges labelled with the paths
they take, the target and the stages a build of it would skip. --format svg
draws it with strata's own layered layout (no Graphviz needed).`,
		Args: argsRange(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(report.GraphFormats(), format) {
				return usageError{fmt.Errorf("unknown --format %q (want %s)", format, strings.Join(report.GraphFormats(), ", "))}
			}
			gr, err := f.stageGraph(g)
			if err != nil {
				return err
			}
			return report.WriteGraph(g.stdio.Out, gr, format)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&format, "format", "text", "output format: "+strings.Join(report.GraphFormats(), "|"))
	return cmd
}
