package lint

import (
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/strata-build/strata/internal/dockerfile"
	"github.com/strata-build/strata/internal/plan"
)

// line is the first line of cmd.
func line(cmd instructions.Command) int {
	if loc := cmd.Location(); len(loc) > 0 {
		return loc[0].Start.Line
	}
	return 0
}

// stageLine is the line of st's FROM.
func stageLine(st *instructions.Stage) int {
	if len(st.Location) > 0 {
		return st.Location[0].Start.Line
	}
	return 0
}

// multiStage reports whether the Dockerfile has more than one stage.
func (in *Input) multiStage() bool { return len(in.File.Stages) > 1 }

// finalIndex is the index of the stage that makes the image: the plan's
// target, else the last stage.
func (in *Input) finalIndex() int {
	if in.Plan != nil {
		return in.Plan.Target.Index
	}
	return len(in.File.Stages) - 1
}

// finalChain are the indexes of the stages whose layers end up in the image:
// the final stage and the stages it is based on, FROM by FROM.
func (in *Input) finalChain() map[int]bool {
	chain := map[int]bool{}
	i := in.finalIndex()
	for i >= 0 && !chain[i] {
		chain[i] = true
		i = in.parentIndex(i)
	}
	return chain
}

// parentIndex is the index of the stage that stage i is FROM, or -1.
func (in *Input) parentIndex(i int) int {
	if in.Plan != nil {
		if b := in.Plan.Stages[i].Base; b.Kind == plan.StageRef {
			return b.Stage.Index
		}
		return -1
	}
	return in.stageIndex(in.File.Stages[i].BaseName, i)
}

// stageIndex is the index of the last stage named name before stage before
// (case-insensitive), or -1.
func (in *Input) stageIndex(name string, before int) int {
	for j := before - 1; j >= 0; j-- {
		if in.File.Stages[j].Name != "" && strings.EqualFold(in.File.Stages[j].Name, name) {
			return j
		}
	}
	return -1
}

// baseImage is the image stage i is FROM after ARG expansion ("" when it
// is FROM a stage, scratch or a context), following stage parents.
func (in *Input) baseImage(i int) string {
	seen := map[int]bool{}
	for i >= 0 && !seen[i] {
		seen[i] = true
		if p := in.parentIndex(i); p >= 0 {
			i = p
			continue
		}
		if in.Plan != nil {
			if b := in.Plan.Stages[i].Base; b.Kind == plan.ImageRef {
				return b.Ref
			}
			return ""
		}
		name := in.File.Stages[i].BaseName
		if strings.EqualFold(name, "scratch") {
			return ""
		}
		return name
	}
	return ""
}

// isScratch reports whether stage i (following stage parents) is FROM scratch.
func (in *Input) isScratch(i int) bool {
	seen := map[int]bool{}
	for i >= 0 && !seen[i] {
		seen[i] = true
		if p := in.parentIndex(i); p >= 0 {
			i = p
			continue
		}
		if in.Plan != nil {
			return in.Plan.Stages[i].Base.Kind == plan.Scratch
		}
		return strings.EqualFold(in.File.Stages[i].BaseName, "scratch")
	}
	return false
}

// runs are the RUN commands of stage i.
func (in *Input) runs(i int) []*instructions.RunCommand {
	var out []*instructions.RunCommand
	for _, c := range in.File.Stages[i].Commands {
		if r, ok := c.(*instructions.RunCommand); ok {
			out = append(out, r)
		}
	}
	return out
}

// script is the shell text of a RUN: its command line and heredoc bodies.
func script(c *instructions.RunCommand) string {
	s := strings.Join(c.CmdLine, " ")
	for _, f := range c.Files {
		s += "\n" + f.Data
	}
	return s
}

// cacheMounted reports whether c has a cache mount whose target starts
// with one of prefixes (any cache mount when none are given).
func (in *Input) cacheMounted(c *instructions.RunCommand, prefixes ...string) bool {
	for _, m := range in.mounts(c) {
		if m.Type != instructions.MountTypeCache {
			continue
		}
		if len(prefixes) == 0 {
			return true
		}
		for _, p := range prefixes {
			if strings.HasPrefix(m.Target, p) {
				return true
			}
		}
	}
	return false
}

// imageName splits an image reference into repository (without registry
// and "library/") and tag ("" when absent); digest is set when pinned by
// digest.
func imageName(ref string) (repo, tag string, digest bool) {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref, digest = ref[:i], true
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref, tag = ref[:i], ref[i+1:]
	}
	parts := strings.Split(ref, "/")
	if len(parts) > 1 && (strings.ContainsAny(parts[0], ".:") || parts[0] == "localhost") {
		parts = parts[1:]
	}
	if len(parts) > 1 && parts[0] == "library" {
		parts = parts[1:]
	}
	return strings.ToLower(strings.Join(parts, "/")), tag, digest
}

// fromRefs are the --from values of stage j's COPY and RUN --mount, with
// their commands.
func (in *Input) fromRefs(j int) (froms []string, cmds []instructions.Command) {
	for _, c := range in.File.Stages[j].Commands {
		switch c := c.(type) {
		case *instructions.CopyCommand:
			if c.From != "" {
				froms, cmds = append(froms, c.From), append(cmds, c)
			}
		case *instructions.RunCommand:
			for _, m := range in.mounts(c) {
				if m.From != "" {
					froms, cmds = append(froms, m.From), append(cmds, c)
				}
			}
		}
	}
	return froms, cmds
}

// stageRefs are the indexes of the stages stage j copies or mounts from.
func (in *Input) stageRefs(j int) []int {
	var out []int
	froms, _ := in.fromRefs(j)
	for _, f := range froms {
		if k := in.resolveFrom(f, j); k >= 0 {
			out = append(out, k)
		}
	}
	return out
}

// resolveFrom is the index of the stage a --from value of stage j names
// (a name defined before j, or a number), or -1.
func (in *Input) resolveFrom(from string, j int) int {
	if n, err := strconv.Atoi(from); err == nil {
		if n >= 0 && n < len(in.File.Stages) {
			return n
		}
		return -1
	}
	return in.stageIndex(from, j)
}

// mounts are the --mount flags of c, as written; memoised, for finding
// them parses the RUN again.
func (in *Input) mounts(c *instructions.RunCommand) []*instructions.Mount {
	if ms, ok := in.runMounts[c]; ok {
		return ms
	}
	if in.runMounts == nil {
		in.runMounts = map[*instructions.RunCommand][]*instructions.Mount{}
	}
	ms, _ := dockerfile.Mounts(c, nil)
	in.runMounts[c] = ms
	return ms
}
