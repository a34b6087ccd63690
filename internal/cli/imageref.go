package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/docker/go-units"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/strata-build/strata/internal/store"
)

// Helpers shared by the image commands (images, pull, push, tag, rmi, save,
// load, import, inspect, history). Image IDs are manifest digests, as with
// Docker's containerd image store; short IDs are their first 12 hex digits.

// argsRange is cobra.RangeArgs returning a usage error.
func argsRange(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < lo || (hi >= 0 && len(args) > hi) {
			return usageError{fmt.Errorf("%q: wrong number of arguments\nusage: %s", cmd.CommandPath(), cmd.UseLine())}
		}
		return nil
	}
}

// shortID is the 12-digit form of an image ID.
func shortID(h v1.Hash) string { return h.Hex[:12] }

// familiarRef turns a normalised ref into the form Docker shows:
// "docker.io/library/busybox:latest" is "busybox:latest".
func familiarRef(full string) string {
	if s, ok := strings.CutPrefix(full, "docker.io/library/"); ok {
		return s
	}
	return strings.TrimPrefix(full, "docker.io/")
}

// splitRef splits a familiar ref into repository and tag.
func splitRef(ref string) (repo, tag string) {
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ref, "<none>"
	}
	return ref[:i], ref[i+1:]
}

// tagsOf lists the familiar tags pointing at h.
func tagsOf(ctx context.Context, s *store.Store, h v1.Hash) ([]string, error) {
	all, err := s.Tags(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range all {
		if t.Digest == h {
			out = append(out, familiarRef(t.Ref))
		}
	}
	return out, nil
}

// layersSize sums the compressed sizes of img's layers.
func layersSize(img v1.Image) (int64, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, l := range m.Layers {
		n += l.Size
	}
	return n, nil
}

// ago renders t like Docker's CREATED column.
func ago(t time.Time, now time.Time) string {
	if t.IsZero() {
		return "N/A"
	}
	return units.HumanDuration(now.Sub(t)) + " ago"
}

// dockerSize renders a byte count like Docker's SIZE column.
func dockerSize(n int64) string { return units.HumanSizeWithPrecision(float64(n), 3) }

// isTerminal reports whether w is a character device: a file, or a
// stream that stands for one (a held stream of the try outside the user
// namespace).
func isTerminal(w any) bool {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return false
	}
	var st unix.Stat_t
	return unix.Fstat(int(f.Fd()), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR
}
