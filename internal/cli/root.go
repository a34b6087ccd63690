// Package cli holds strata's cobra commands, one file each: it turns flags
// into options for the build, store, registry and report packages and renders
// their results. Nothing imports it but cmd/strata.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/internal/registry"
	"github.com/strata-build/strata/internal/sandbox"
	"github.com/strata-build/strata/internal/store"
	"github.com/strata-build/strata/internal/userns"
	"github.com/strata-build/strata/internal/userns/early"
)

// Stdio are the streams a command uses.
type Stdio struct {
	In       io.Reader
	Out, Err io.Writer
}

// Exit codes, as DESIGN.md fixes them.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// usageError marks errors caused by how strata was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// globals are the flags every command shares.
type globals struct {
	root     string
	mirrors  []string
	insecure []string
	stdio    Stdio
	// outside is the try of a build outside the user namespace that this
	// command is (outside.go), its output held; nil for any other.
	outside *outsideTry
}

// Main runs strata with args and returns the process exit code.
func Main(ctx context.Context, args []string, stdio Stdio) int {
	sandbox.Init() // returns at once unless this process is a RUN sandbox's init
	// As an ordinary user, run again as root of a user namespace (which
	// package early may have started already), with the store where the
	// user's would be (defaultRoot); most builds, for which early starts
	// no child, first outside it, from the cache alone (outside.go).
	started := adopted(early.Started())
	if started == nil && userns.Outside() && early.TriesOutside(args) {
		if tryOutside(ctx, args, stdio) {
			return exitOK
		}
		if err := ctx.Err(); err != nil { // interrupted: build nothing more
			fmt.Fprintf(stdio.Err, "error: %v\n", err)
			return exitFailure
		}
		started = adopted(early.Start())
	}
	if code, done := userns.Enter(ctx, stdio.Err, started); done {
		return code
	}
	err := execute(ctx, args, &globals{stdio: stdio})
	if err == nil {
		return exitOK
	}
	var ec exitCodeError
	if errors.As(err, &ec) {
		return ec.code
	}
	fmt.Fprintf(stdio.Err, "error: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailure
}

// execute runs the command args with g's streams.
func execute(ctx context.Context, args []string, g *globals) error {
	root := newRoot(g)
	root.SetArgs(args)
	root.SetIn(g.stdio.In)
	root.SetOut(g.stdio.Out)
	root.SetErr(g.stdio.Err)
	return root.ExecuteContext(ctx)
}

func newRoot(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "strata",
		Short: "Build container images from Dockerfiles, without a daemon",
		Long: `Build container images from Dockerfiles, without a daemon: strata builds
OCI images as docker buildx build does, and runs, lists, pulls, pushes and
explains them.

Exit codes:
  0    success
  1    the command failed (a build, a registry, a lint with findings at
       or above --fail-on)
  2    usage error: an unknown flag, a bad value, a missing argument
  run: 125 when strata cannot start the container, 126 when its command
       cannot be invoked, 127 when the command is not found, 128+N when
       the command dies of signal N, else the command's own exit code`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       readVersion().short(),
	}
	cmd.SetVersionTemplate("{{.Version}}\n")
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	cmd.PersistentFlags().StringVar(&g.root, "root", defaultRoot(), "store location (env STRATA_ROOT)")
	cmd.PersistentFlags().StringSliceVar(&g.mirrors, "registry-mirror", nil, "registry mirror for docker.io (repeatable)")
	cmd.PersistentFlags().StringSliceVar(&g.insecure, "insecure-registry", nil, "registry reached over plain HTTP (repeatable)")
	cmd.AddCommand(commands(g)...)
	return cmd
}

// commands lists the subcommands; each file adds its own constructor here.
func commands(g *globals) []*cobra.Command {
	return []*cobra.Command{
		newBuildCmd(g),
		newRunCmd(g),
		newPsCmd(g), newStopCmd(g), newLogsCmd(g), newRmCmd(g),
		newImagesCmd(g),
		newPullCmd(g),
		newPushCmd(g),
		newTagCmd(g),
		newRmiCmd(g),
		newSaveCmd(g),
		newLoadCmd(g),
		newImportCmd(g),
		newInspectCmd(g),
		newHistoryCmd(g),
		newLintCmd(g),
		newDfCmd(g),
		newPruneCmd(g),
		newSizeCmd(g),
		newCompareCmd(g),
		newGraphCmd(g),
		newReportCmd(g),
		newEmulatorsCmd(g),
		newProvenanceCmd(g),
		newSBOMCmd(g),
		newVersionCmd(g),
		newLoginCmd(g),
		newLogoutCmd(g),
	}
}

// adopted hands a child package early started, if it did, to userns.
func adopted(c *early.Child) *userns.Started {
	if c == nil {
		return nil
	}
	s := &userns.Started{Pid: c.Pid, Released: c.Released, Sync: c.Sync}
	for _, h := range c.Helpers {
		s.Helpers = append(s.Helpers, userns.StartedHelper{Name: h.Name, Failure: h.Failure})
	}
	return s
}

// defaultRoot is where the store is: $STRATA_ROOT, else root's, else (an
// ordinary user, also as root of its namespace) in the user's data home.
func defaultRoot() string {
	if r := os.Getenv("STRATA_ROOT"); r != "" {
		return r
	}
	if os.Geteuid() == 0 && !userns.InNamespace() {
		return "/var/lib/strata"
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "strata")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "share", "strata")
}

// openStore opens the store at --root.
func (g *globals) openStore(ctx context.Context) (*store.Store, error) {
	return store.Open(ctx, g.root)
}

// openStoreLeased opens the store with a build lease, so that a concurrent
// prune waits until what this command writes and tags is reachable. done
// releases the lease and closes the store.
func (g *globals) openStoreLeased(ctx context.Context) (*store.Store, func(), error) {
	st, err := g.openStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	release, err := st.BuildLease(ctx)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, func() { release(); st.Close() }, nil
}

// registryClient returns a registry client configured from the global flags.
func (g *globals) registryClient(platform string) *registry.Client {
	return g.registryClientWarning(platform, func(msg string) { fmt.Fprintln(g.stdio.Err, "warning:", msg) })
}

// registryClientWarning is registryClient with its warnings (a mirror that
// failed, say) going to warn: a build's progress display, which draws
// them without breaking its view.
func (g *globals) registryClientWarning(platform string, warn func(string)) *registry.Client {
	return registry.New(registry.Options{
		Mirrors: g.mirrors, Insecure: g.insecure, Platform: platform,
		ConfigFile:     registry.DefaultConfigFile(),
		RegistriesConf: registry.RegistriesConfFiles(os.Getenv),
		Warn:           warn,
	})
}
