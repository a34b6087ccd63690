package lint

import "github.com/moby/buildkit/frontend/dockerfile/linter"

func fromAsCasing() Rule {
	return buildkitRule(&linter.RuleFromAsCasing, "write FROM ... AS ... or from ... as ..., not a mix",
		parseWarnings(linter.RuleFromAsCasing.Name))
}
