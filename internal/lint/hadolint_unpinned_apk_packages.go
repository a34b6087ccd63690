package lint

import "github.com/moby/buildkit/frontend/dockerfile/instructions"

func unpinnedApkPackages() Rule {
	return hadolintRule("UnpinnedApkPackages", "DL3018", Warning, "Pin versions in apk add",
		"apk add <package>=<version>", func(in *Input) []Problem {
			return eachRun(in, nil, func(_ *instructions.RunCommand, sh shellScript) string {
				return unpinned(sh, "apk", "apk add <package>=<version>")
			})
		})
}
