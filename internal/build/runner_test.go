package build

import (
	"testing"

	"github.com/strata-build/strata/internal/sandbox"
)

// testRunner is the sandbox RUN steps use in tests.
func testRunner(t *testing.T) sandbox.Runner {
	t.Helper()
	return nil
}
