package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path"
	"strings"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"

	"github.com/strata-build/strata/internal/build"
	"github.com/strata-build/strata/internal/rootfs"
	"github.com/strata-build/strata/internal/sandbox"
	"github.com/strata-build/strata/internal/store"
)

// exitCodeError carries a container's exit status out as strata's own.
type exitCodeError struct{ code int }

func (e exitCodeError) Error() string { return fmt.Sprintf("container exited with code %d", e.code) }

// Docker's exit codes of `docker run` for its own failures.
const (
	exitRunFailed   = 125 // strata itself failed: flags, image, sandbox
	exitCannotStart = 126 // the command cannot be invoked
	exitNotFound    = 127 // the command does not exist
)

type runFlags struct {
	rm          bool
	detach      bool
	interactive bool
	tty         bool
	name        string
	env         []string
	workdir     string
	user        string
	isolation   string
	network     string
	entry       string
	platform    string
	pull        string
	publish     []string
	volumes     []string
}

func newRunCmd(g *globals) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run [flags] IMAGE [COMMAND [ARG...]]",
		Short: "Run a command in a new container from an image (pulled when missing)",
		Long: `Run a command in a new container from an image, as docker run does.

Exit status: the command's; 125 when strata fails (bad flags, no such image),
126 when the command cannot be invoked, 127 when it does not exist, 128+N when
it dies of signal N. SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2
are forwarded to it.

The container shares the host's network (or has none, --network=none): a
port it listens on is the host's port, so -p is checked and recorded but
cannot remap one.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				return dockerExit(g, usageError{errors.New(`"strata run" requires at least 1 argument: the image`)})
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return dockerExit(g, runContainer(cmd.Context(), g, f, args[0], args[1:]))
		},
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return dockerExit(g, usageError{fmt.Errorf("%w\nSee 'strata run --help'", err)})
	})
	fl := cmd.Flags()
	fl.SetInterspersed(false)
	fl.BoolVar(&f.rm, "rm", false, "remove the container when it exits (a foreground container always is)")
	fl.BoolVarP(&f.detach, "detach", "d", false, "run in the background and print the container ID (see strata ps, logs, stop, rm)")
	fl.StringVar(&f.name, "name", "", "name of a detached container (default: generated)")
	fl.BoolVarP(&f.interactive, "interactive", "i", false, "keep stdin open and connected to the container")
	fl.BoolVarP(&f.tty, "tty", "t", false, "give the container a pseudo-terminal")
	fl.StringArrayVarP(&f.env, "env", "e", nil, "set an environment variable K=V (K alone takes it from strata's environment)")
	fl.StringVarP(&f.workdir, "workdir", "w", "", "working directory inside the container")
	fl.StringVarP(&f.user, "user", "u", "", "user (name|uid[:group|gid])")
	fl.StringVar(&f.entry, "entrypoint", "", "override the image's entrypoint")
	fl.StringArrayVarP(&f.publish, "publish", "p", nil, "[IP:]HOST:CONTAINER[/PROTO] port (checked only: the container uses the host's network, so ports cannot be remapped)")
	fl.StringArrayVarP(&f.volumes, "volume", "v", nil, "bind mount HOST-PATH:CONTAINER-PATH[:ro|rw] (host paths only; a missing host dir is created)")
	fl.StringVar(&f.pull, "pull", "missing", "pull the image: always, missing (when not in the store) or never")
	fl.StringVar(&f.isolation, "isolation", "auto", isolationUsage)
	fl.StringVar(&f.network, "network", "host", "network: host or none")
	fl.StringVar(&f.platform, "platform", "", "platform of a multi-platform image to run or pull (default: the host's, else the first); a foreign one needs binfmt_misc emulation")
	return cmd
}

// dockerExit maps a run's error to docker run's exit status: the
// container's code as is, 126/127 for a command that cannot start, 125
// for anything else (said on stderr).
func dockerExit(g *globals, err error) error {
	if err == nil {
		return nil
	}
	var ec exitCodeError
	if errors.As(err, &ec) {
		return ec
	}
	fmt.Fprintf(g.stdio.Err, "error: %v\n", err)
	var se *sandbox.StartError
	if errors.As(err, &se) {
		return exitCodeError{se.Code}
	}
	return exitCodeError{exitRunFailed}
}

// containerRun is a container ready to start: its image, process and
// mounts.
type containerRun struct {
	ref      string
	imageID  string
	manifest string
	stack    rootfs.Stack
	spec     *specs.Spec
	ports    []portMapping
}

func runContainer(ctx context.Context, g *globals, f *runFlags, ref string, args []string) error {
	if err := f.check(); err != nil {
		return err
	}
	platform, err := platformFlag(f.platform)
	if err != nil {
		return usageError{err}
	}
	ports, err := parsePorts(f.publish)
	if err != nil {
		return usageError{err}
	}
	mounts, err := parseVolumes(f.volumes)
	if err != nil {
		return usageError{err}
	}
	if err := needRoot("running a container"); err != nil {
		return err
	}
	if err := ensureImage(ctx, g, f.pull, ref, platform); err != nil {
		return err
	}
	st, done, err := g.openStoreLeased(ctx)
	if err != nil {
		return err
	}
	defer done()
	c, err := storedImage(ctx, st, ref, platform)
	if err != nil {
		return err
	}
	if host := build.BuildPlatform(); platform == "" && c.Platform != "" && !platformServes(platformOf(c.Platform), host) {
		fmt.Fprintf(g.stdio.Err, "WARNING: The requested image's platform (%s) does not match the detected host platform (%s) and no specific platform was requested\n", c.Platform, host)
	}
	cf, err := c.Image.ConfigFile()
	if err != nil {
		return fmt.Errorf("reading config of %s: %w", ref, err)
	}
	stack, err := imageStack(ctx, st, c.Image)
	if err != nil {
		return err
	}
	proc, err := f.process(stack, cf, args)
	if err != nil {
		return err
	}
	warnPorts(g.stdio.Err, ports, f.network)
	manifest, err := c.Image.Digest()
	if err != nil {
		return fmt.Errorf("reading manifest of %s: %w", ref, err)
	}
	run := &containerRun{
		ref: ref, imageID: c.ID.String(), manifest: manifest.String(), stack: stack, ports: ports,
		spec: &specs.Spec{Version: specs.Version, Hostname: "strata", Process: proc, Mounts: mounts},
	}
	if f.detach {
		return runDetached(ctx, g, f, run, cf)
	}
	return runForeground(ctx, g, f, st, run)
}

// check refuses flag combinations docker refuses.
func (f *runFlags) check() error {
	switch {
	case f.pull != "always" && f.pull != "missing" && f.pull != "never":
		return usageError{fmt.Errorf("invalid --pull %q: use always, missing or never", f.pull)}
	case f.detach && f.tty:
		return usageError{errors.New("-t with -d: a detached container has no terminal here")}
	case f.name != "" && !f.detach:
		return usageError{errors.New("--name names a detached container (-d): a foreground one is removed when it exits")}
	}
	if f.name != "" {
		return validName(f.name)
	}
	return nil
}

// runForeground runs the container attached to strata's stdio, forwarding
// strata's signals to its process, and removes it afterwards.
func runForeground(ctx context.Context, g *globals, f *runFlags, st *store.Store, run *containerRun) error {
	runner, err := newRunner(ctx, f.isolation, g.stdio.Err)
	if err != nil {
		return usageError{err}
	}
	upper, err := st.TempDir(ctx, "run-upper")
	if err != nil {
		return err
	}
	defer os.RemoveAll(upper)
	work, err := st.TempDir(ctx, "run-work")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwardedSignals()...)
	defer signal.Stop(sigs)
	step := &sandbox.Step{
		Lower: run.stack.Dirs, Upper: upper, Work: work, Spec: run.spec,
		Network: f.network, Signals: sigs,
		Stdin: g.stdio.In, Stdout: g.stdio.Out, Stderr: g.stdio.Err,
	}
	if !f.interactive {
		step.Stdin = nil
	}
	var term *terminal
	if f.tty {
		if term, err = newTerminal(g.stdio, f.interactive); err != nil {
			return err
		}
		defer term.restore()
		run.spec.Process.Terminal = true
		step.Console = term.attach
	}
	err = runWithSignals(ctx, runner, step, sigs)
	if term != nil {
		term.wait()
	}
	return err
}

// runWithSignals runs step with sigs forwarded to its process, and maps
// its end to the container's exit code. The container ends on its own or
// by the forwarded signals: the command's context (cancelled on SIGINT or
// SIGTERM) does not kill it. A sandbox that cannot forward them is killed
// by the first one.
func runWithSignals(ctx context.Context, runner sandbox.Runner, step *sandbox.Step, sigs <-chan os.Signal) error {
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	var killedBy chan os.Signal
	if !sandbox.ForwardsSignals(runner) {
		step.Signals, killedBy = nil, make(chan os.Signal, 1)
		go func() {
			if s, ok := <-sigs; ok {
				killedBy <- s
				cancel()
			}
		}()
	}
	err := runner.Run(runCtx, step)
	if err != nil && killedBy != nil && len(killedBy) > 0 {
		if s, ok := (<-killedBy).(syscall.Signal); ok {
			return exitCodeError{128 + int(s)}
		}
	}
	var ee *sandbox.ExitError
	if errors.As(err, &ee) {
		return exitCodeError{ee.Code}
	}
	var ke *sandbox.KilledError
	if errors.As(err, &ke) {
		return exitCodeError{128 + int(ke.Signal)}
	}
	return err
}

// forwardedSignals are the signals strata passes on to the container's
// process.
func forwardedSignals() []os.Signal {
	return []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}
}

// ensureImage pulls ref for platform as --pull says: always, or when it is
// missing from the store (as docker run does), or never.
func ensureImage(ctx context.Context, g *globals, policy, ref, platform string) error {
	if policy == "never" {
		return nil
	}
	var local error
	if policy == "missing" {
		st, err := g.openStore(ctx)
		if err != nil {
			return err
		}
		_, local = resolveImage(ctx, st, ref, platform)
		st.Close()
		missing := errors.Is(local, errNoSuchImage) && errors.Is(local, store.ErrNotFound)
		// Stored, or stored without the platform asked for (pulled then).
		if local == nil || !missing && platform == "" {
			return nil
		}
		if missing {
			local = nil
		}
		fmt.Fprintf(g.stdio.Err, "Unable to find image '%s' locally\n", ref)
	}
	// The pull reports on stderr: stdout is the container's.
	pg := *g
	pg.stdio.Out = g.stdio.Err
	if err := runPull(ctx, &pg, platform, ref); err != nil {
		if local != nil {
			return fmt.Errorf("running %q: %w; pulling it: %w", ref, local, err)
		}
		return fmt.Errorf("pulling %s: %w", ref, err)
	}
	return nil
}

// process builds the container's process from the image config and flags.
func (f *runFlags) process(stack rootfs.Stack, cf *v1.ConfigFile, args []string) (*specs.Process, error) {
	argv := append([]string(nil), cf.Config.Entrypoint...)
	if f.entry != "" {
		argv = []string{f.entry}
	}
	if len(args) > 0 {
		argv = append(argv, args...)
	} else if f.entry == "" {
		argv = append(argv, cf.Config.Cmd...)
	}
	if len(argv) == 0 {
		return nil, usageError{errors.New("no command: the image has no Entrypoint or Cmd; give one after the image")}
	}
	user := cf.Config.User
	if f.user != "" {
		user = f.user
	}
	u := rootfs.User{Home: "/root"}
	if user != "" {
		var err error
		if u, err = rootfs.LookupUser(stack, user); err != nil {
			return nil, err
		}
	}
	env := append([]string(nil), cf.Config.Env...)
	for _, e := range f.env {
		k, v, ok := strings.Cut(e, "=")
		if !ok {
			v, ok = os.LookupEnv(k)
			if !ok {
				continue
			}
		}
		env = setEnvVar(env, k, v)
	}
	if !hasEnv(env, "PATH") {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	if !hasEnv(env, "HOME") {
		env = append(env, "HOME="+u.Home)
	}
	if f.tty && !hasEnv(env, "TERM") {
		env = append(env, "TERM=xterm")
	}
	cwd := cf.Config.WorkingDir
	if f.workdir != "" {
		cwd = path.Join("/", cwd, f.workdir)
	}
	if cwd == "" {
		cwd = "/"
	}
	var groups []uint32
	for _, g := range u.Groups {
		groups = append(groups, uint32(g))
	}
	return &specs.Process{
		Args: argv, Env: env, Cwd: cwd,
		User: specs.User{UID: uint32(u.UID), GID: uint32(u.GID), AdditionalGids: groups},
	}, nil
}

func hasEnv(env []string, k string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, k+"=") {
			return true
		}
	}
	return false
}

// storedImage returns a stored image by reference or digest; of a
// multi-platform image, platform's ("" for the default).
func storedImage(ctx context.Context, st *store.Store, ref, platform string) (*chosenImage, error) {
	c, err := resolveImage(ctx, st, ref, platform)
	if errors.Is(err, errNoSuchImage) && errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("image %q not found in the store (strata images lists them)", ref)
	}
	if err != nil {
		return nil, fmt.Errorf("running %q: %w", ref, err)
	}
	return c, nil
}

// imageStack extracts (once) each layer of img and returns them as a stack.
func imageStack(ctx context.Context, st *store.Store, img v1.Image) (rootfs.Stack, error) {
	layers, err := img.Layers()
	if err != nil {
		return rootfs.Stack{}, err
	}
	var dirs []string
	for _, l := range layers {
		d, err := st.LayerDir(ctx, l)
		if err != nil {
			return rootfs.Stack{}, err
		}
		dirs = append(dirs, d)
	}
	return rootfs.Stack{Dirs: dirs}, nil
}

// setEnvVar sets k=v in env, replacing an earlier value (so -e overrides
// the image's ENV, as in docker run).
func setEnvVar(env []string, k, v string) []string {
	for i, e := range env {
		if strings.HasPrefix(e, k+"=") {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}
