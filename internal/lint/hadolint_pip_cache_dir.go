package lint

import "github.com/moby/buildkit/frontend/dockerfile/instructions"

func pipCacheDir() Rule {
	return hadolintRule("PipCacheDir", "DL3042", Warning, "Avoid use of cache directory with pip",
		"pip install --no-cache-dir <package>, or RUN --mount=type=cache,target=/root/.cache/pip", func(in *Input) []Problem {
			var out []Problem
			for i, st := range in.File.Stages {
				noCache := in.stageEnvSet(i, "PIP_NO_CACHE_DIR")
				for _, c := range st.Commands {
					r, ok := c.(*instructions.RunCommand)
					if !ok || noCache || in.cacheMounted(r) {
						continue
					}
					for _, sc := range in.shell(r).Commands {
						pip := isPipInstall(sc) && !isPipWrapper(sc)
						if pip && !sc.has("--no-cache-dir") && sc.Env["PIP_NO_CACHE_DIR"] == "" {
							out = append(out, Problem{Line: line(r), Message: "Avoid use of cache directory with pip. Use `pip install --no-cache-dir <package>`"})
							break
						}
					}
				}
			}
			return out
		})
}

// stageEnvSet reports whether stage i or a stage it is based on sets the
// ENV or ARG key.
func (in *Input) stageEnvSet(i int, key string) bool {
	seen := map[int]bool{}
	for ; i >= 0 && !seen[i]; i = in.parentIndex(i) {
		seen[i] = true
		for _, c := range in.File.Stages[i].Commands {
			switch c := c.(type) {
			case *instructions.EnvCommand:
				for _, kv := range c.Env {
					if kv.Key == key {
						return true
					}
				}
			case *instructions.ArgCommand:
				for _, kv := range c.Args {
					if kv.Key == key && kv.Value != nil {
						return true
					}
				}
			}
		}
	}
	return false
}
