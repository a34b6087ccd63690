package lint

import (
	"fmt"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/linter"

	"github.com/strata-build/strata/internal/dockerfile"
)

// dispatchRules are BuildKit's checks that dockerfile2llb makes while
// dispatching a stage's instructions, so a build reports them only for the
// stages its target reaches; the others run at parse time, or over every
// stage's FROM, whatever the target.
var dispatchRules = map[string]bool{
	linter.RuleUndefinedVar.Name:                   true,
	linter.RuleJSONArgsRecommended.Name:            true,
	linter.RuleWorkdirRelativePath.Name:            true,
	linter.RuleLegacyKeyValueFormat.Name:           true,
	linter.RuleMultipleInstructionsDisallowed.Name: true,
	linter.RuleSecretsUsedInArgOrEnv.Name:          true,
	linter.RuleExposeProtoCasing.Name:              true,
	linter.RuleExposeInvalidFormat.Name:            true,
	linter.RuleCopyIgnoredFile.Name:                true,
}

// BuildChecks runs BuildKit's build checks as a BuildKit build does: only
// the rules BuildKit has, configured by check alone (the Dockerfile's
// "# check=" directive, or the BUILDKIT_DOCKERFILE_CHECK build arg, which
// replaces it), and the checks BuildKit makes while dispatching only for
// the stages in.Plan reaches (none without a plan: a build that cannot be
// planned dispatches nothing). Findings are warnings, errors with
// error=true.
func BuildChecks(in *Input, check linter.Config) []Finding {
	f := *in.File
	f.Check = check
	bin := *in
	bin.File = &f
	var rules []Rule
	for _, r := range Rules() {
		if r.Family == BuildKit {
			rules = append(rules, r)
		}
	}
	found := Run(&bin, rules, Config{})
	out := found[:0:0]
	for _, fd := range found {
		if !dispatchRules[fd.Rule] || in.Plan != nil && in.reached(fd.Line) {
			out = append(out, fd)
		}
	}
	return out
}

// reached reports whether line lies in a stage the plan builds.
func (in *Input) reached(line int) bool {
	stage := -1
	for i := range in.File.Stages {
		if l := stageLine(&in.File.Stages[i]); l > 0 && l <= line {
			stage = i
		}
	}
	for _, st := range in.Plan.Order {
		if st.Index == stage {
			return true
		}
	}
	return stage < 0
}

// ChecksError is what a build with "# check=error=true" fails with when
// a check fired: BuildKit's "lint violation found for rules: A, B" as a
// *dockerfile.Error of file at the line of the first finding, the rules in
// the order they were found; nil when no finding is an error.
func ChecksError(file string, findings []Finding) error {
	var rules []string
	line := 0
	for _, fd := range findings {
		if fd.Severity != Error {
			continue
		}
		if line == 0 {
			line = fd.Line
		}
		if !slices.Contains(rules, fd.Rule) {
			rules = append(rules, fd.Rule)
		}
	}
	if len(rules) == 0 {
		return nil
	}
	return &dockerfile.Error{File: file, Line: line, Err: fmt.Errorf("lint violation found for rules: %s", strings.Join(rules, ", "))}
}

// Short is a finding as BuildKit prints a build's warning:
// "FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)".
func (f Finding) Short() string {
	return linter.LintFormatShort(f.Rule, f.Message, f.Line)
}
