package lint

import (
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

func sdkFinalStage() Rule {
	return Rule{
		ID: "SDKFinalStage", Family: Strata, Severity: Warning,
		Summary: "The final stage should not be based on a full SDK image",
		URL:     docURL("sdkfinalstage"),
		Fix:     "build in a stage FROM the SDK image, then COPY --from=that stage into a runtime image (distroless, -slim, alpine or scratch)",
		Check:   checkSDKFinalStage,
	}
}

// checkSDKFinalStage flags a final stage whose base image is a full SDK
// (compilers, package caches, headers: hundreds of MB the program does not
// need at run time).
func checkSDKFinalStage(in *Input) []Problem {
	fi := in.finalIndex()
	ref := in.baseImage(fi)
	repo, tag, _ := imageName(ref)
	if ref == "" || !isSDKImage(repo, tag) {
		return nil
	}
	st := &in.File.Stages[fi]
	for i := range in.finalChain() {
		for _, c := range in.File.Stages[i].Commands {
			if cp, ok := c.(*instructions.CopyCommand); ok && cp.From != "" {
				return []Problem{{Line: stageLine(st), Message: fmt.Sprintf(
					"Final stage is based on the SDK image %q while stage %q builds the artifact; ship it in a runtime image", ref, cp.From)}}
			}
		}
	}
	return []Problem{{Line: stageLine(st), Message: fmt.Sprintf(
		"Image is based on the SDK image %q; build in a separate stage and copy only the artifact into a runtime image", ref)}}
}

// isSDKImage reports whether repo:tag is a full language SDK image.
func isSDKImage(repo, tag string) bool {
	slim := strings.Contains(tag, "slim") || strings.Contains(tag, "alpine")
	switch repo {
	case "golang", "rust", "maven", "gradle", "gcc", "buildpack-deps", "openjdk", "dotnet/sdk", "microsoft/dotnet-sdk", "swift", "haskell", "elixir":
		return true
	case "eclipse-temurin", "amazoncorretto", "ibm-semeru-runtimes":
		return !strings.Contains(tag, "jre")
	case "node", "python", "ruby", "php", "perl", "erlang":
		return !slim
	}
	return false
}
