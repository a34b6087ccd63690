package lint

import "github.com/moby/buildkit/frontend/dockerfile/instructions"

func cdInsteadOfWorkdir() Rule {
	return hadolintRule("CdInsteadOfWorkdir", "DL3003", Warning, "Use WORKDIR to switch to a directory",
		"WORKDIR /path before the RUN: it creates the directory, and later instructions run there too", func(in *Input) []Problem {
			return eachRun(in, nil, func(_ *instructions.RunCommand, sh shellScript) string {
				for _, c := range sh.Commands {
					if c.Args[0] == "cd" {
						return "Use WORKDIR to switch to a directory"
					}
				}
				return ""
			})
		})
}
