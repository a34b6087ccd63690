package lint

import (
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

func aptInstallRecommends() Rule {
	return hadolintRule("AptInstallRecommends", "DL3015", Info, "Avoid additional packages by specifying --no-install-recommends",
		"apt-get install -y --no-install-recommends <package>", func(in *Input) []Problem {
			return eachRun(in, nil, func(_ *instructions.RunCommand, sh shellScript) string {
				for _, ins := range sh.Installs() {
					if ins.Manager != "apt-get" && ins.Manager != "apt" {
						continue
					}
					if !ins.Cmd.has("--no-install-recommends") && !strings.Contains(strings.Join(ins.Cmd.Args, " "), "Install-Recommends=false") {
						return "Avoid additional packages by specifying `--no-install-recommends`"
					}
				}
				return ""
			})
		})
}
