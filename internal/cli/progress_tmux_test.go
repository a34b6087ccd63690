package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/strata-build/strata/internal/testenv"
)

// tmuxRun is a build shown in a detached tmux of a size, and the panes it
// left: the screen, the screen with its colours, and the whole history.
type tmuxRun struct {
	screen, colored, history string
}

// buildInTmux runs strata build on a tty of width×height in a tmux of its
// own; resize, when set, narrows the window while a RUN step prints.
func buildInTmux(t *testing.T, bin, ctxDir string, width, height int, resize []int) tmuxRun {
	t.Helper()
	sock := fmt.Sprintf("strata-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	tmux := func(args ...string) (string, error) {
		out, err := exec.Command("tmux", append([]string{"-L", sock, "-f", "/dev/null"}, args...)...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { tmux("kill-server") })
	dir := t.TempDir()
	script := filepath.Join(dir, "build.sh")
	body := fmt.Sprintf(`#!/bin/sh
unset NO_COLOR
export DOCKER_CONFIG=%[1]s XDG_CONFIG_HOME=%[1]s
%[2]s --root %[1]s/root build -t tty:1 %[3]s
echo "EXIT=$?"
tmux -L %[4]s wait-for -S built
exec sleep 600
`, dir, bin, ctxDir, sock)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := tmux("new-session", "-d", "-s", "p", "-x", fmt.Sprint(width), "-y", fmt.Sprint(height), script); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	if resize != nil {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			out, _ := tmux("capture-pane", "-p", "-t", "p")
			if strings.Contains(out, "=> => # tick") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no RUN output on the screen:\n%s", out)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if out, err := tmux("resize-window", "-t", "p", "-x", fmt.Sprint(resize[0]), "-y", fmt.Sprint(resize[1])); err != nil {
			t.Fatalf("tmux resize-window: %v: %s", err, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "tmux", "-L", sock, "wait-for", "built").CombinedOutput(); err != nil {
		screen, _ := tmux("capture-pane", "-p", "-t", "p")
		t.Fatalf("waiting for the build: %v: %s\n%s", err, out, screen)
	}
	var r tmuxRun
	var err error
	for _, c := range []struct {
		dst  *string
		args []string
	}{
		{&r.screen, []string{"capture-pane", "-p", "-t", "p"}},
		{&r.colored, []string{"capture-pane", "-p", "-e", "-t", "p"}},
		{&r.history, []string{"capture-pane", "-p", "-S", "-", "-t", "p"}},
	} {
		if *c.dst, err = tmux(c.args...); err != nil {
			t.Fatalf("tmux %v: %v", c.args, err)
		}
	}
	return r
}

var (
	timerRE    = regexp.MustCompile(` \d+\.\ds$`)
	warningsRE = regexp.MustCompile(`^ \d+ warnings? found `) // buildx's summary
	statusRE   = regexp.MustCompile(`^ => => sha256:[0-9a-f]+ +\d+(\.\d+)?[kM]?B / \d+(\.\d+)?[kM]?B +\d+\.\ds$`)
)

// checkScreen checks a finished build's view: one header, a timer at the
// end of every vertex line, nothing wider than the terminal, no fragment
// of an earlier redraw.
func checkScreen(t *testing.T, screen string, width int) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(screen, "\n"), "\n")
	headers, status := 0, false
	var seen []string
	for _, l := range lines {
		if n := len([]rune(l)); n > width {
			t.Errorf("line of %d columns > %d: %q", n, width, l)
		}
		switch {
		case strings.HasPrefix(l, "built sha256:"):
			goto done
		case strings.HasPrefix(l, "[+] Building "):
			headers++
			if !strings.HasSuffix(l, " FINISHED") {
				t.Errorf("last header %q, want FINISHED", l)
			}
		case strings.HasPrefix(l, " => => # "):
			t.Errorf("a finished build shows output line %q", l)
		case strings.HasPrefix(l, " => "):
			if !timerRE.MatchString(l) {
				t.Errorf("vertex line without a timer at the end: %q", l)
			}
			status = status || statusRE.MatchString(l)
			seen = append(seen, l)
		case strings.HasPrefix(l, "WARN: "), strings.HasPrefix(l, " - "), warningsRE.MatchString(l), strings.HasPrefix(l, "EXIT="), l == "":
		default:
			t.Errorf("stale or stray line %q", l)
		}
	}
done:
	if headers != 1 {
		t.Errorf("%d [+] Building lines, want 1", headers)
	}
	if !status {
		t.Errorf("no layer status line (=> => sha256:… N / N) in\n%s", screen)
	}
	all := strings.Join(seen, "\n")
	for _, want := range []string{" => [internal] load metadata for ", " => [base 1/4] FROM ", " => => extracting sha256:", " => [base 2/4] RUN for i in ", " => [base 4/4] COPY Dockerfile /x", " => exporting to image"} {
		if !strings.Contains(all, want) {
			t.Errorf("no %q line in\n%s", want, screen)
		}
	}
	if !strings.Contains(screen, "EXIT=0") {
		t.Errorf("the build failed:\n%s", screen)
	}
}

// TestProgressTTYTmux: the view on real terminals of 80×24 and 160×40,
// and one narrowed from 160×40 to 80×24 while a step prints.
func TestProgressTTYTmux(t *testing.T) {
	testenv.RequireRoot(t)
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (scripts/setup.sh installs it)")
	}
	bin := filepath.Join(t.TempDir(), "strata")
	cmd := exec.Command(goTool(t), "build", "-o", bin, "../../cmd/strata")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building strata: %v\n%s", err, out)
	}
	ctxDir := progressContext(t, progressBase(t))
	for _, tt := range []struct {
		name          string
		width, height int
		resize        []int
	}{
		{"80x24", 80, 24, nil},
		{"160x40", 160, 40, nil},
		{"160x40to80x24", 160, 40, []int{80, 24}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := buildInTmux(t, bin, ctxDir, tt.width, tt.height, tt.resize)
			width := tt.width
			if tt.resize != nil {
				width = tt.resize[0]
			} else if n := strings.Count(r.history, "[+] Building "); n != 1 {
				t.Errorf("the history has %d [+] Building lines, want 1:\n%s", n, r.history)
			}
			// The final view may be taller than the terminal: it is the
			// history from its last header, and the screen its end.
			view := r.history[max(0, strings.LastIndex(r.history, "[+] Building ")):]
			checkScreen(t, view, width)
			for _, l := range strings.Split(r.screen, "\n") {
				if l != "" && !strings.Contains(view, l) {
					t.Errorf("screen line %q is not in the final view:\n%s", l, view)
				}
			}
			if !strings.Contains(r.colored, "\x1b[34m") {
				t.Errorf("no blue (finished) line in the coloured screen:\n%q", r.colored)
			}
		})
	}
}
