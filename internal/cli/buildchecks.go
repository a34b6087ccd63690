package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/moby/buildkit/frontend/dockerfile/linter"

	"github.com/strata-build/strata/internal/build"
	"github.com/strata-build/strata/internal/lint"
	"github.com/strata-build/strata/internal/plan"
)

// checkArg is the build arg BuildKit reads its build-check configuration
// from (dockerui's build-arg:BUILDKIT_DOCKERFILE_CHECK) in place of the
// Dockerfile's "# check=" directive, which it then ignores.
const checkArg = "BUILDKIT_DOCKERFILE_CHECK"

// buildChecks runs BuildKit's build checks on what opts builds, as every
// BuildKit build does, and returns what they found. With error=true a
// check that fired is an error (BuildKit's "lint violation found for
// rules: ..."), returned before any step runs. Of strata's own lint rules
// only EmulatedCompile runs (a warning, when a target platform is foreign:
// the build is about to emulate a compiler); the others are left to
// `strata lint` and --check. When the Dockerfile cannot be planned
// only the checks BuildKit makes before dispatching run, and the build
// reports why it cannot be built.
func buildChecks(opts build.Options) ([]lint.Finding, error) {
	check := opts.File.Check
	if v, ok := opts.BuildArgs[checkArg]; ok {
		cfg, err := linter.ParseLintOptions(v)
		if err != nil {
			return nil, fmt.Errorf("parsing build-arg %s: %w", checkArg, err)
		}
		check = *cfg
	}
	names := map[string]bool{}
	for n := range opts.Contexts {
		names[n] = true
	}
	pl, planErr := plan.New(opts.File, plan.Options{
		Target: opts.Target, BuildArgs: opts.BuildArgs, TargetPlatform: opts.Platforms[0],
		BuildPlatform: build.BuildPlatform(), Contexts: names,
	})
	in := &lint.Input{File: opts.File, Platforms: opts.Platforms, BuildPlatform: build.BuildPlatform()}
	if planErr == nil {
		in.Plan = pl
	}
	if opts.ContextDir != "" {
		in.Context = &lint.Context{HasIgnoreFile: len(opts.Ignore) > 0, Ignore: opts.Ignore}
	}
	found := lint.BuildChecks(in, check)
	if planErr != nil {
		return found, nil // the build fails with planErr first, as BuildKit's
	}
	if err := lint.ChecksError(opts.File.Name, found); err != nil {
		return found, err
	}
	for _, r := range lint.Rules() {
		if r.ID == "EmulatedCompile" {
			found = append(found, lint.Run(in, []lint.Rule{r}, lint.Config{})...)
		}
	}
	return found, nil
}

// printCheckWarnings writes findings as BuildKit's progress shows a build's
// warnings: "WARN: FromAsCasing: 'as' and 'FROM' keywords' casing do not
// match (line 1)"; rawjson emits them as warning events, quiet not at all.
func printCheckWarnings(mode string, w io.Writer, p build.Progress, findings []lint.Finding) {
	switch mode {
	case "quiet":
	case "rawjson":
		for _, f := range findings {
			warnFinding(p, f)
		}
	default:
		shorts := make([]string, len(findings))
		for i, f := range findings {
			shorts[i] = f.Short()
		}
		printWarningSummary(w, isTerminal(w) && os.Getenv("NO_COLOR") == "", shorts)
	}
}
