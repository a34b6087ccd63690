package lint

import "github.com/moby/buildkit/frontend/dockerfile/linter"

func reservedStageName() Rule {
	return buildkitRule(&linter.RuleReservedStageName, `rename the stage: "scratch" and "context" are reserved`,
		parseWarnings(linter.RuleReservedStageName.Name))
}
