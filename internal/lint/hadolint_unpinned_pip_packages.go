package lint

import (
	"fmt"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

func unpinnedPipPackages() Rule {
	return hadolintRule("UnpinnedPipPackages", "DL3013", Warning, "Pin versions in pip",
		"pip install <package>==<version>, or pin them in a requirements file and pip install -r requirements.txt", func(in *Input) []Problem {
			return eachRun(in, nil, func(_ *instructions.RunCommand, sh shellScript) string {
				var pkgs []string
				for _, c := range sh.Commands {
					if isPipInstall(c) {
						pkgs = append(pkgs, unpinnedPip(c)...)
					}
				}
				if len(pkgs) == 0 {
					return ""
				}
				return fmt.Sprintf("Pin versions in pip. Instead of `pip install <package>` use `pip install <package>==<version>` "+
					"or `pip install --requirement <requirements file>` (%s)", strings.Join(pkgs, ", "))
			})
		})
}

// unpinnedPip are the requirements of a pip install that name no version,
// as hadolint judges them: none when it installs from a requirements file
// (-r, --requirement), the current directory (".") or under constraints
// (-c, --constraint). A requirement in a variable is not judged.
func unpinnedPip(c simpleCommand) []string {
	args := c.Args[1:]
	if slices.Contains(args, "-r") || slices.Contains(args, "--requirement") || slices.Contains(args, ".") {
		return nil
	}
	for _, a := range args {
		if f := pipFlags(a); slices.Contains(f, "c") || slices.Contains(f, "constraint") {
			return nil
		}
	}
	var out []string
	for _, p := range pipPackages(c) {
		if !pipVersionFixed(p) && !containsVar(p) {
			out = append(out, p)
		}
	}
	return out
}
