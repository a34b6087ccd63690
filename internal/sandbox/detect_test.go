package sandbox

import (
	"encoding/json"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-build/strata/internal/seccomp"
	"github.com/strata-build/strata/internal/testenv"
)

// TestDetect: as root on this host the builtin can run, and finding out
// takes a few milliseconds.
func TestDetect(t *testing.T) {
	testenv.RequireRoot(t)
	start := time.Now()
	d := Detect(t.Context(), Options{})
	took := time.Since(start)
	t.Logf("Detect() = %+v in %v", d, took)
	if d.Mode != ModeBuiltin || d.Reason != "" {
		t.Errorf("Detect() as root = %+v, want builtin", d)
	}
	if took > 250*time.Millisecond {
		t.Errorf("Detect() took %v, want a few milliseconds", took)
	}
}

// BenchmarkDetect is what Detect adds to a command.
func BenchmarkDetect(b *testing.B) {
	testenv.RequireRoot(b)
	for b.Loop() {
		Detect(b.Context(), Options{})
	}
}

// detectHelperEnv makes the test binary TestDetectHelper: Detect confined
// the way a container with Docker's default security confines strata.
const detectHelperEnv = "STRATA_TEST_DETECT_CONFINED"

// TestDetectConfined runs Detect under Docker's default capabilities and
// seccomp profile (what `docker run` without --privileged gives): no
// namespaces, so chroot mode where device nodes are inert (a nodev
// TMPDIR here; a device cgroup in a container), none where they work or
// for another user than root.
func TestDetectConfined(t *testing.T) {
	testenv.RequireRoot(t)
	cases := []struct {
		name   string
		tmp    string
		uid    uint32
		mode   Mode
		reason string
	}{
		{"nodev tmp", nodevDir(t), 0, ModeChroot, "no namespaces here: fork/exec /proc/self/exe: operation not permitted"},
		{"usable devices", t.TempDir(), 0, ModeNone, "can be opened"},
		{"not root", t.TempDir(), 1000, ModeNone, "not root"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.mode == ModeNone && c.uid == 0 {
				if p, err := probeDevices(c.tmp); err != nil || p != devicesUsable {
					t.Skipf("device nodes cannot be opened in %s here: %v, %v", c.tmp, p, err)
				}
			}
			os.Chmod(c.tmp, 0o777)
			cmd := exec.Command(worldExecutable(t), "-test.run=^TestDetectHelper$")
			cmd.Env = append(os.Environ(), detectHelperEnv+"=1", "TMPDIR="+c.tmp)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: c.uid, Gid: c.uid}}
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			var d Detection
			line := out[:max(0, strings.IndexByte(string(out), '\n'))]
			if err := json.Unmarshal(line, &d); err != nil {
				t.Fatalf("helper printed %q: %v", out, err)
			}
			if d.Mode != c.mode || !strings.Contains(d.Reason, c.reason) {
				t.Errorf("Detect() confined = %+v, want mode %s and a reason saying %q", d, c.mode, c.reason)
			}
			if c.mode == ModeChroot && d.Limits != ChrootLimits {
				t.Errorf("Detect().Limits = %q, want %q", d.Limits, ChrootLimits)
			}
		})
	}
}

// worldExecutable is a copy of the test binary any user can run.
func worldExecutable(t *testing.T) string {
	dir, err := os.MkdirTemp("", "strata-detect-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	b, err := os.ReadFile(os.Args[0])
	if err == nil {
		err = os.WriteFile(dir+"/sandbox.test", b, 0o755)
	}
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dir + "/sandbox.test"
}

// TestDetectHelper is TestDetectConfined's child: it confines itself and
// prints Detect's result as JSON.
func TestDetectHelper(t *testing.T) {
	if os.Getenv(detectHelperEnv) != "1" {
		t.Skip("run by TestDetectConfined")
	}
	runtime.LockOSThread()
	if os.Geteuid() == 0 {
		caps := DefaultCapabilities()
		c := &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
		if err := applyCapabilities(c, true); err != nil {
			t.Fatal(err)
		}
	} else if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	p, err := seccomp.Default(DefaultCapabilities())
	if err != nil {
		t.Fatal(err)
	}
	prog, err := seccomp.Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := prog.Load(); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(Detect(t.Context(), Options{TempDir: os.Getenv("TMPDIR")}))
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.Write(append(b, '\n'))
}
