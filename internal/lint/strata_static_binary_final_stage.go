package lint

import (
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

func staticBinaryFinalStage() Rule {
	return Rule{
		ID: "StaticBinaryFinalStage", Family: Strata, Severity: Info,
		Summary: "A final stage that only holds a static Go binary can be FROM scratch or distroless",
		URL:     docURL("staticbinaryfinalstage"),
		Fix:     "FROM gcr.io/distroless/static-debian12:nonroot (or scratch, adding CA certificates if needed)",
		Check:   checkStaticBinaryFinal,
	}
}

// checkStaticBinaryFinal flags a final stage that runs nothing, copies from
// a stage building Go with CGO_ENABLED=0, and is based on a distribution
// image: the binary needs none of it.
func checkStaticBinaryFinal(in *Input) []Problem {
	fi := in.finalIndex()
	ref := in.baseImage(fi)
	if ref == "" || strings.Contains(ref, "distroless") || in.isScratch(fi) {
		return nil
	}
	for i := range in.finalChain() {
		if len(in.runs(i)) > 0 {
			return nil
		}
	}
	for _, k := range in.stageRefs(fi) {
		if in.buildsStaticGo(k) {
			return []Problem{{Line: stageLine(&in.File.Stages[fi]), Message: fmt.Sprintf(
				"Final stage only copies a static Go binary from stage %q but is based on %q", in.stageName(k), ref)}}
		}
	}
	return nil
}

// buildsStaticGo reports whether stage k runs go build with CGO_ENABLED=0
// (in the RUN or an ENV of the stage).
func (in *Input) buildsStaticGo(k int) bool {
	cgoOff := false
	for _, c := range in.File.Stages[k].Commands {
		switch c := c.(type) {
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				if kv.Key == "CGO_ENABLED" && strings.Trim(kv.Value, `"'`) == "0" {
					cgoOff = true
				}
			}
		case *instructions.RunCommand:
			for _, sc := range in.shell(c).Commands {
				if (sc.is("go", "build") || sc.is("go", "install")) && (cgoOff || sc.Env["CGO_ENABLED"] == "0") {
					return true
				}
				if sc.is("export") {
					for _, a := range sc.Args[1:] {
						if a == "CGO_ENABLED=0" {
							cgoOff = true
						}
					}
				}
			}
		}
	}
	return false
}

// stageName is stage k's display name.
func (in *Input) stageName(k int) string {
	if n := in.File.Stages[k].Name; n != "" {
		return n
	}
	return fmt.Sprintf("stage-%d", k)
}
