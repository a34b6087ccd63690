package userns

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/strata-build/strata/internal/userns/early"
)

// envStatusHelper makes the test binary a program that enters the
// namespace and prints what every thread of it is there (statusHelper):
// "early" as strata does it (package early starts the child while the
// test binary initialises), "enter" as Enter does it alone, "no-ambient"
// as Enter does when the child cannot start with ambient capabilities.
const envStatusHelper = "STRATA_USERNS_TEST_STATUS"

// statusHelper runs as the test binary started by TestEnterCapabilities:
// it enters the namespace as how says, then prints each thread's ids and
// capability sets there, one line per thread.
func statusHelper(how string) int {
	ambients := [][]uintptr{allCaps(), nil}
	if how == "no-ambient" {
		ambients = [][]uintptr{nil}
	}
	var started *Started
	if c := early.Started(); c != nil {
		started = &Started{Pid: c.Pid, Released: c.Released, Sync: c.Sync}
		for _, h := range c.Helpers {
			started.Helpers = append(started.Helpers, StartedHelper{Name: h.Name, Failure: h.Failure})
		}
	}
	if (how == "early") != (started != nil) && os.Getenv(envStage) == "" {
		fmt.Fprintf(os.Stderr, "package early started %v, want a child only for \"early\"\n", started)
		return 1
	}
	if code, done := enter(context.Background(), os.Stderr, started, ambients); done {
		return code
	}
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil || len(tasks) == 0 {
		fmt.Fprintln(os.Stderr, "no threads:", err)
		return 1
	}
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		var fields []string
		for _, l := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(l, ":")
			switch k {
			case "Uid", "Gid", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb":
				fields = append(fields, k+"="+strings.Join(strings.Fields(v), ","))
			}
		}
		fmt.Println(strings.Join(fields, " "))
	}
	return 0
}

// TestEnterCapabilities: inside the namespace, strata is root with every
// capability, effective and permitted, in every thread, and none
// inheritable or ambient (which would follow it into what it executes),
// as an execve as root would leave it; with subordinate ids and with the
// user alone, and also where the child cannot start with ambient
// capabilities (it then executes itself once more).
func TestEnterCapabilities(t *testing.T) {
	last, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		t.Skip(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(last)))
	if err != nil {
		t.Fatal(err)
	}
	all := fmt.Sprintf("%016x", uint64(1)<<(n+1)-1)
	want := "Uid=0,0,0,0 Gid=0,0,0,0 CapInh=0000000000000000 CapPrm=" + all + " CapEff=" + all + " CapBnd=" + all + " CapAmb=0000000000000000"
	_, bin := testBinary(t)
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, how string
		sub       bool
	}{
		{"strata-rootless", "early", true},
		{"strata-rootless", "enter", true}, {"strata-nosubid", "enter", false},
		{"strata-rootless", "no-ambient", true}, {"strata-nosubid", "no-ambient", false},
	} {
		u := ensureUser(t, c.name, c.sub)
		cmd := exec.Command(bin)
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + u.home, envStatusHelper + "=" + c.how}
		if c.how != "early" {
			// Set (to no stage of Enter's), it keeps package early out.
			cmd.Env = append(cmd.Env, envStage+"=test")
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid)}}
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("entering as %s (%s): %v\n%s", c.name, c.how, err, stderr.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		for i, l := range lines {
			if l != want {
				t.Errorf("as %s (%s), thread %d of %d in the namespace:\n%s\nwant\n%s", c.name, c.how, i+1, len(lines), l, want)
			}
		}
	}
}

// TestHelperFails: when newuidmap fails, the child never runs and strata
// says why, whether package early started it or Enter did.
func TestHelperFails(t *testing.T) {
	u := ensureUser(t, "strata-rootless", true)
	work, bin := testBinary(t)
	fake := filepath.Join(work, "bin")
	if err := os.Mkdir(fake, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fake, "newuidmap"), []byte("#!/bin/sh\necho no mapping for you >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, how := range []string{"early", "enter"} {
		cmd := exec.Command(bin)
		cmd.Env = []string{"PATH=" + fake + ":/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + u.home, envStatusHelper + "=" + how}
		if how != "early" {
			cmd.Env = append(cmd.Env, envStage+"=test")
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid)}}
		out, err := cmd.CombinedOutput()
		want := "mapping ids with newuidmap: exit status 3: no mapping for you"
		if err == nil || !strings.Contains(string(out), want) || strings.Contains(string(out), "Uid=") {
			t.Errorf("%s, newuidmap failing: %v, want exit 1 with %q and no child:\n%s", how, err, want, out)
		}
	}
}

// testBinary copies this test binary into a directory every user can
// reach and returns both.
func testBinary(t *testing.T) (work, bin string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	work = sharedDir(t)
	bin = filepath.Join(work, "userns.test")
	copyFile(t, self, bin)
	return work, bin
}
