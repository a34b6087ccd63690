package build

import (
	"context"
	"fmt"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// runMounts prepares RUN --mount mounts; cleanup releases them.
func (r *run) runMounts(ctx context.Context, stp step, st *state, c *instructions.RunCommand) ([]specs.Mount, func(), error) {
	ms := instructions.GetMounts(c)
	var out []specs.Mount
	for _, m := range ms {
		switch m.Type {
		case instructions.MountTypeTmpfs:
			opts := []string{"nosuid", "nodev"}
			if m.SizeLimit > 0 {
				opts = append(opts, fmt.Sprintf("size=%d", m.SizeLimit))
			}
			out = append(out, specs.Mount{Destination: m.Target, Type: "tmpfs", Source: "tmpfs", Options: opts})
		default:
			return nil, func() {}, fmt.Errorf("RUN --mount=type=%s is not supported yet", m.Type)
		}
	}
	return out, func() {}, nil
}
