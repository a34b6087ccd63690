package lint

import (
	"regexp"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
)

func secretsUsedInArgOrEnv() Rule {
	return buildkitRule(&linter.RuleSecretsUsedInArgOrEnv, "pass secrets with RUN --mount=type=secret,id=NAME, not ARG or ENV", checkSecrets)
}

// checkSecrets flags ARG and ENV keys that look like secrets, with
// BuildKit's token lists.
func checkSecrets(in *Input) []Problem {
	deny := regexp.MustCompile(`(?i)(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)`)
	allow := regexp.MustCompile(`(?i)(?:_|^)(?:public|file|version)(?:_|$)`)
	var out []Problem
	check := func(inst, key string, c instructions.Command) {
		if deny.MatchString(key) && !allow.MatchString(key) {
			out = append(out, Problem{Line: line(c), Message: linter.RuleSecretsUsedInArgOrEnv.Format(inst, key)})
		}
	}
	for _, st := range in.File.Stages {
		for _, c := range st.Commands {
			switch c := c.(type) {
			case *instructions.ArgCommand:
				for _, a := range c.Args {
					check("ARG", a.Key, c)
				}
			case *instructions.EnvCommand:
				for _, e := range c.Env {
					check("ENV", e.Key, c)
				}
			}
		}
	}
	return out
}
