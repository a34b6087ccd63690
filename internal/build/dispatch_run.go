package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-build/strata/internal/dockerfile"
	"github.com/strata-build/strata/internal/rootfs"
	"github.com/strata-build/strata/internal/sandbox"
)

// proxyArgs are passed to RUN without being declared, and never recorded.
var proxyArgs = []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
	"FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"}

// dispatchRun runs a command in the sandbox over the stage's layers; the
// overlay upper dir becomes the new layer.
func (r *run) dispatchRun(ctx context.Context, stp step, st *state, c *instructions.RunCommand, out io.Writer) (*state, bool, error) {
	if r.b.runner == nil {
		return nil, false, errors.New("RUN is not supported yet")
	}
	ms, err := dockerfile.Mounts(c, wordExpander(st))
	if err != nil {
		return nil, false, err
	}
	security, err := r.runSecurity(c)
	if err != nil {
		return nil, false, err
	}
	mounts, err := r.mountsKey(ctx, stp, ms)
	if err != nil {
		return nil, false, err
	}
	// run=2: what a step sees changed (the primary group among the
	// supplementary ones, the hardened sandbox); run=3: /dev, /proc and
	// /sys made as mount points stay in the layer; run=4: no
	// no_new_privs, SSH_AUTH_SOCK also without an agent; run=5: the step
	// is PID 1. Records of an older strata are not reused.
	fields := []string{"RUN", "run=5", fmt.Sprint(c.PrependShell), strings.Join(c.CmdLine, "\x00"), "network=" + r.runNetwork(c), "mounts=" + mounts}
	if security == sandbox.SecurityInsecure {
		fields = append(fields, "security="+security)
	}
	for _, f := range c.Files {
		fields = append(fields, "heredoc", f.Name, f.Data, fmt.Sprint(f.Chomp))
	}
	for _, k := range proxyArgs {
		if v, ok := r.opts.BuildArgs[k]; ok {
			fields = append(fields, k+"="+v)
		}
	}
	fields = append(fields, r.opts.Run.keyFields()...)
	key := runKey(st, strings.Join(c.CmdLine, " "), fields...)
	return r.cached(ctx, stp, st, key, func(s *state) (*state, error) {
		return r.execRun(ctx, stp, s, c, ms, security, out)
	})
}

// execRun runs the step in the sandbox and commits its upper dir.
func (r *run) execRun(ctx context.Context, stp step, st *state, c *instructions.RunCommand, ms []*instructions.Mount, security string, out io.Writer) (*state, error) {
	if err := ensureEmulator(ctx, st); err != nil {
		return nil, err
	}
	scratch, err := r.b.store.TempDir(ctx, "run")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	args, heredocMounts, err := runArgs(st, c, scratch)
	if err != nil {
		return nil, err
	}
	under, err := st.stack(ctx, r.b.store)
	if err != nil {
		return nil, err
	}
	user := rootfs.User{Home: "/root"}
	if u := st.img.Config.User; u != "" {
		if user, err = rootfs.LookupUser(under, u); err != nil {
			return nil, err
		}
	}
	upper, err := r.layerDir(ctx)
	if err != nil {
		return nil, err
	}
	work, err := r.b.store.TempDir(ctx, "work")
	if err != nil {
		os.RemoveAll(upper)
		return nil, err
	}
	defer os.RemoveAll(work)
	rm, err := r.prepareMounts(ctx, stp, st, ms, scratch)
	if err != nil {
		os.RemoveAll(upper)
		return nil, err
	}
	defer rm.cleanup()
	mounts := append(rm.specs, heredocMounts...)
	tail := &tailBuffer{max: 4096}
	// stdout and stderr are copied by two goroutines: one lock keeps lines
	// whole for the display and the error tail.
	output := &lockedWriter{w: io.MultiWriter(out, tail)}
	s := &sandbox.Step{
		Lower: under.Dirs, Upper: upper, Work: work,
		Spec: &specs.Spec{
			Version:  specs.Version,
			Hostname: "strata",
			Process: &specs.Process{
				Args: args,
				Env:  append(r.runEnv(st, user), rm.env...),
				Cwd:  st.img.Config.WorkingDir,
				User: specs.User{UID: uint32(user.UID), GID: uint32(user.GID), AdditionalGids: gids(user.Groups)},
			},
			Mounts: mounts,
		},
		Network:  r.runNetwork(c),
		Security: security,
		Stdin:    bytes.NewReader(nil),
		Stdout:   output,
		Stderr:   output,
	}
	r.opts.Run.apply(s)
	started := time.Now()
	if err := r.b.runner.Run(ctx, s); err != nil {
		os.RemoveAll(upper)
		var ee *sandbox.ExitError
		if errors.As(err, &ee) {
			return nil, &RunError{Code: ee.Code, Command: strings.Join(c.CmdLine, " "), Output: tail.String()}
		}
		return nil, fmt.Errorf("running %q: %w", strings.Join(c.CmdLine, " "), err)
	}
	return r.commitUpper(ctx, st, upper, "RUN "+strings.Join(args, " "), under, started.Add(-time.Second))
}

// RunError is a RUN step that exited non-zero.
type RunError struct {
	Code    int
	Command string
	Output  string // the last lines of output
}

func (e *RunError) Error() string {
	msg := fmt.Sprintf("RUN failed with exit code %d: %s", e.Code, e.Command)
	if o := strings.TrimRight(e.Output, "\n"); o != "" {
		msg += "\n" + o
	}
	return msg
}

// runArgs is the argv of a RUN, with heredocs handled as BuildKit does.
func runArgs(st *state, c *instructions.RunCommand, scratch string) (args []string, mounts []specs.Mount, err error) {
	args = c.CmdLine
	if len(c.Files) > 0 {
		if len(args) != 1 || !c.PrependShell {
			return nil, nil, fmt.Errorf("parsing produced an invalid run command: %v", args)
		}
		if h := parser.MustParseHeredoc(args[0]); h != nil {
			data := c.Files[0].Data
			if c.Files[0].Chomp {
				data = parser.ChompHeredocContent(data)
			}
			args = []string{data}
			if strings.HasPrefix(data, "#!") {
				// A script with a shebang runs as a file, bind-mounted
				// read-only at /dev/pipes/NAME as BuildKit does.
				target := "/dev/pipes/" + c.Files[0].Name
				file := filepath.Join(scratch, c.Files[0].Name)
				if err := os.WriteFile(file, []byte(data), 0o755); err != nil {
					return nil, nil, fmt.Errorf("writing heredoc script: %w", err)
				}
				mounts = append(mounts, specs.Mount{Destination: target, Type: "bind", Source: file, Options: []string{"rbind", "ro"}})
				args = []string{target}
			}
		} else {
			var b strings.Builder
			b.WriteString(args[0])
			for _, f := range c.Files {
				b.WriteByte('\n')
				b.WriteString(f.Data)
				b.WriteString(f.Name)
			}
			args = []string{b.String()}
		}
	}
	if c.PrependShell {
		return withShell(st, args), mounts, nil
	}
	return append([]string(nil), args...), mounts, nil
}

// runEnv is the process environment: the state env (ENV and ARGs in scope),
// proxy build args, a default PATH and HOME.
func (r *run) runEnv(st *state, user rootfs.User) []string {
	env := append([]string(nil), st.env...)
	for _, k := range proxyArgs {
		if v, ok := r.opts.BuildArgs[k]; ok {
			if _, set := getEnv(env, k); !set {
				env = append(env, k+"="+v)
			}
		}
	}
	if _, ok := getEnv(env, "PATH"); !ok {
		env = append(env, "PATH="+defaultPath)
	}
	if _, ok := getEnv(env, "HOME"); !ok {
		home := user.Home
		if home == "" {
			home = "/"
		}
		env = append(env, "HOME="+home)
	}
	return env
}

func (r *run) runNetwork(c *instructions.RunCommand) string {
	switch instructions.GetNetwork(c) {
	case instructions.NetworkNone:
		return "none"
	case instructions.NetworkHost:
		return "host"
	}
	if r.opts.Network == "none" {
		return "none"
	}
	return "host"
}

// EntitlementInsecure is the entitlement RUN --security=insecure needs.
const EntitlementInsecure = "security.insecure"

// runSecurity is the step's security mode; insecure needs the entitlement,
// as in BuildKit, where a Dockerfile alone can never ask for it.
func (r *run) runSecurity(c *instructions.RunCommand) (string, error) {
	if instructions.GetSecurity(c) != instructions.SecurityInsecure {
		return sandbox.SecuritySandbox, nil
	}
	if !slices.Contains(r.opts.Allow, EntitlementInsecure) {
		return "", fmt.Errorf("RUN --security=insecure is not allowed: the build must grant it with --allow %s", EntitlementInsecure)
	}
	return sandbox.SecurityInsecure, nil
}

func gids(groups []int) []uint32 {
	var out []uint32
	for _, g := range groups {
		out = append(out, uint32(g))
	}
	return out
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

// String returns the last lines, at most 10.
func (t *tailBuffer) String() string {
	lines := strings.Split(strings.TrimRight(string(t.buf), "\n"), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return strings.Join(lines, "\n")
}
