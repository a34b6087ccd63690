package lint

import (
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

func unpinnedAptPackages() Rule {
	return hadolintRule("UnpinnedAptPackages", "DL3008", Warning, "Pin versions in apt-get install",
		"apt-get install <package>=<version>", func(in *Input) []Problem {
			return eachRun(in, nil, func(_ *instructions.RunCommand, sh shellScript) string {
				return unpinned(sh, "apt-get", "apt-get install <package>=<version>")
			})
		})
}

// unpinned lists the packages of manager's installs in sh that carry no
// version, as a message.
func unpinned(sh shellScript, manager, want string) string {
	var pkgs []string
	for _, ins := range sh.Installs() {
		if ins.Manager != manager && !(manager == "apt-get" && ins.Manager == "apt") {
			continue
		}
		for _, p := range ins.Packages {
			if !strings.Contains(p, "=") && !strings.HasSuffix(p, ".deb") && !strings.Contains(p, "/") && !containsVar(p) {
				pkgs = append(pkgs, p)
			}
		}
	}
	if len(pkgs) == 0 {
		return ""
	}
	inst := strings.TrimSuffix(want, " <package>=<version>")
	return fmt.Sprintf("Pin versions in %s. Instead of `%s <package>` use `%s` (%s)", inst, inst, want, strings.Join(pkgs, ", "))
}
