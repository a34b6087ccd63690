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
		return nil, fmt.Errorf("--isolation=oci is not available yet")
	}
	return nil, fmt.Errorf("invalid --isolation %q: use builtin or oci", isolation)
}
