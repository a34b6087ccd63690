package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ociVersion is the runtime-spec version written in bundles.
const ociVersion = "1.0.2"

// ociRunner hands each step to an OCI runtime (runc or crun) as a bundle
// whose root is an overlay strata mounts on the host for the step.
type ociRunner struct {
	runtime string
	opts    Options
	mode    rootMode
	filters filters
}

var _ Runner = (*ociRunner)(nil)

// NewOCI returns the OCI backend. runtime is "runc", "crun", a path, or ""
// for the first of runc and crun found on PATH.
func NewOCI(runtime string, opts Options) Runner {
	return &ociRunner{runtime: runtime, opts: opts}
}

// findRuntime resolves the runtime to run.
func findRuntime(name string) (string, error) {
	names := []string{name}
	if name == "" {
		names = []string{"runc", "crun"}
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("finding OCI runtime: none of %s on PATH", strings.Join(names, ", "))
}

func (o *ociRunner) Run(ctx context.Context, step *Step) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("running step: %w", err)
	}
	runtime, err := findRuntime(o.runtime)
	if err != nil {
		return err
	}
	if err := step.check(); err != nil {
		return err
	}
	if step.Spec.Process.Terminal {
		return errors.New("checking step: a terminal needs the builtin sandbox, not the oci backend")
	}
	dir, err := newStepDir(o.opts.TempDir, step.hostname(), step.Hosts)
	if err != nil {
		return err
	}
	err = errNoOverlay
	if o.mode == overlayRoot {
		err = o.runOverlay(ctx, runtime, step, dir)
	}
	if errors.Is(err, errNoOverlay) {
		err = withCopiedRoot(step, dir, func(root string) (*stubs, error) {
			return o.runBundle(ctx, runtime, step, dir, root)
		})
	}
	// remove never recurses: a root left mounted makes it fail, not
	// delete through the mount.
	return errors.Join(err, dir.remove())
}

// runOverlay mounts the step's overlay on the host, runs the bundle, and
// unmounts it whatever happened, then removes the mount stubs from upper.
func (o *ociRunner) runOverlay(ctx context.Context, runtime string, step *Step, dir *stepDir) (err error) {
	lower := step.Lower
	if len(lower) == 0 {
		lower = []string{dir.empty}
	}
	if err := mountOverlay(dir.root, lower, step.Upper, step.Work); err != nil {
		return err
	}
	st, err := o.runBundle(ctx, runtime, step, dir, dir.root)
	if uerr := unmount(dir.root); uerr != nil {
		return errors.Join(err, uerr)
	}
	return errors.Join(err, st.clean(step.Upper))
}

// unmount unmounts target, retrying while the runtime lets go of it, and
// detaching it as a last resort.
func unmount(target string) error {
	var err error
	for range 50 {
		if err = unix.Unmount(target, 0); err == nil || errors.Is(err, unix.EINVAL) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if derr := unix.Unmount(target, unix.MNT_DETACH); derr == nil {
		return nil
	}
	return fmt.Errorf("unmounting step root: %w", err)
}

// runBundle makes the mount points in root, writes the bundle and runs it.
func (o *ociRunner) runBundle(ctx context.Context, runtime string, step *Step, dir *stepDir, root string) (*stubs, error) {
	s, err := completeSpec(step, root, dir.etc, &o.filters)
	if err != nil {
		return nil, err
	}
	// crun 1.8 refuses any version but 1.0.x; the fields used are all 1.0.
	s.Version = ociVersion
	st := &stubs{}
	if err := makeMountPoints(root, s, st); err != nil {
		return st, err
	}
	if _, err := mkdirIn(root, s.Process.Cwd); err != nil {
		return st, err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return st, fmt.Errorf("writing bundle: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir.dir, "config.json"), b, 0o600); err != nil {
		return st, fmt.Errorf("writing bundle: %w", err)
	}
	return st, runContainer(ctx, runtime, step, dir.dir)
}

// makeMountPoints creates the mount points the runtime would otherwise
// create in the upper dir, so they are known and removed afterwards. Those
// inside another mount (like /dev/pts in the /dev tmpfs) are left to the
// runtime.
func makeMountPoints(root string, s *specs.Spec, st *stubs) error {
	for i, m := range s.Mounts {
		if nested(s.Mounts[:i], m.Destination) {
			continue
		}
		if _, err := st.ensure(root, m.Destination, !isDirSource(m)); err != nil {
			return err
		}
	}
	return nil
}

func nested(earlier []specs.Mount, dest string) bool {
	dest = cleanDest(dest)
	for _, m := range earlier {
		d := cleanDest(m.Destination)
		if d == "/" || strings.HasPrefix(dest, d+"/") {
			return true
		}
	}
	return false
}

// runContainer runs the bundle in the foreground with the step's stdio.
// On cancel it kills the container's init (so the kernel kills its PID
// namespace) and deletes the container.
func runContainer(ctx context.Context, runtime string, step *Step, bundle string) error {
	id := containerID()
	pidFile := filepath.Join(bundle, "pid")
	// In a user namespace the runtime's default state dir (/run/runc) is
	// the host root's: keep the state in the bundle.
	var global []string
	if inUserNS() {
		global = []string{"--root", filepath.Join(bundle, "state")}
	}
	rt := func(args ...string) *exec.Cmd { return exec.Command(runtime, append(slices.Clone(global), args...)...) }
	cmd := exec.CommandContext(ctx, runtime, append(slices.Clone(global), "run", "--bundle", bundle, "--pid-file", pidFile, id)...)
	head := &headWriter{w: step.Stderr}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = step.Stdin, step.Stdout, head
	cmd.Cancel = func() error {
		if err := rt("kill", id, "KILL").Run(); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	_, perr := os.Stat(pidFile)
	started := perr == nil
	os.Remove(pidFile)
	if ctx.Err() != nil || (err != nil && !started) {
		_ = rt("delete", "-f", id).Run()
	}
	if cerr := ctx.Err(); cerr != nil && err != nil {
		return fmt.Errorf("running step: %w", cerr)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && started {
		return &ExitError{Code: ee.ExitCode()}
	}
	if err != nil {
		if se := runtimeStartError(head.buf.String()); se != nil && !started {
			return se
		}
		return fmt.Errorf("running %s: %w", filepath.Base(runtime), err)
	}
	return nil
}

// headWriter passes writes on to w (when not nil), keeping the first 8 KiB:
// what a runtime said before the step's process started.
type headWriter struct {
	w   io.Writer
	buf bytes.Buffer
}

func (h *headWriter) Write(p []byte) (int, error) {
	if rest := 8<<10 - h.buf.Len(); rest > 0 {
		h.buf.Write(p[:min(rest, len(p))])
	}
	if h.w == nil {
		return len(p), nil
	}
	return h.w.Write(p)
}

// runtimeStartError reads a runtime's error output the way Docker does
// for its exit codes: 127 for a command not found, 126 for one that
// cannot be invoked; nil for anything else. runc says `exec: "x":
// executable file not found in $PATH`, crun `executable file `x` not
// found in $PATH: No such file or directory`.
func runtimeStartError(out string) *StartError {
	for _, line := range strings.Split(out, "\n") {
		l := strings.ToLower(line)
		if !strings.Contains(l, "exec") {
			continue
		}
		msg := line
		if i := strings.Index(line, "exec: "); i >= 0 {
			msg = strings.ReplaceAll(strings.TrimRight(line[i:], `"}`), `\"`, `"`)
		} else if i := strings.Index(line, "crun: "); i >= 0 {
			msg = line[i+len("crun: "):]
		}
		switch {
		case strings.Contains(l, "not found"), strings.Contains(l, "no such file or directory"):
			return &StartError{Code: 127, Msg: "starting process: " + msg}
		case strings.Contains(l, "permission denied"), strings.Contains(l, "is a directory"):
			return &StartError{Code: 126, Msg: "starting process: " + msg}
		}
	}
	return nil
}

func containerID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "strata-" + hex.EncodeToString(b)
}
