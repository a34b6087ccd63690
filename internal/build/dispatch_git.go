package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/strata-build/strata/internal/gitsource"
	"github.com/strata-build/strata/internal/rootfs"
)

// isGitSource reports whether ADD's sources are one git repository
// (https://host/repo.git#ref:subdir, git://...), as BuildKit reads them.
func isGitSource(srcs []string) bool {
	if len(srcs) != 1 {
		return false
	}
	_, ok, _ := gitsource.Parse(srcs[0])
	return ok
}

// fetchGit checks ADD's git source out into tmp, as BuildKit's git source:
// shallow, submodules, .git only with --keep-git-dir; --checksum is the
// commit it must be. The copy takes the checkout's content (its subdir).
// A Dockerfile's repository gets none of the user's credentials.
func (r *run) fetchGit(ctx context.Context, cs copySpec, tmp string) (rootfs.Source, []string, error) {
	ref, _, err := gitsource.Parse(cs.sd.SourcePaths[0])
	if err != nil {
		return nil, nil, err
	}
	if cs.keepGit != nil {
		ref.KeepGitDir = *cs.keepGit
	}
	if cs.checksum != "" {
		ref.Checksum = cs.checksum
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, nil, err
	}
	dir := filepath.Join(tmp, "git")
	if _, err := gitsource.FetchUntrusted(ctx, ref, dir); err != nil {
		return nil, nil, fmt.Errorf("adding %s: %w", gitsource.Redact(cs.sd.SourcePaths[0]), err)
	}
	return rootfs.NewDir(filepath.Join(dir, filepath.FromSlash(ref.Subdir)), nil), []string{"."}, nil
}
