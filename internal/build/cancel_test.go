package build

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-build/strata/internal/dockerfile"
)

// startSignal is a Progress that closes started when a RUN step first
// writes output.
type startSignal struct {
	once    sync.Once
	started chan struct{}
}

func (s *startSignal) Step(string, int, int, string) (io.Writer, func(bool, error)) {
	return s, func(bool, error) {}
}

func (s *startSignal) Warn(string) {}

func (s *startSignal) Write(p []byte) (int, error) {
	s.once.Do(func() { close(s.started) })
	return len(p), nil
}

func TestCancelledRunLeavesNothing(t *testing.T) {
	forEachIsolation(t, func(t *testing.T, f *fixture) {
		// Only mounts under this test's directories (the store, the
		// sandbox's scratch): other test processes mount elsewhere.
		scope := filepath.Dir(t.TempDir())
		before := mountinfo(t, scope)
		file, err := dockerfile.Parse("Dockerfile", []byte("FROM busybox\nRUN echo started && sleep 1037 && touch /never\n"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		sig := &startSignal{started: make(chan struct{})}
		done := make(chan error, 1)
		go func() {
			_, err := f.b.Build(ctx, Options{File: file, ContextDir: t.TempDir(), Progress: sig})
			done <- err
		}()
		select {
		case <-sig.started:
		case err := <-done:
			t.Fatalf("Build() ended before the step started: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("the RUN step did not start")
		}
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Build() after cancel = %v, want context.Canceled", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Build() did not return after cancel")
		}
		if after := mountinfo(t, scope); after != before {
			t.Errorf("mounts changed by a cancelled build:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		if pids := processesRunning(t, "sleep 1037"); len(pids) > 0 {
			t.Errorf("processes of the cancelled step still run: %v", pids)
		}
		// The store stays usable: the next build works.
		f.mustBuild(buildCase{dockerfile: "FROM busybox\nRUN echo ok > /ok\n"})
	})
}

// mountinfo lists the mounts whose mount point is under scope (mount point
// and root fields; mount IDs may be renumbered).
func mountinfo(t *testing.T, scope string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if fields := strings.Fields(l); len(fields) > 4 && strings.HasPrefix(fields[4], scope) {
			lines = append(lines, strings.Join(fields[3:5], " "))
		}
	}
	return strings.Join(lines, "\n")
}

// processesRunning lists the pids whose command line contains cmd.
func processesRunning(t *testing.T, cmd string) []string {
	t.Helper()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var pids []string
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil {
			continue
		}
		if strings.Contains(strings.ReplaceAll(string(b), "\x00", " "), cmd) {
			pids = append(pids, filepath.Base(d))
		}
	}
	return pids
}

// TestFirstFailureCancelsOtherStages: a failing stage stops a slow
// independent one, and the error is the failure, not the cancellation.
func TestFirstFailureCancelsOtherStages(t *testing.T) {
	f := newFixture(t)
	start := time.Now()
	_, err := f.build(buildCase{dockerfile: "FROM busybox AS slow\nRUN sleep 1038\nFROM busybox AS broken\nRUN exit 9\nFROM scratch\nCOPY --from=slow /bin/sh /a\nCOPY --from=broken /bin/sh /b\n"})
	if err == nil || !strings.Contains(err.Error(), "exit code 9") {
		t.Errorf("Build() = %v, want the failing stage's exit code 9", err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("Build() took %v: the slow stage was not cancelled", took)
	}
	if pids := processesRunning(t, "sleep 1038"); len(pids) > 0 {
		t.Errorf("the slow stage's processes still run: %v", pids)
	}
}
