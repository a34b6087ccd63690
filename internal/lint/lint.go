// Package lint owns strata's Dockerfile linter: rules as data (BuildKit's
// build checks under their own names, strata's multi-stage and size rules,
// and the hadolint rules most users rely on, with their DL codes as aliases),
// one file per rule, and findings with positions rendered as text, JSON or
// SARIF.
//
// It is pure: the CLI reads the Dockerfile, the context listing and the
// .dockerignore and hands them over in an Input. It must not import build,
// sandbox, store or registry.
package lint

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/strata-build/strata/internal/dockerfile"
	"github.com/strata-build/strata/internal/plan"
)

// Severity ranks a finding.
type Severity int

// The severities, lowest first. Off disables a rule.
const (
	Off Severity = iota
	Info
	Warning
	Error
)

func (s Severity) String() string {
	switch s {
	case Off:
		return "off"
	case Info:
		return "info"
	case Warning:
		return "warning"
	case Error:
		return "error"
	}
	return fmt.Sprintf("Severity(%d)", int(s))
}

// ParseSeverity reads "error", "warning", "info" or "off" ("none" too).
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "error":
		return Error, nil
	case "warning", "warn":
		return Warning, nil
	case "info":
		return Info, nil
	case "off", "none", "ignore":
		return Off, nil
	}
	return Off, fmt.Errorf("unknown severity %q: want error, warning, info or off", s)
}

// Family says where a rule comes from.
type Family string

// The rule families.
const (
	BuildKit Family = "buildkit" // BuildKit's build checks, same names and meaning
	Strata   Family = "strata"   // multi-stage and size rules of our own
	Hadolint Family = "hadolint" // hadolint's rules, by our name with the DL code as alias
)

// Rule is one check, as data.
type Rule struct {
	ID       string   // e.g. "FromAsCasing"
	Aliases  []string // e.g. "DL3006"
	Family   Family
	Severity Severity // default severity
	Summary  string   // one line: what the rule wants
	URL      string   // documentation
	Fix      string   // default fix hint
	// Check reports the rule's problems in in. It must not modify in.
	Check func(in *Input) []Problem
}

// Problem is what a check reports: a line and a message, optionally a
// fix hint more precise than the rule's.
type Problem struct {
	Line    int
	Message string
	Fix     string
}

// Finding is a problem with its rule, severity and position resolved.
type Finding struct {
	Rule     string   `json:"rule"`
	Aliases  []string `json:"aliases,omitempty"`
	Severity Severity `json:"-"`
	Message  string   `json:"message"`
	Fix      string   `json:"fix,omitempty"`
	URL      string   `json:"url,omitempty"`
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Column   int      `json:"column"`
	// Source is the text of the offending line.
	Source string `json:"source,omitempty"`
}

// Input is everything a rule may look at.
type Input struct {
	// File is the parsed Dockerfile.
	File *dockerfile.File
	// Plan is the stage graph of File pruned to the target; nil when
	// planning failed (rules needing it then report nothing).
	Plan *plan.Plan
	// Context describes the build context; nil when there is none (a
	// Dockerfile on stdin).
	Context *Context
	// ImageEnv optionally gives the environment variable names of base
	// images by reference as written after expansion, e.g. from a local
	// store. Names not listed fall back to a table of well-known images.
	ImageEnv map[string][]string
	// Platforms are the build's target platforms, normalised as the build
	// does ("linux/arm64", "linux/arm/v7"); BuildPlatform is the platform
	// the build runs on. Rules about emulation report nothing without them.
	Platforms     []string
	BuildPlatform string

	// shells memoises parsed RUN scripts across rules; runMounts their
	// --mount flags.
	shells    map[*instructions.RunCommand]shellScript
	runMounts map[*instructions.RunCommand][]*instructions.Mount
}

// shell is the parsed shell text of r.
func (in *Input) shell(r *instructions.RunCommand) shellScript {
	if sh, ok := in.shells[r]; ok {
		return sh
	}
	if in.shells == nil {
		in.shells = map[*instructions.RunCommand]shellScript{}
	}
	sh := parseShell(script(r))
	sh.installs, sh.installsKnown = osInstalls(sh), true // four rules look at them
	in.shells[r] = sh
	return sh
}

// Context is what the linter knows of the build context.
type Context struct {
	// Entries are the top-level names in the context, directories with a
	// trailing "/".
	Entries []string
	// HasIgnoreFile is whether a .dockerignore (or Dockerfile.dockerignore)
	// exists; Ignore are its patterns.
	HasIgnoreFile bool
	Ignore        []string
}

// Config adjusts rules: ignores and severity overrides, by ID or alias.
type Config struct {
	Ignore   []string
	Severity map[string]Severity
}

// Run checks in with rules and returns the findings sorted by line, then
// rule. It honours the Dockerfile's "# check=skip=...;error=true" directive
// (skip applies to any rule, error=true raises BuildKit's checks to errors),
// "# strata:ignore=RULE" and "# check=skip=RULE" comments directly above an
// instruction, hadolint's "# hadolint ignore=DL3008" (the next instruction)
// and "# hadolint global ignore=DL3008" (the file) pragmas, and cfg.
func Run(in *Input, rules []Rule, cfg Config) []Finding {
	var out []Finding
	lines := strings.Split(string(in.File.Source), "\n")
	hadolint := readPragmas(lines)
	for _, r := range rules {
		sev := r.Severity
		if in.File.Check.ReturnAsError && r.Family == BuildKit {
			sev = Error
		}
		if s, ok := override(r, cfg.Severity); ok {
			sev = s
		}
		if sev == Off || matches(r, cfg.Ignore) || skippedByDirective(in.File, r) {
			continue
		}
		for _, p := range r.Check(in) {
			if ignoredInline(lines, p.Line, r) || hadolint.ignores(r, p.Line) {
				continue
			}
			out = append(out, newFinding(in.File.Name, lines, r, sev, p))
		}
	}
	return sortFindings(out)
}

// sortFindings orders fs by line, then rule, keeping the order of
// findings equal in both. It sorts indices: a Finding is large, and a
// stable sort moves elements many times.
func sortFindings(fs []Finding) []Finding {
	idx := make([]int, len(fs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(i, j int) int {
		if c := cmp.Compare(fs[i].Line, fs[j].Line); c != 0 {
			return c
		}
		if c := strings.Compare(fs[i].Rule, fs[j].Rule); c != 0 {
			return c
		}
		return cmp.Compare(i, j)
	})
	out := make([]Finding, len(fs))
	for k, i := range idx {
		out[k] = fs[i]
	}
	return out
}

func newFinding(file string, lines []string, r Rule, sev Severity, p Problem) Finding {
	f := Finding{
		Rule: r.ID, Aliases: r.Aliases, Severity: sev, Message: p.Message,
		Fix: p.Fix, URL: r.URL, File: file, Line: max(p.Line, 1), Column: 1,
	}
	if f.Fix == "" {
		f.Fix = r.Fix
	}
	if f.Line <= len(lines) {
		f.Source = strings.TrimRight(lines[f.Line-1], "\r")
		f.Column = 1 + len(f.Source) - len(strings.TrimLeft(f.Source, " \t"))
	}
	return f
}

// names are the rule's ID and aliases.
func names(r Rule) []string { return append([]string{r.ID}, r.Aliases...) }

// matches reports whether list names r (case-insensitive) or is "all".
func matches(r Rule, list []string) bool {
	for _, n := range list {
		for _, m := range names(r) {
			if strings.EqualFold(n, m) {
				return true
			}
		}
	}
	return false
}

func override(r Rule, sev map[string]Severity) (Severity, bool) {
	for k, v := range sev {
		if matches(r, []string{k}) {
			return v, true
		}
	}
	return Off, false
}

// skippedByDirective applies "# check=skip=": a list of names, or all
// (which covers BuildKit's checks only, as in BuildKit).
func skippedByDirective(f *dockerfile.File, r Rule) bool {
	if f.Check.SkipAll && r.Family == BuildKit {
		return true
	}
	return matches(r, f.Check.SkipRules)
}

// ignoredInline reports whether the comment lines directly above line (an
// instruction's first line, 1-based) hold "strata:ignore=" or "check=skip="
// naming r. The parser directives heading the file are not such comments
// (as in BuildKit): "# check=" there is the file's directive, which a build
// may replace.
func ignoredInline(lines []string, line int, r Rule) bool {
	directives := 0
	for directives < len(lines) && directiveLine().MatchString(lines[directives]) {
		directives++
	}
	for i := line - 2; i >= directives && i < len(lines); i-- {
		l := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(l, "#") {
			return false
		}
		l = strings.TrimSpace(strings.TrimPrefix(l, "#"))
		for _, key := range []string{"strata:ignore=", "check=skip="} {
			if v, ok := strings.CutPrefix(l, key); ok {
				v, _, _ = strings.Cut(v, ";")
				list := strings.FieldsFunc(v, func(c rune) bool { return c == ',' || c == ' ' })
				if slices.Contains(list, "all") || matches(r, list) {
					return true
				}
			}
		}
	}
	return false
}

// directiveLine is a parser directive, as BuildKit's parser reads them
// (compiled on first use, not when strata starts).
var directiveLine = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`)
})

// Failed reports whether findings hold one at or above threshold (Off: never).
func Failed(findings []Finding, threshold Severity) bool {
	if threshold == Off {
		return false
	}
	for _, f := range findings {
		if f.Severity >= threshold {
			return true
		}
	}
	return false
}
