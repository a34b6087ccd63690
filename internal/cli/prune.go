package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/strata-build/strata/internal/store"
)

type pruneFlags struct {
	all         bool
	force       bool
	keepStorage string
	filters     []string
}

func newPruneCmd(g *globals) *cobra.Command {
	f := &pruneFlags{}
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove untagged images, unused layers and build cache",
		Long: `Remove what no tagged image needs: untagged images and blobs, extracted
layers no image or cache record uses, and cache records whose layer is gone.
The build cache stays unless --all, --keep-storage or --filter until= say
otherwise. Prune waits for running builds to finish.`,
		Args: argsRange(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := f.options()
			if err != nil {
				return usageError{err}
			}
			return runPrune(cmd.Context(), g, f.force, opts)
		},
	}
	cmd.Flags().BoolVarP(&f.all, "all", "a", false, "remove the build cache and cache mounts too: keep only tagged images")
	cmd.Flags().BoolVarP(&f.force, "force", "f", false, "do not prompt for confirmation")
	cmd.Flags().StringVar(&f.keepStorage, "keep-storage", "", "remove least recently used build cache until it is at most this size (e.g. 500MB, 2GiB)")
	cmd.Flags().StringArrayVar(&f.filters, "filter", nil, "only remove what is older than a duration or time (until=24h, until=7d, until=2006-01-02T15:04:05Z)")
	return cmd
}

func (f *pruneFlags) options() (store.PruneOptions, error) {
	opts := store.PruneOptions{All: f.all}
	if f.keepStorage != "" {
		n, err := parseSize(f.keepStorage)
		if err != nil {
			return opts, fmt.Errorf("invalid --keep-storage: %w", err)
		}
		opts.KeepStorage = n
	}
	for _, flt := range f.filters {
		k, v, ok := strings.Cut(flt, "=")
		if !ok || k != "until" {
			return opts, fmt.Errorf("invalid --filter %q: want until=DURATION or until=TIME", flt)
		}
		d, err := parseUntil(v, time.Now())
		if err != nil {
			return opts, fmt.Errorf("invalid --filter %q: %w", flt, err)
		}
		opts.Until = d
	}
	return opts, nil
}

// sizeRE is a byte count with a unit (compiled on first use, not when
// strata starts).
var sizeRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(\d+(?:\.\d+)?)\s*([kKmMgGtTpP]?)(i?)[bB]?$`)
})

// parseSize reads a byte count: "1024", "500MB" or "500M" (decimal),
// "2GiB" (binary).
func parseSize(s string) (int64, error) {
	m := sizeRE().FindStringSubmatch(strings.TrimSpace(s))
	if m == nil || m[2] == "" && m[3] != "" {
		return 0, fmt.Errorf("parsing size %q: want a number with an optional unit (kB, MB, GB, KiB, MiB, GiB, ...)", s)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("parsing size %q: %w", s, err)
	}
	base := 1000.0
	if m[3] != "" {
		base = 1024
	}
	exp := 0
	if m[2] != "" {
		exp = strings.Index("kmgtp", strings.ToLower(m[2])) + 1
	}
	v := n * math.Pow(base, float64(exp))
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("parsing size %q: too large", s)
	}
	return int64(v), nil
}

// parseUntil reads a duration ("24h", "90m", "7d") or a time (RFC 3339 or a
// date), returning how long before now it is.
func parseUntil(v string, now time.Time) (time.Duration, error) {
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.ParseFloat(days, 64); err == nil && n > 0 {
			return time.Duration(n * float64(24*time.Hour)), nil
		}
	}
	if d, err := time.ParseDuration(v); err == nil {
		if d <= 0 {
			return 0, fmt.Errorf("parsing until %q: duration must be positive", v)
		}
		return d, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			if !t.Before(now) {
				return 0, fmt.Errorf("parsing until %q: time is in the future", v)
			}
			return now.Sub(t), nil
		}
	}
	return 0, fmt.Errorf("parsing until %q: want a duration (24h, 7d) or a time (2006-01-02T15:04:05Z)", v)
}

func runPrune(ctx context.Context, g *globals, force bool, opts store.PruneOptions) error {
	if !force {
		ok, err := confirmPrune(g.stdio, opts)
		if err != nil || !ok {
			return err
		}
	}
	s, err := g.openStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	opts.OnWait = func() {
		fmt.Fprintln(g.stdio.Err, "Waiting for running builds to finish (prune needs the store to itself)...")
	}
	opts.InUse = func() ([]v1.Hash, error) { return containerImages(g.root) }
	rep, err := s.Prune(ctx, opts)
	if rep != nil {
		printPruneReport(g.stdio.Out, rep)
	}
	return err
}

// confirmPrune asks, like docker, before removing anything.
func confirmPrune(stdio Stdio, opts store.PruneOptions) (bool, error) {
	what := []string{
		"untagged images and blobs no tagged image uses",
		"extracted layers no image or cache record uses",
		"build cache records whose layer is gone",
	}
	switch {
	case opts.All:
		what = append(what, "all build cache records and cache mounts")
	case opts.KeepStorage > 0 || opts.Until > 0:
		what = append(what, "the least recently used build cache records")
	}
	if opts.Until > 0 {
		what = append(what, fmt.Sprintf("(only what is older than %s)", opts.Until))
	}
	fmt.Fprintf(stdio.Out, "WARNING! This will remove:\n  - %s\nAre you sure you want to continue? [y/N] ", strings.Join(what, "\n  - "))
	line, err := bufio.NewReader(stdio.In).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("reading confirmation: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	fmt.Fprintln(stdio.Out)
	return false, nil
}

var pruneSections = []struct{ kind, title string }{
	{store.KindCacheRecord, "Deleted build cache records:"},
	{store.KindIndex, "Deleted image indexes:"},
	{store.KindImage, "Deleted images:"},
	{store.KindBlob, "Deleted blobs:"},
	{store.KindLayerDir, "Deleted extracted layers:"},
	{store.KindCacheMount, "Deleted cache mounts:"},
}

func printPruneReport(w io.Writer, rep *store.PruneReport) {
	for _, sec := range pruneSections {
		first := true
		for _, r := range rep.Removed {
			if r.Kind != sec.kind {
				continue
			}
			if first {
				fmt.Fprintln(w, sec.title)
				first = false
			}
			fmt.Fprintf(w, "deleted: %s\n", r.ID)
		}
		if !first {
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintf(w, "Total reclaimed space: %s\n", dockerSize(rep.Reclaimed))
}
