package lint

import "github.com/moby/buildkit/frontend/dockerfile/linter"

func exposeInvalidFormat() Rule {
	return buildkitRule(&linter.RuleExposeInvalidFormat, "EXPOSE only the container port (EXPOSE 8080); publish host ports at run time", checkExposeFormat)
}

func checkExposeFormat(in *Input) []Problem {
	return eachPort(in, func(raw, ip, hostPort, proto string) string {
		if ip != "" || hostPort != "" {
			return linter.RuleExposeInvalidFormat.Format(raw)
		}
		return ""
	})
}
