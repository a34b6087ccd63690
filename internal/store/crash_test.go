package store

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/strata-build/strata/internal/testenv"
)

// TestKilledWriter kills (SIGKILL) a process in the middle of writing a
// blob: no blob may be visible, and the next Open removes its leftovers.
func TestKilledWriter(t *testing.T) {
	if root := os.Getenv("STRATA_STORE_KILL_CHILD"); root != "" {
		s, err := Open(context.Background(), root)
		if err != nil {
			t.Fatal(err)
		}
		s.WriteBlob(context.Background(), func(w io.Writer) error {
			w.Write([]byte(strings.Repeat("partial ", 1<<16)))
			os.Stdout.WriteString("writing\n")
			select {} // killed here
		})
		return
	}
	root := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriter$")
	cmd.Env = append(os.Environ(), "STRATA_STORE_KILL_CHILD="+root)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "writing\n" {
		t.Fatalf("child said %q, %v", line, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if n := countFiles(t, filepath.Join(root, "blobs", "sha256")); n != 0 {
		t.Errorf("blobs after killed write = %d, want 0", n)
	}
	s := openTest(t, root)
	entries, _ := os.ReadDir(filepath.Join(root, "tmp"))
	for _, e := range entries {
		if p := filepath.Join(root, "tmp", e.Name()); p != s.tmp && p != s.tmp+".lock" {
			t.Errorf("leftover %s survived Open", e.Name())
		}
	}
}

// TestOpenUnmountsLeftovers: a killed process's scratch dir with a tmpfs
// still mounted in it (a RUN secret's, on kernels where the build attaches
// it) is unmounted and removed by the next Open, the file in it with it.
func TestOpenUnmountsLeftovers(t *testing.T) {
	testenv.RequireRoot(t)
	root := t.TempDir()
	openTest(t, root)
	dead := filepath.Join(root, "tmp", "pdead")
	mnt := filepath.Join(dead, "run1", "secret 0") // mountinfo escapes the space
	if err := os.MkdirAll(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dead+".lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "mode=0700"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(mnt, "secret"), []byte("s3cr3t"), 0o400); err != nil {
		t.Fatal(err)
	}
	openTest(t, root)
	if exists(dead) || exists(dead+".lock") {
		t.Error("dead process's scratch dir with a mount in it survived Open")
	}
	if n := unmountUnder(root); n != 0 {
		t.Errorf("%d mounts under the store survived Open", n)
	}
}
