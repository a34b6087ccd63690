// Package dockerfile is strata's front end: a thin layer over BuildKit's
// frontend/dockerfile parser and instructions packages that turns Dockerfile
// source into typed stages with positions. It does no I/O.
//
// Every error it returns is an *Error naming the file and line, and BuildKit's
// build-check findings made while parsing are kept as File.Warnings.
package dockerfile

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// File is a parsed Dockerfile.
type File struct {
	// Name is how the file is shown in errors, e.g. "Dockerfile".
	Name string
	// Source is the raw text, kept to show offending lines.
	Source []byte
	// Syntax and Escape hold the parser directives (accepted, not acted on
	// beyond what BuildKit's parser does with escape).
	Syntax string
	Escape rune
	// Check is the "# check=" directive as BuildKit parses it (skip rules,
	// error=true); the zero Config when absent. Its Warn is nil.
	Check linter.Config
	// MetaArgs are the global ARGs declared before the first FROM.
	MetaArgs []instructions.ArgCommand
	// Stages in file order.
	Stages []instructions.Stage
	// Warnings are BuildKit build-check findings from parsing, in the
	// order they were found, whatever Check skips.
	Warnings []Warning
	// AST is the raw parse result, for the linter.
	AST *parser.Node
}

// Warning is a non-fatal finding made while parsing.
type Warning struct {
	Rule    string // BuildKit rule name, e.g. "StageNameCasing"
	Message string
	URL     string
	Line    int
}

// Error is an error about the Dockerfile at a line. Its text reads
// "Dockerfile:12: what is wrong", or "Dockerfile: what is wrong" when the
// error is about the whole file (Line 0).
type Error struct {
	File string
	Line int
	Err  error
}

func (e *Error) Error() string {
	if e.Line <= 0 {
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// AtLine wraps err as an *Error of file at line. When err carries a BuildKit
// source location (parser.WithLocation), that line wins over line, and the
// text is BuildKit's message without its "dockerfile parse error on line"
// prefix. An err that already is an *Error is returned unchanged.
func AtLine(file string, line int, err error) error {
	if err == nil {
		return nil
	}
	var de *Error
	if errors.As(err, &de) {
		return err
	}
	var le *parser.LocationError
	if errors.As(err, &le) {
		if l := locationLine(le.Locations); l > 0 {
			line = l
		}
		err = le
	}
	return &Error{File: file, Line: line, Err: err}
}

// locationLine is the first line named by BuildKit locations, 0 if none.
func locationLine(locs [][]parser.Range) int {
	for _, rs := range locs {
		for _, r := range rs {
			if r.Start.Line > 0 {
				return r.Start.Line
			}
		}
	}
	return 0
}

// Parse parses src, naming it name in errors.
func Parse(name string, src []byte) (*File, error) {
	if len(bytes.TrimSpace(src)) == 0 {
		return nil, &Error{File: name, Line: 1, Err: errors.New("the Dockerfile cannot be empty")}
	}
	f := &File{Name: name, Source: src}
	lint, err := f.newLinter()
	if err != nil {
		return nil, err
	}
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		return nil, AtLine(name, 1, err)
	}
	f.AST, f.Escape = res.AST, res.EscapeToken
	f.Syntax, _, _, _ = parser.DetectSyntax(src)
	for _, w := range res.Warnings {
		if w.URL == linter.RuleNoEmptyContinuation.URL && w.Location != nil {
			msg := linter.RuleNoEmptyContinuation.Format()
			lint.Run(&linter.RuleNoEmptyContinuation, []parser.Range{*w.Location}, msg)
		}
	}
	f.Stages, f.MetaArgs, err = instructions.Parse(res.AST, lint)
	if err != nil {
		return nil, AtLine(name, 1, err)
	}
	if len(f.Stages) == 0 {
		return nil, &Error{File: name, Line: firstLine(res.AST), Err: errors.New("dockerfile contains no stages to build")}
	}
	validateStageNames(f.Stages, lint)
	return f, nil
}

// newLinter reads f's check directive into f.Check and builds the linter
// whose findings are appended to f.Warnings.
func (f *File) newLinter() (*linter.Linter, error) {
	opts, _, loc, _ := parser.ParseDirective("check", f.Source)
	cfg, err := linter.ParseLintOptions(opts)
	if err != nil {
		line := locationLine([][]parser.Range{loc})
		return nil, &Error{File: f.Name, Line: max(line, 1), Err: fmt.Errorf("parsing check directive: %w", err)}
	}
	f.Check = *cfg
	// Record what every rule finds: the directive's skip is applied by
	// whoever reports them (a build may replace it with the
	// BUILDKIT_DOCKERFILE_CHECK build arg, as BuildKit does). "# check="
	// comments above an instruction still apply here, as in BuildKit.
	all := &linter.Config{Warn: func(rule, _, url, msg string, loc []parser.Range) {
		line := locationLine([][]parser.Range{loc})
		f.Warnings = append(f.Warnings, Warning{Rule: rule, Message: msg, URL: url, Line: line})
	}}
	return linter.New(all), nil
}

// validateStageNames reports reserved and duplicate stage names as BuildKit's
// dockerfile2llb does: as warnings, not errors.
func validateStageNames(stages []instructions.Stage, lint *linter.Linter) {
	seen := make(map[string]bool)
	for _, st := range stages {
		if st.Name == "" {
			continue
		}
		if st.Name == "context" || st.Name == "scratch" {
			lint.Run(&linter.RuleReservedStageName, st.Location, linter.RuleReservedStageName.Format(st.Name))
		}
		if seen[st.Name] {
			lint.Run(&linter.RuleDuplicateStageName, st.Location, linter.RuleDuplicateStageName.Format(st.Name))
		}
		seen[st.Name] = true
	}
}

// firstLine is the line of the first instruction in ast, 1 if none.
func firstLine(ast *parser.Node) int {
	if ast != nil && len(ast.Children) > 0 && ast.Children[0].StartLine > 0 {
		return ast.Children[0].StartLine
	}
	return 1
}

// ParseTriggers parses the ONBUILD triggers of a base image (or of a parent
// stage), each a single instruction such as "COPY . /app", as BuildKit does
// when a stage starts. escape is the escape token to parse them with; BuildKit
// always uses the default, so pass '\\' (or 0) to match it. The commands carry
// no position: they belong to the FROM line of the stage that runs them, and
// errors are *Error with Line 0 for the caller to place.
func ParseTriggers(name string, triggers []string, escape rune) ([]instructions.Command, error) {
	cmds := make([]instructions.Command, 0, len(triggers))
	for _, t := range triggers {
		src := t
		if escape != 0 && escape != '\\' {
			src = "# escape=" + string(escape) + "\n" + t
		}
		res, err := parser.Parse(bytes.NewReader([]byte(src)))
		if err != nil {
			return nil, &Error{File: name, Err: fmt.Errorf("parsing ONBUILD trigger %q: %w", t, err)}
		}
		if len(res.AST.Children) != 1 {
			return nil, &Error{File: name, Err: fmt.Errorf("parsing ONBUILD trigger %q: onbuild trigger should be a single expression", t)}
		}
		node := res.AST.Children[0]
		node.StartLine, node.EndLine = 0, 0
		cmd, err := instructions.ParseCommand(node)
		if err != nil {
			return nil, &Error{File: name, Err: fmt.Errorf("parsing ONBUILD trigger %q: %w", t, unlocated(err))}
		}
		cmds = append(cmds, cmd)
	}
	return cmds, nil
}

// unlocated strips BuildKit's location wrapper so the text is the message.
func unlocated(err error) error {
	var le *parser.LocationError
	if errors.As(err, &le) {
		return le
	}
	return err
}

// Mounts returns the --mount flags of run with their values expanded by
// expand (nil keeps them as written). BuildKit fills mounts in by expanding
// the command in place; this parses a fresh copy from run's text instead, so
// the parsed Dockerfile is never changed.
func Mounts(run *instructions.RunCommand, expand func(string) (string, error)) ([]*instructions.Mount, error) {
	if len(run.FlagsUsed) == 0 {
		return nil, nil
	}
	res, err := parser.Parse(strings.NewReader(run.String()))
	if err != nil {
		return nil, fmt.Errorf("parsing RUN --mount: %w", err)
	}
	if len(res.AST.Children) != 1 {
		return nil, errors.New("parsing RUN --mount: not one instruction")
	}
	cmd, err := instructions.ParseCommand(res.AST.Children[0])
	if err != nil {
		return nil, fmt.Errorf("parsing RUN --mount: %w", err)
	}
	fresh, ok := cmd.(*instructions.RunCommand)
	if !ok {
		return nil, errors.New("parsing RUN --mount: not a RUN")
	}
	if expand == nil {
		expand = func(w string) (string, error) { return w, nil }
	}
	if err := fresh.Expand(expand); err != nil {
		return nil, err
	}
	return instructions.GetMounts(fresh), nil
}
