package lint

import "fmt"

func latestBaseImage() Rule {
	return hadolintRule("LatestBaseImage", "DL3007", Warning, "Using latest is prone to errors if the image will ever update",
		"pin a release tag: FROM image:1.2.3", func(in *Input) []Problem {
			return eachBaseImage(in, func(ref string) string {
				if _, tag, digest := imageName(ref); tag == "latest" && !digest {
					return fmt.Sprintf("Using latest is prone to errors if the image will ever update. Pin the version explicitly to a release tag (%s)", ref)
				}
				return ""
			})
		})
}
