package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/strata-build/strata/internal/store"
)

const pruneDockerfile = `FROM busybox AS base
RUN --mount=type=cache,target=/cache echo hi > /cache/x && echo hi > /hi
FROM busybox
COPY --from=base /hi /hi
COPY a.txt /a.txt
`

func pruneContext(t *testing.T, a string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(pruneDockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte(a), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkTagged fails unless every tagged image of the store is valid and
// extractable.
func checkTagged(t *testing.T, root string) {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tags, err := s.Tags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range tags {
		img, err := s.Image(ctx, tg.Digest)
		if err != nil {
			t.Fatalf("%s: %v", tg.Ref, err)
		}
		if err := validate.Image(img); err != nil {
			t.Errorf("validate.Image(%s) = %v", tg.Ref, err)
		}
	}
}

func TestPruneAfterBuilds(t *testing.T) {
	root := buildRoot(t)
	v1dir, v2dir := pruneContext(t, "one"), pruneContext(t, "two")
	mustStrata(t, root, nil, "build", "--progress=plain", "-t", "app:v1", v1dir)
	mustStrata(t, root, nil, "build", "--progress=plain", "-t", "app:v2", v2dir)
	mustStrata(t, root, nil, "rmi", "app:v2")

	out := mustStrata(t, root, nil, "df")
	for _, want := range []string{"TYPE", "RECLAIMABLE", "Images", "Extracted layers", "Build cache", "Cache mounts", "with \"strata prune --all\""} {
		if !strings.Contains(out, want) {
			t.Errorf("strata df output lacks %q:\n%s", want, out)
		}
	}
	out = mustStrata(t, root, nil, "df", "-v")
	if !strings.Contains(out, "COPY a.txt /a.txt") || !strings.Contains(out, "Cache mounts:") {
		t.Errorf("strata df -v lacks the cache records or mounts:\n%s", out)
	}

	// Without -f, "n" keeps everything.
	out = mustStrata(t, root, strings.NewReader("n\n"), "prune")
	if !strings.Contains(out, "Are you sure") || strings.Contains(out, "reclaimed") {
		t.Errorf("declined prune printed:\n%s", out)
	}
	out = mustStrata(t, root, strings.NewReader("y\n"), "prune")
	if !strings.Contains(out, "Deleted images:") || !strings.Contains(out, "Total reclaimed space: ") {
		t.Errorf("strata prune printed:\n%s", out)
	}
	checkTagged(t, root)
	mustStrata(t, root, nil, "run", "--rm", "app:v1", "cat", "/a.txt", "/hi")

	// The cache survived: rebuilding v2 runs nothing.
	_, errs, code := strata(t, root, nil, "build", "--progress=plain", "-t", "app:v2", v2dir)
	if code != 0 || strings.Count(errs, "CACHED") < 3 {
		t.Errorf("rebuild after prune = exit %d, want every step CACHED:\n%s", code, errs)
	}

	out = mustStrata(t, root, nil, "prune", "--all", "-f")
	if !strings.Contains(out, "Deleted build cache records:") || !strings.Contains(out, "Deleted cache mounts:") {
		t.Errorf("strata prune --all printed:\n%s", out)
	}
	checkTagged(t, root)
	if entries, _ := os.ReadDir(filepath.Join(root, "cache")); len(entries) != 0 {
		t.Errorf("%d cache records after prune --all", len(entries))
	}
	_, errs, code = strata(t, root, nil, "build", "--progress=plain", "-t", "app:v3", v1dir)
	if code != 0 || strings.Contains(errs, "CACHED") {
		t.Errorf("rebuild after prune --all = exit %d, want nothing CACHED:\n%s", code, errs)
	}
	mustStrata(t, root, nil, "prune", "-f") // the new build's untagged stage image
	out = mustStrata(t, root, nil, "prune", "-f")
	if !strings.HasSuffix(out, "Total reclaimed space: 0B\n") {
		t.Errorf("prune of a pruned store printed:\n%s", out)
	}
}

func TestPruneWaitsForBuilds(t *testing.T) {
	root := t.TempDir()
	s, err := store.Open(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	release, err := s.BuildLease(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var out, errb strings.Builder
	code := Main(ctx, []string{"--root", root, "prune", "-f"}, Stdio{In: strings.NewReader(""), Out: &out, Err: &errb})
	if code != exitFailure || !strings.Contains(errb.String(), "Waiting for running builds") {
		t.Errorf("prune during a build = exit %d, stderr:\n%s", code, errb.String())
	}
}

func TestPruneFlags(t *testing.T) {
	tests := []struct {
		flags pruneFlags
		want  store.PruneOptions
		bad   bool
	}{
		{},
		{flags: pruneFlags{all: true}, want: store.PruneOptions{All: true}},
		{flags: pruneFlags{keepStorage: "500MB"}, want: store.PruneOptions{KeepStorage: 500e6}},
		{flags: pruneFlags{keepStorage: "2GiB"}, want: store.PruneOptions{KeepStorage: 2 << 30}},
		{flags: pruneFlags{keepStorage: "1.5k"}, want: store.PruneOptions{KeepStorage: 1500}},
		{flags: pruneFlags{keepStorage: "4096"}, want: store.PruneOptions{KeepStorage: 4096}},
		{flags: pruneFlags{filters: []string{"until=24h"}}, want: store.PruneOptions{Until: 24 * time.Hour}},
		{flags: pruneFlags{filters: []string{"until=7d"}}, want: store.PruneOptions{Until: 7 * 24 * time.Hour}},
		{flags: pruneFlags{keepStorage: "lots"}, bad: true},
		{flags: pruneFlags{keepStorage: "5iB"}, bad: true},
		{flags: pruneFlags{filters: []string{"label=x"}}, bad: true},
		{flags: pruneFlags{filters: []string{"until=-1h"}}, bad: true},
		{flags: pruneFlags{filters: []string{"until=soon"}}, bad: true},
		{flags: pruneFlags{filters: []string{"until=2999-01-01"}}, bad: true},
	}
	for _, tt := range tests {
		got, err := tt.flags.options()
		if tt.bad {
			if err == nil {
				t.Errorf("options(%+v) = %+v, want error", tt.flags, got)
			}
			continue
		}
		if err != nil || got.All != tt.want.All || got.KeepStorage != tt.want.KeepStorage || got.Until != tt.want.Until {
			t.Errorf("options(%+v) = %+v, %v, want %+v", tt.flags, got, err, tt.want)
		}
	}
	// A bad flag value is a usage error (exit 2).
	if _, _, code := strata(t, t.TempDir(), nil, "prune", "-f", "--keep-storage", "lots"); code != exitUsage {
		t.Errorf("prune --keep-storage lots = exit %d, want %d", code, exitUsage)
	}
}

func TestParseUntilTime(t *testing.T) {
	now := time.Date(2025, 6, 2, 12, 0, 0, 0, time.UTC)
	got, err := parseUntil("2025-06-01T12:00:00Z", now)
	if err != nil || got != 24*time.Hour {
		t.Errorf("parseUntil(RFC 3339) = %v, %v, want 24h", got, err)
	}
}
