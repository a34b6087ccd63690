package lint

import "github.com/moby/buildkit/frontend/dockerfile/instructions"

func apkAddWithoutNoCache() Rule {
	return hadolintRule("ApkAddWithoutNoCache", "DL3019", Info, "Use the --no-cache switch with apk add",
		"apk add --no-cache <package>", func(in *Input) []Problem {
			return eachRun(in, nil, func(r *instructions.RunCommand, sh shellScript) string {
				if in.cacheMounted(r, "/var/cache/apk", "/etc/apk/cache") {
					return ""
				}
				for _, ins := range sh.Installs() {
					if ins.Manager == "apk" && !ins.Cmd.has("--no-cache") {
						return "Use the `--no-cache` switch to avoid the need to use `--update` and remove `/var/cache/apk/*` when done installing packages"
					}
				}
				return ""
			})
		})
}
