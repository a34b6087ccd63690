package lint

import (
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

func aptListsNotCleaned() Rule {
	return hadolintRule("AptListsNotCleaned", "DL3009", Info, "Delete the apt-get lists after installing something",
		"end the RUN with && rm -rf /var/lib/apt/lists/*, or use a cache mount on /var/lib/apt", func(in *Input) []Problem {
			chain := in.finalChain()
			return eachRun(in, func(i int) bool { return chain[i] }, func(r *instructions.RunCommand, sh shellScript) string {
				if in.cacheMounted(r, "/var/lib/apt", "/var/cache/apt") {
					return ""
				}
				update, clean := false, false
				for _, c := range sh.Commands {
					update = update || c.is("apt-get", "update") || c.is("apt", "update")
					if c.is("rm") {
						for _, a := range c.Args[1:] {
							clean = clean || strings.HasPrefix(a, "/var/lib/apt/lists")
						}
					}
				}
				if update && !clean {
					return "Delete the apt-get lists after installing something"
				}
				return ""
			})
		})
}
