package build

import (
	"os"
	"testing"

	"github.com/strata-build/strata/internal/sandbox"
)

func TestMain(m *testing.M) {
	sandbox.Init() // the builtin sandbox re-executes the test binary as its init
	os.Exit(m.Run())
}

// testRunner is the sandbox RUN steps use in tests.
func testRunner(t *testing.T) sandbox.Runner {
	t.Helper()
	return sandbox.NewBuiltin(sandbox.Options{TempDir: t.TempDir()})
}
