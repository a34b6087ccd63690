package cli

import (
	"fmt"

	"github.com/strata-build/strata/internal/sandbox"
)

// newRunner returns the RUN sandbox for --isolation.
func newRunner(isolation string) (sandbox.Runner, error) {
	switch isolation {
	case "builtin":
		return sandbox.NewBuiltin(sandbox.Options{}), nil
	case "oci":
		return sandbox.NewOCI("", sandbox.Options{}), nil
	}
	return nil, fmt.Errorf("invalid --isolation %q: use builtin or oci", isolation)
}
