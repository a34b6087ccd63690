package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/strata-build/strata/internal/sandbox"
)

// isolationUsage is the help of --isolation.
const isolationUsage = "RUN sandbox: auto (the strongest this process can use), builtin, oci or chroot (no namespaces: see docs/security.md)"

// newRunner returns the RUN sandbox for --isolation. auto detects what
// this process may do and takes the builtin, or else chroot mode. Any
// mode weaker than the builtin is said once, here, on stderr.
func newRunner(ctx context.Context, isolation string, stderr io.Writer) (sandbox.Runner, error) {
	opts := sandbox.Options{}
	switch isolation {
	case "builtin":
		return sandbox.NewBuiltin(opts), nil
	case "oci":
		return sandbox.NewOCI("", opts), nil
	case "chroot":
		return runnerFor(sandbox.Detection{Mode: sandbox.ModeChroot, Reason: "--isolation chroot", Limits: sandbox.ChrootLimits}, opts, stderr), nil
	case "auto", "":
		return runnerFor(sandbox.Detect(ctx, opts), opts, stderr), nil
	}
	return nil, fmt.Errorf("invalid --isolation %q: use auto, builtin, oci or chroot", isolation)
}

// newBuildRunner is newRunner for a build: auto detects at the first RUN
// step, so that a build that runs none (a no-op rebuild) does not start
// the probe; a mode weaker than the builtin is then said through notice,
// once. Other modes are newRunner's, said on stderr.
func newBuildRunner(ctx context.Context, isolation string, stderr io.Writer, notice func(string)) (sandbox.Runner, error) {
	if isolation != "auto" && isolation != "" {
		return newRunner(ctx, isolation, stderr)
	}
	return &detectingRunner{notice: notice}, nil
}

// detectingRunner detects the sandbox when it first runs a step.
type detectingRunner struct {
	once   sync.Once
	r      sandbox.Runner
	notice func(string)
}

func (d *detectingRunner) Run(ctx context.Context, s *sandbox.Step) error {
	d.once.Do(func() {
		var said strings.Builder
		opts := sandbox.Options{}
		d.r = runnerFor(sandbox.Detect(ctx, opts), opts, &said)
		if said.Len() > 0 {
			d.notice(strings.TrimSuffix(said.String(), "\n"))
		}
	})
	return d.r.Run(ctx, s)
}

// runnerFor returns the runner of a detected mode, saying so when it is
// not the builtin.
func runnerFor(d sandbox.Detection, opts sandbox.Options, stderr io.Writer) sandbox.Runner {
	switch d.Mode {
	case sandbox.ModeBuiltin:
		return sandbox.NewBuiltin(opts)
	case sandbox.ModeChroot:
		fmt.Fprintf(stderr, "strata: sandbox: chroot mode (%s); %s; see docs/security.md\n", d.Reason, d.Limits)
		return sandbox.NewChroot(opts)
	}
	return noSandbox{d}
}

// noSandbox is where no sandbox can run: builds without RUN work, a RUN
// fails saying why and what to do.
type noSandbox struct{ d sandbox.Detection }

var _ sandbox.Runner = noSandbox{}

func (n noSandbox) Run(context.Context, *sandbox.Step) error {
	return fmt.Errorf("no sandbox can run RUN steps here (%s): run strata as root with Docker's default capabilities (chroot mode, see docs/security.md), or where it may create namespaces (user namespaces allowed, or CAP_SYS_ADMIN)", n.d.Reason)
}
