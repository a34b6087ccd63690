package build

import (
	"os"
	"os/exec"
	"testing"

	"github.com/strata-build/strata/internal/sandbox"
)

func TestMain(m *testing.M) {
	sandbox.Init() // the builtin sandbox re-executes the test binary as its init
	os.Exit(m.Run())
}

// testRunner is the sandbox RUN steps use in tests: "builtin" or "oci"
// (skipped when neither runc nor crun is installed).
func testRunner(t *testing.T, isolation string) sandbox.Runner {
	t.Helper()
	if isolation == "oci" {
		if _, err := exec.LookPath("runc"); err != nil {
			if _, err := exec.LookPath("crun"); err != nil {
				t.Skip("no OCI runtime (apt-get install runc)")
			}
		}
		return sandbox.NewOCI("", sandbox.Options{TempDir: t.TempDir()})
	}
	return sandbox.NewBuiltin(sandbox.Options{TempDir: t.TempDir()})
}

// benchRunner is the builtin sandbox for benchmarks.
func benchRunner(b *testing.B) sandbox.Runner {
	b.Helper()
	return sandbox.NewBuiltin(sandbox.Options{TempDir: b.TempDir()})
}
