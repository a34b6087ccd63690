package lint

import (
	"sort"

	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// envMap is a shell.EnvGetter over a map.
type envMap map[string]string

var _ shell.EnvGetter = envMap(nil)

func (e envMap) Get(k string) (string, bool) { v, ok := e[k]; return v, ok }

func (e envMap) Keys() []string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (e envMap) clone() envMap {
	out := make(envMap, len(e))
	for k, v := range e {
		out[k] = v
	}
	return out
}

// platformArgs are BuildKit's predefined platform ARGs for a linux/amd64
// build, as FROM sees them.
func platformArgs() envMap {
	return envMap{
		"BUILDPLATFORM": "linux/amd64", "BUILDOS": "linux", "BUILDARCH": "amd64", "BUILDVARIANT": "",
		"TARGETPLATFORM": "linux/amd64", "TARGETOS": "linux", "TARGETARCH": "amd64", "TARGETVARIANT": "",
	}
}

// metaArgs are the values FROM lines see: the global ARGs' defaults (the
// plan's values when there is a plan) and the predefined platform ARGs. The
// declared set also holds global ARGs without a value.
func (in *Input) metaArgs() (env envMap, declared map[string]bool) {
	env, declared = platformArgs(), map[string]bool{}
	for k := range env {
		declared[k] = true
	}
	lex := shell.NewLex(in.File.Escape)
	for _, a := range in.File.MetaArgs {
		for _, kv := range a.Args {
			declared[kv.Key] = true
			if kv.Value != nil {
				v, _, err := lex.ProcessWord(*kv.Value, env)
				if err == nil {
					env[kv.Key] = v
				}
			}
		}
	}
	if in.Plan != nil {
		for k, v := range in.Plan.GlobalArgs {
			env[k] = v
		}
	}
	return env, declared
}
