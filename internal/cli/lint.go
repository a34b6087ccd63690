package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/moby/patternmatcher/ignorefile"
	"github.com/spf13/cobra"

	"github.com/strata-build/strata/internal/build"
	"github.com/strata-build/strata/internal/dockerfile"
	"github.com/strata-build/strata/internal/lint"
	"github.com/strata-build/strata/internal/plan"
)

// lintFlags are the flags of `strata lint`.
type lintFlags struct {
	file      string
	format    string
	failOn    string
	config    string
	target    string
	buildArgs []string
	platforms []string
}

func newLintCmd(g *globals) *cobra.Command {
	f := &lintFlags{}
	cmd := &cobra.Command{
		Use:   "lint [flags] [CONTEXT]",
		Short: "Check a Dockerfile against BuildKit's checks, multi-stage and size rules",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{errors.New(`"strata lint" takes at most 1 argument: the build context`)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			contextDir := ""
			if len(args) == 1 {
				contextDir = args[0]
			}
			return runLint(cmd.Context(), g, f, contextDir)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "file", "f", "", "Dockerfile to check (default CONTEXT/Dockerfile; - reads stdin)")
	fl.StringVar(&f.format, "format", "text", "output: text, json or sarif")
	fl.StringVar(&f.failOn, "fail-on", "error", "exit 1 when a finding is at least: error, warning, info or none")
	fl.StringVar(&f.config, "config", "", "lint config (default CONTEXT/.strata.yaml when present)")
	fl.StringVar(&f.target, "target", "", "stage that makes the image (default: the last)")
	fl.StringArrayVar(&f.buildArgs, "build-arg", nil, "build-time variable K=V, for expanding FROM")
	fl.StringSliceVar(&f.platforms, "platform", nil, "the build's target platforms, e.g. linux/amd64,linux/arm64 (rules about emulation need them)")
	return cmd
}

func runLint(ctx context.Context, g *globals, f *lintFlags, contextDir string) error {
	threshold, err := lint.ParseSeverity(f.failOn)
	if err != nil {
		return usageError{fmt.Errorf("invalid --fail-on: %w", err)}
	}
	if f.format != "text" && f.format != "json" && f.format != "sarif" {
		return usageError{fmt.Errorf("invalid --format %q: use text, json or sarif", f.format)}
	}
	args, err := parseBuildArgs(f.buildArgs)
	if err != nil {
		return usageError{err}
	}
	var platforms []string
	if len(f.platforms) > 0 {
		if platforms, err = build.Platforms(f.platforms); err != nil {
			return usageError{fmt.Errorf("invalid --platform: %w", err)}
		}
	}
	if contextDir == "" && f.file != "-" {
		contextDir = "."
		if f.file != "" {
			contextDir = filepath.Dir(f.file)
		}
	}
	src, dfPath, err := readDockerfile(g.stdio.In, f.file, contextDir)
	if err != nil {
		return err
	}
	file, err := dockerfile.Parse(filepath.Base(dfPath), src)
	if err != nil {
		return err
	}
	cfg, err := loadLintConfig(f.config, contextDir)
	if err != nil {
		return err
	}
	lc, err := readLintContext(dfPath, contextDir)
	if err != nil {
		return err
	}
	in, planErr := lintInput(file, f.target, args, platforms)
	in.Context = lc
	rules := lint.Rules()
	findings := lint.Run(in, rules, cfg)
	for i := range findings {
		findings[i].File = filepath.ToSlash(dfPath)
	}
	switch f.format {
	case "json":
		err = lint.WriteJSON(g.stdio.Out, findings)
	case "sarif":
		err = lint.WriteSARIF(g.stdio.Out, rules, findings, filepath.ToSlash(dfPath))
	default:
		err = lint.WriteText(g.stdio.Out, findings)
	}
	if err != nil {
		return fmt.Errorf("writing findings: %w", err)
	}
	if planErr != nil {
		return planErr
	}
	if lint.Failed(findings, threshold) {
		return exitCodeError{exitFailure}
	}
	return nil
}

// lintInput plans file for target and the first of platforms (when
// given) and returns what the rules look at, without the context; a plan
// error leaves the input without a plan.
func lintInput(file *dockerfile.File, target string, args map[string]string, platforms []string) (*lint.Input, error) {
	opts := plan.Options{Target: target, BuildArgs: args, BuildPlatform: build.BuildPlatform()}
	if len(platforms) > 0 {
		opts.TargetPlatform = platforms[0]
	}
	in := &lint.Input{File: file, Platforms: platforms, BuildPlatform: opts.BuildPlatform}
	pl, err := plan.New(file, opts)
	if err != nil {
		return in, err
	}
	in.Plan = pl
	return in, nil
}

// runBuildCheck is `strata build --check` without the build's platforms;
// see runBuildCheckFor.
func runBuildCheck(ctx context.Context, g *globals, file *dockerfile.File, contextDir string, stderr io.Writer) error {
	return runBuildCheckFor(ctx, g, file, contextDir, nil, stderr)
}

// runBuildCheckFor is `strata build --check`: it lints file for the
// build's target platforms (normalised; nil when unknown) with the
// context's .strata.yaml, writes the findings as text to stderr, and fails
// when one is an error. The build calls it before building.
func runBuildCheckFor(ctx context.Context, g *globals, file *dockerfile.File, contextDir string, platforms []string, stderr io.Writer) error {
	cfg, err := loadLintConfig("", contextDir)
	if err != nil {
		return err
	}
	lc, err := readLintContext(filepath.Join(contextDir, file.Name), contextDir)
	if err != nil {
		return err
	}
	in, _ := lintInput(file, "", nil, platforms)
	in.Context = lc
	findings := lint.Run(in, lint.Rules(), cfg)
	if len(findings) > 0 {
		if err := lint.WriteText(stderr, findings); err != nil {
			return fmt.Errorf("writing findings: %w", err)
		}
	}
	n := 0
	for _, f := range findings {
		if f.Severity == lint.Error {
			n++
		}
	}
	if n > 0 {
		return fmt.Errorf("checking Dockerfile: %d lint errors", n)
	}
	return nil
}

// loadLintConfig reads path, or CONTEXT/.strata.yaml (.strata.yml) when
// path is empty; no file means the zero config.
func loadLintConfig(path, contextDir string) (lint.Config, error) {
	cands := []string{path}
	if path == "" {
		if contextDir == "" {
			return lint.Config{}, nil
		}
		cands = []string{filepath.Join(contextDir, ".strata.yaml"), filepath.Join(contextDir, ".strata.yml")}
	}
	for _, p := range cands {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) && path == "" {
			continue
		}
		if err != nil {
			return lint.Config{}, fmt.Errorf("reading lint config: %w", err)
		}
		cfg, err := lint.ParseConfig(b)
		if err != nil {
			return lint.Config{}, fmt.Errorf("reading lint config %s: %w", p, err)
		}
		return cfg, nil
	}
	return lint.Config{}, nil
}

// readLintContext lists the context's top level and reads its
// .dockerignore (<Dockerfile>.dockerignore first, as the build does); nil
// without a context.
func readLintContext(dfPath, contextDir string) (*lint.Context, error) {
	if contextDir == "" {
		return nil, nil
	}
	ents, err := os.ReadDir(contextDir)
	if err != nil {
		return nil, fmt.Errorf("reading context: %w", err)
	}
	lc := &lint.Context{}
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() {
			name += "/"
		}
		lc.Entries = append(lc.Entries, name)
	}
	sort.Strings(lc.Entries)
	for _, p := range []string{dfPath + ".dockerignore", filepath.Join(contextDir, ".dockerignore")} {
		fh, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		pats, err := ignorefile.ReadAll(fh)
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		lc.HasIgnoreFile, lc.Ignore = true, pats
		break
	}
	return lc, nil
}
