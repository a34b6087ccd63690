package plan

import (
	"runtime"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/dockerfile"
)

// argEnv is an ordered set of ARG values, a shell.EnvGetter.
type argEnv struct {
	keys []string
	vals map[string]string
}

func newArgEnv() *argEnv { return &argEnv{vals: make(map[string]string)} }

// Get returns the value of key.
func (e *argEnv) Get(key string) (string, bool) {
	v, ok := e.vals[key]
	return v, ok
}

// Keys lists the keys in the order they were first set.
func (e *argEnv) Keys() []string { return slices.Clone(e.keys) }

func (e *argEnv) set(key, value string) {
	if _, ok := e.vals[key]; !ok {
		e.keys = append(e.keys, key)
	}
	e.vals[key] = value
}

// globals computes the predefined and global ARGs as BuildKit's defaultArgs
// and buildMetaArgs do: predefined platform ARGs (overridable by
// --build-arg), then each global ARG in order, a --build-arg winning over its
// default, a default expanded with the ARGs before it.
func (pl *planner) globals() error {
	env := newArgEnv()
	for _, kv := range predefinedArgs(pl.opts, pl.targetName()) {
		v := kv[1]
		if ov, ok := pl.opts.BuildArgs[kv[0]]; ok {
			v = ov
		}
		env.set(kv[0], v)
	}
	for _, cmd := range pl.f.MetaArgs {
		for _, kv := range cmd.Args {
			if v, ok := pl.opts.BuildArgs[kv.Key]; ok {
				env.set(kv.Key, v)
				continue
			}
			if kv.Value == nil {
				continue
			}
			v, _, err := pl.lex.ProcessWord(*kv.Value, env)
			if err != nil {
				return dockerfile.AtLine(pl.f.Name, cmd.Location()[0].Start.Line, err)
			}
			env.set(kv.Key, v)
		}
	}
	pl.env = env
	pl.p = &Plan{
		File:       pl.f,
		GlobalArgs: env.vals,
		ProxyArgs:  proxyArgs(pl.opts.BuildArgs),
		opts:       pl.opts,
		byName:     make(map[string]*Stage),
	}
	return nil
}

// targetName is the value of TARGETSTAGE: the target, else the last stage's
// name, else "default".
func (pl *planner) targetName() string {
	t := pl.opts.Target
	if t == "" {
		t = pl.f.Stages[len(pl.f.Stages)-1].Name
	}
	if t == "" {
		return "default"
	}
	return t
}

// predefinedArgs are BuildKit's automatic platform ARGs (dockerfile2llb
// defaultArgs) in its order.
func predefinedArgs(opts Options, target string) [][2]string {
	bp := parsePlatform(opts.BuildPlatform, v1.Platform{OS: "linux", Architecture: runtime.GOARCH})
	tp := parsePlatform(opts.TargetPlatform, bp)
	return [][2]string{
		{"BUILDPLATFORM", formatPlatform(bp)},
		{"BUILDOS", bp.OS},
		{"BUILDOSVERSION", bp.OSVersion},
		{"BUILDARCH", bp.Architecture},
		{"BUILDVARIANT", bp.Variant},
		{"TARGETPLATFORM", formatPlatform(tp)},
		{"TARGETOS", tp.OS},
		{"TARGETOSVERSION", tp.OSVersion},
		{"TARGETARCH", tp.Architecture},
		{"TARGETVARIANT", tp.Variant},
		{"TARGETSTAGE", target},
	}
}

// parsePlatform parses "os/arch[/variant]", def when s is empty or invalid
// (the caller validates --platform).
func parsePlatform(s string, def v1.Platform) v1.Platform {
	if s == "" {
		return def
	}
	p, err := v1.ParsePlatform(s)
	if err != nil || p.OS == "" || p.Architecture == "" {
		return def
	}
	return *p
}

func formatPlatform(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// proxyArgs picks the predefined proxy ARGs out of build args.
func proxyArgs(buildArgs map[string]string) map[string]string {
	out := make(map[string]string)
	for k, v := range buildArgs {
		switch strings.ToLower(k) {
		case "http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy":
			out[k] = v
		}
	}
	return out
}

// ArgValue returns the value an ARG instruction inside a stage gives key,
// declared with default def (nil when "ARG key" has none), as BuildKit's
// dispatchArg does: a --build-arg wins; else the default, which the caller
// must expand with the stage's environment (expand is true); else, for an
// ARG without default, the global ARG's value. ok is false when the ARG
// stays unset. A stage FROM another stage also starts with the ARGs its
// parent declared (BuildKit appends them): the build carries those.
func (p *Plan) ArgValue(key string, def *string) (value string, expand, ok bool) {
	if v, ok := p.opts.BuildArgs[key]; ok {
		return v, false, true
	}
	if def != nil {
		return *def, true, true
	}
	v, ok := p.GlobalArgs[key]
	return v, false, ok
}
