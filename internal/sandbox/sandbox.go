// Package sandbox runs one RUN step isolated from the host: the builtin
// backend uses Linux namespaces, an overlayfs root and pivot_root; the OCI
// backend hands the same step to runc or crun. Both take the step as an OCI
// runtime spec plus the overlay layers to mount.
package sandbox

import (
	"context"
	"fmt"
	"io"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Step is one process to run over an overlay root.
type Step struct {
	// Lower are overlay-format layer dirs, bottom first (read-only, shared).
	Lower []string
	// Upper receives the step's changes; Work is overlayfs's work dir on the
	// same filesystem. Both exist and are empty.
	Upper, Work string
	// Spec describes the process, mounts (cache, bind, tmpfs, secrets),
	// hostname and namespaces. Spec.Root is filled in by the backend.
	Spec *specs.Spec
	// Network is "host" (default) or "none".
	Network string
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer
}

// Runner runs steps. Run returns *ExitError when the process exits non-zero.
// When ctx is cancelled every process of the step is killed; in every case
// nothing stays mounted after Run returns.
type Runner interface {
	Run(ctx context.Context, step *Step) error
}

// ExitError reports a non-zero exit status.
type ExitError struct {
	Code int
}

func (e *ExitError) Error() string { return fmt.Sprintf("exit code %d", e.Code) }
