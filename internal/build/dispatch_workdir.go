package build

import (
	"context"
	"os"
	"path"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/strata-build/strata/internal/rootfs"
)

// dispatchWorkdir sets the working directory and creates it, owned by the
// stage's USER as BuildKit does.
func (r *run) dispatchWorkdir(ctx context.Context, stp step, st *state, c *instructions.WorkdirCommand) (*state, bool, error) {
	wd := c.Path
	if !path.IsAbs(wd) {
		wd = path.Join("/", st.img.Config.WorkingDir, wd)
	}
	wd = path.Clean(wd)
	next := st.clone()
	next.img.Config.WorkingDir = wd
	next.workdirSet = true
	if wd == "/" {
		next.history("WORKDIR "+wd, false, r.opts.Timestamp)
		next.key = metaKey(st.key, "WORKDIR "+wd)
		return next, false, nil
	}
	return r.cached(ctx, stp, next, fileKey(st, "WORKDIR "+wd), func(s *state) (*state, error) {
		return r.mkdirWorkdir(ctx, s, wd)
	})
}

func (r *run) mkdirWorkdir(ctx context.Context, st *state, wd string) (*state, error) {
	under, err := st.stack(ctx, r.b.store)
	if err != nil {
		return nil, err
	}
	var owner rootfs.Owner
	if u := st.img.Config.User; u != "" {
		usr, err := rootfs.LookupUser(under, u)
		if err != nil {
			return nil, err
		}
		owner = rootfs.Owner{UID: usr.UID, GID: usr.GID}
	}
	dir, err := r.layerDir(ctx)
	if err != nil {
		return nil, err
	}
	if err := rootfs.MkdirAll(ctx, under, dir, wd, owner); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return r.commitLayer(ctx, st, dir, "WORKDIR "+wd)
}
