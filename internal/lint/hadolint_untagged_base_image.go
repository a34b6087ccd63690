package lint

import "fmt"

func untaggedBaseImage() Rule {
	return hadolintRule("UntaggedBaseImage", "DL3006", Warning, "Always tag the version of an image explicitly",
		"FROM image:version (or image@sha256:digest)", func(in *Input) []Problem {
			return eachBaseImage(in, func(ref string) string {
				if _, tag, digest := imageName(ref); tag == "" && !digest {
					return fmt.Sprintf("Always tag the version of an image explicitly (%s)", ref)
				}
				return ""
			})
		})
}
