package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

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

type runFlags struct {
	rm        bool
	env       []string
	workdir   string
	user      string
	isolation string
	network   string
	entry     string
	platform  string
}

func newRunCmd(g *globals) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run [flags] IMAGE [COMMAND [ARG...]]",
		Short: "Run a command in a new container from a stored image",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				return usageError{errors.New(`"strata run" requires at least 1 argument: the image`)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runContainer(cmd.Context(), g, f, args[0], args[1:])
		},
	}
	fl := cmd.Flags()
	fl.SetInterspersed(false)
	fl.BoolVar(&f.rm, "rm", true, "remove the container's filesystem when it exits (always, for now)")
	fl.StringArrayVarP(&f.env, "env", "e", nil, "set an environment variable K=V (K alone takes it from strata's environment)")
	fl.StringVarP(&f.workdir, "workdir", "w", "", "working directory inside the container")
	fl.StringVarP(&f.user, "user", "u", "", "user (name|uid[:group|gid])")
	fl.StringVar(&f.entry, "entrypoint", "", "override the image's entrypoint")
	fl.StringVar(&f.isolation, "isolation", "auto", isolationUsage)
	fl.StringVar(&f.network, "network", "host", "network: host or none")
	fl.StringVar(&f.platform, "platform", "", "platform of a multi-platform image to run (default: the host's, else the first); a foreign one needs binfmt_misc emulation")
	return cmd
}

func runContainer(ctx context.Context, g *globals, f *runFlags, ref string, args []string) error {
	platform, err := platformFlag(f.platform)
	if err != nil {
		return err
	}
	if err := needRoot("running a container"); err != nil {
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
	img := c.Image
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("reading config of %s: %w", ref, err)
	}
	stack, err := imageStack(ctx, st, img)
	if err != nil {
		return err
	}
	proc, err := f.process(stack, cf, args)
	if err != nil {
		return err
	}
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
	err = runner.Run(ctx, &sandbox.Step{
		Lower: stack.Dirs, Upper: upper, Work: work,
		Spec:    &specs.Spec{Version: specs.Version, Hostname: "strata", Process: proc},
		Network: f.network,
		Stdin:   g.stdio.In, Stdout: g.stdio.Out, Stderr: g.stdio.Err,
	})
	var ee *sandbox.ExitError
	if errors.As(err, &ee) {
		return exitCodeError{ee.Code}
	}
	return err
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
