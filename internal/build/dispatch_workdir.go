package build

import (
	"context"
	"os"
	"path"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/strata-build/strata/internal/rootfs"
)

// dispatchWorkdir sets the working directory and creates it, owned by the
// stage's USER resolved as BuildKit's Mkdir resolves it (like --chown:
// "root" and uids need no passwd, unknown names are 0).
func (r *run) dispatchWorkdir(ctx context.Context, stp step, st *state, c *instructions.WorkdirCommand) (*state, bool, error) {
	// As BuildKit's NormalizeWorkdir: a relative path is joined to the
	// current one (and so cleaned), an absolute one is kept as written
	// ("/abs/" stays "/abs/" in the config); the directory made is the
	// clean path.
	wd := c.Path
	if !path.IsAbs(wd) {
		wd = path.Join("/", st.img.Config.WorkingDir, wd)
	}
	dir := path.Clean(wd)
	next := st.clone()
	next.img.Config.WorkingDir = wd
	next.workdirSet = true
	if dir == "/" {
		next.history("WORKDIR "+wd, false, r.opts.Timestamp)
		next.key = metaKey(st.key, "WORKDIR "+wd)
		return next, false, nil
	}
	return r.cached(ctx, stp, next, fileKey(st, "WORKDIR "+wd), func(s *state) (*state, error) {
		return r.mkdirWorkdir(ctx, s, dir, wd)
	})
}

// mkdirWorkdir makes dir, the clean working directory; the history names
// it as the WORKDIR was written (wd).
func (r *run) mkdirWorkdir(ctx context.Context, st *state, dir, wd string) (*state, error) {
	under, err := st.stack(ctx, r.b.store)
	if err != nil {
		return nil, err
	}
	var owner rootfs.Owner
	if u := st.img.Config.User; u != "" {
		if owner, err = rootfs.ChownOwner(under, u); err != nil {
			return nil, err
		}
	}
	layer, err := r.layerDir(ctx)
	if err != nil {
		return nil, err
	}
	if err := rootfs.MkdirAll(ctx, under, layer, dir, owner); err != nil {
		os.RemoveAll(layer)
		return nil, err
	}
	return r.commitLayer(ctx, st, layer, "WORKDIR "+wd)
}
