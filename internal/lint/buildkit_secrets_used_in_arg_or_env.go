package lint

import (
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
)

func secretsUsedInArgOrEnv() Rule {
	return buildkitRule(&linter.RuleSecretsUsedInArgOrEnv, "pass secrets with RUN --mount=type=secret,id=NAME, not ARG or ENV", checkSecrets)
}

// checkSecrets flags ARG and ENV keys that look like secrets, with
// BuildKit's token lists.
func checkSecrets(in *Input) []Problem {
	var out []Problem
	check := func(inst, key string, c instructions.Command) {
		if hasToken(key, secretTokens()) && !hasToken(key, []string{"public", "file", "version"}) {
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

// secretTokens are the words of BuildKit's deny list.
func secretTokens() []string {
	return []string{"apikey", "auth", "credential", "credentials", "key", "password", "pword", "passwd", "secret", "token"}
}

// hasToken reports whether one of the "_"-separated words of key is one of
// tokens, ignoring case: what BuildKit's `(?i)(?:_|^)(?:a|b)(?:_|$)`
// patterns match, without compiling them for every Dockerfile.
func hasToken(key string, tokens []string) bool {
	for word := range strings.SplitSeq(key, "_") {
		for _, t := range tokens {
			if strings.EqualFold(word, t) {
				return true
			}
		}
	}
	return false
}
