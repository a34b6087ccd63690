package lint

import (
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/linter"
)

func consistentInstructionCasing() Rule {
	return buildkitRule(&linter.RuleConsistentInstructionCasing, "write every instruction in the same case, usually uppercase",
		checkInstructionCasing)
}

// checkInstructionCasing follows BuildKit's validateCommandCasing: count the
// self-consistent instructions of each case, then flag any instruction not
// in the majority's case.
func checkInstructionCasing(in *Input) []Problem {
	selfConsistent := func(s string) bool { return s == strings.ToLower(s) || s == strings.ToUpper(s) }
	var lower, upper int
	count := func(name string) {
		if selfConsistent(name) {
			if strings.ToLower(name) == name {
				lower++
			} else {
				upper++
			}
		}
	}
	for _, st := range in.File.Stages {
		count(st.OrigCmd)
		for _, c := range st.Commands {
			count(c.Name())
		}
	}
	majorityLower := lower > upper
	var out []Problem
	check := func(name string, line int) {
		want := ""
		if majorityLower && strings.ToLower(name) != name {
			want = "lowercase"
		} else if !majorityLower && strings.ToUpper(name) != name {
			want = "uppercase"
		}
		if want != "" {
			out = append(out, Problem{Line: line, Message: linter.RuleConsistentInstructionCasing.Format(name, want)})
		}
	}
	for i := range in.File.Stages {
		st := &in.File.Stages[i]
		check(st.OrigCmd, stageLine(st))
		for _, c := range st.Commands {
			check(c.Name(), line(c))
		}
	}
	return out
}
