package lint

import "github.com/moby/buildkit/frontend/dockerfile/linter"

func noEmptyContinuation() Rule {
	return buildkitRule(&linter.RuleNoEmptyContinuation, "remove the empty line inside the continued instruction, or make it a comment",
		parseWarnings(linter.RuleNoEmptyContinuation.Name))
}
