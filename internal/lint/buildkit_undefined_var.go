package lint

import (
	"fmt"
	"sort"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/command"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/buildkit/util/suggest"
)

func undefinedVar() Rule {
	return buildkitRule(&linter.RuleUndefinedVar, "declare it first with ARG NAME or ENV NAME=value, or fix the spelling", checkUndefinedVar)
}

// checkUndefinedVar expands, as BuildKit's dispatch does, every word of the
// instructions that support variables (not RUN, CMD or ENTRYPOINT, which the
// shell expands) with the stage's environment: the base image's (a stage's,
// ImageEnv, or a table of well-known images), then its ARGs and ENVs in order.
func checkUndefinedVar(in *Input) []Problem {
	// Expand mutates commands: work on a fresh parse of the AST.
	stages, err := expandableStages(in.File.AST)
	if err != nil || len(stages) != len(in.File.Stages) {
		return nil
	}
	globals, _ := in.metaArgs()
	lex := shell.NewLex(in.File.Escape)
	envs := make([]envMap, len(stages))
	var out []Problem
	for i, st := range stages {
		env := in.stageBaseEnv(i, envs)
		args := map[string]bool{}
		for _, c := range st.Commands {
			unmatched := map[string]bool{}
			expand := func(word string) (string, error) {
				res, um, err := lex.ProcessWord(word, env)
				for k := range um {
					unmatched[k] = true
				}
				return res, err
			}
			switch c := c.(type) {
			case *instructions.ArgCommand:
				for _, a := range c.Args {
					if a.Value != nil {
						v, _ := expand(*a.Value)
						env[a.Key] = v
					} else if v, ok := globals[a.Key]; ok {
						env[a.Key] = v
					}
					args[a.Key] = true
				}
			case *instructions.EnvCommand:
				// every value sees the environment before the ENV
				vals := make([]string, len(c.Env))
				for j, kv := range c.Env {
					vals[j], _ = expand(kv.Value)
				}
				for j, kv := range c.Env {
					env[kv.Key] = vals[j]
				}
			case instructions.SupportsSingleWordExpansion:
				_ = c.Expand(expand)
			}
			out = append(out, undefinedProblems(c, unmatched, args, env)...)
		}
		envs[i] = env
	}
	return out
}

// expandableStages parses ast again as instructions.Parse does, leaving
// out the instructions with nothing to expand: RUNs without flags (the
// shell expands their text), CMD, ENTRYPOINT and the others that do not
// implement SupportsSingleWordExpansion. Parsing RUNs is most of the work
// on a long Dockerfile.
func expandableStages(ast *parser.Node) ([]instructions.Stage, error) {
	var stages []instructions.Stage
	for _, n := range ast.Children {
		if !expands(n) {
			continue
		}
		cmd, err := instructions.ParseInstruction(n)
		if err != nil {
			return nil, fmt.Errorf("parsing line %d: %w", n.StartLine, err)
		}
		switch c := cmd.(type) {
		case *instructions.Stage:
			stages = append(stages, *c)
		case *instructions.ArgCommand:
			if len(stages) > 0 { // before the first FROM: a meta ARG
				stages[len(stages)-1].AddCommand(c)
			}
		case instructions.Command:
			if len(stages) == 0 {
				return nil, fmt.Errorf("line %d: %s before the first FROM", n.StartLine, n.Value)
			}
			stages[len(stages)-1].AddCommand(c)
		default:
			return nil, fmt.Errorf("line %d: %T is not a command", n.StartLine, cmd)
		}
	}
	return stages, nil
}

// expands reports whether the instruction of n may expand variables in
// checkUndefinedVar: its command implements SupportsSingleWordExpansion
// (a RUN only through its flags), or it is ARG, ENV or FROM.
func expands(n *parser.Node) bool {
	switch strings.ToLower(n.Value) {
	case command.Run:
		return len(n.Flags) > 0
	case command.Cmd, command.Entrypoint, command.Expose, command.Healthcheck, command.Shell, command.Maintainer, command.Onbuild:
		return false
	}
	return true
}

func undefinedProblems(c instructions.Command, unmatched, args map[string]bool, env envMap) []Problem {
	var names []string
	for k := range unmatched {
		if !args[k] && k != "BUILDKIT_SBOM_SCAN_CONTEXT" && k != "BUILDKIT_SBOM_SCAN_STAGE" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var out []Problem
	for _, k := range names {
		s, _ := suggest.Search(k, env.Keys(), true)
		out = append(out, Problem{Line: line(c), Message: linter.RuleUndefinedVar.Format(k, s)})
	}
	return out
}

// stageBaseEnv is the environment stage i starts with.
func (in *Input) stageBaseEnv(i int, envs []envMap) envMap {
	if p := in.parentIndex(i); p >= 0 && p < i && envs[p] != nil {
		return envs[p].clone()
	}
	env := envMap{"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	ref := in.baseImage(i)
	if ref == "" {
		return env
	}
	names, ok := in.ImageEnv[ref]
	if !ok {
		repo, _, _ := imageName(ref)
		names = wellKnownEnv(repo)
	}
	for _, n := range names {
		env[n] = ""
	}
	return env
}

// wellKnownEnv are the variables the official images of repo set in their
// config, for when the image itself is not at hand.
func wellKnownEnv(repo string) []string {
	switch repo {
	case "golang":
		return []string{"GOLANG_VERSION", "GOTOOLCHAIN", "GOPATH"}
	case "node":
		return []string{"NODE_VERSION", "YARN_VERSION"}
	case "python", "pypy":
		return []string{"LANG", "GPG_KEY", "PYTHON_VERSION", "PYTHON_SHA256", "PYTHON_PIP_VERSION", "PYTHON_GET_PIP_URL", "PYTHON_GET_PIP_SHA256"}
	case "openjdk", "eclipse-temurin", "amazoncorretto", "maven", "gradle":
		return []string{"JAVA_HOME", "JAVA_VERSION", "LANG", "LANGUAGE", "LC_ALL", "MAVEN_HOME", "MAVEN_CONFIG", "GRADLE_HOME", "GRADLE_VERSION"}
	case "ruby":
		return []string{"LANG", "RUBY_VERSION", "RUBY_DOWNLOAD_SHA256", "GEM_HOME", "BUNDLE_SILENCE_ROOT_WARNING", "BUNDLE_APP_CONFIG"}
	case "rust":
		return []string{"RUSTUP_HOME", "CARGO_HOME", "RUST_VERSION"}
	case "php":
		return []string{"PHPIZE_DEPS", "PHP_INI_DIR", "PHP_VERSION", "PHP_URL", "PHP_ASC_URL", "PHP_SHA256", "PHP_CFLAGS", "PHP_CPPFLAGS", "PHP_LDFLAGS", "GPG_KEYS"}
	case "nginx":
		return []string{"NGINX_VERSION", "NJS_VERSION", "NJS_RELEASE", "PKG_RELEASE", "DYNPKG_RELEASE"}
	case "httpd":
		return []string{"HTTPD_PREFIX", "HTTPD_VERSION", "HTTPD_SHA256", "HTTPD_PATCHES"}
	case "postgres":
		return []string{"GOSU_VERSION", "LANG", "PG_MAJOR", "PG_VERSION", "PGDATA"}
	}
	return nil
}
