package sandbox

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The escape suite: each attack is a RUN step (busybox plus the static
// probe of testdata/probe as /probe) that tries to get out, under every
// backend. The probe prints one line per attempt; the test holds each
// attempt to its wanted verdict and checks the host is unchanged.

// escapeAttack is one attacking step and the verdict each of its attempts
// must get ("any" takes any; "skipped" passes everywhere and is logged).
type escapeAttack struct {
	name    string
	want    map[string]string
	prepare func(t *testing.T, h *escapeHost) escapeStep
}

// escapeStep is how an attack runs: the process, its user, extra layers
// above busybox and the probe, extra mounts, and a check of the host
// afterwards.
type escapeStep struct {
	args   []string
	uid    uint32
	lower  []string
	mounts []specs.Mount
	after  func(t *testing.T)
}

func escapeAttacks() []escapeAttack {
	return []escapeAttack{
		// A root step must not take over the sandbox's init (a process
		// of the runtime, on the host's binary, holding host privileges):
		// no writable /proc/1/mem of any thread, no ptrace, no handle on
		// its binary (CVE-2019-5736), its environment or its descriptors,
		// and no thread of it holds a capability the step cannot have.
		// Under runc PID 1 is the step's own process: nothing to attack
		// but its threads' capabilities are still checked.
		{name: "init-takeover", want: map[string]string{
			"init": "any", "exe-readlink": "denied", "exe-read": "denied", "exe-write": "denied",
			"environ-read": "denied", "mem-write": "denied", "ptrace-attach": "denied", "ptrace-seize": "denied",
			"fd-list": "any", "fd-readlink": "denied", "fd-open": "denied", "caps-subset": "ok",
		}, prepare: func(t *testing.T, h *escapeHost) escapeStep {
			return escapeStep{args: []string{"/probe", "init-takeover"}}
		}},
		// The "shocker" attack: a handle of the host filesystem's root
		// (crafted, and the real one the test computes) opened through
		// any host file bound into the step must fail, so the root-only
		// victim is never read.
		{name: "host-handles", want: map[string]string{
			"name-to-handle": "any", "open-handle": "denied", "open-root-handle": "denied", "open-host-handle": "denied",
		}, prepare: func(t *testing.T, h *escapeHost) escapeStep {
			args := []string{"/probe", "handles", "-victim", h.victimRel}
			if h.rootHandle != "" {
				args = append(args, "-handle", h.rootHandle)
			}
			args = append(args, "/etc/hosts", "/etc/resolv.conf", "/etc/hostname",
				"/mnt/host", "/mnt/host/ctx", "/run/secrets/ctx", "/", "/bin/busybox")
			return escapeStep{args: args, mounts: []specs.Mount{
				{Destination: "/mnt/host", Type: "bind", Source: h.bindDir, Options: []string{"rbind", "ro"}},
				{Destination: "/run/secrets/ctx", Type: "bind", Source: filepath.Join(h.bindDir, "ctx"), Options: []string{"rbind", "ro"}},
			}}
		}},
		// A root step that mknods a node for a host block device (a loop
		// device over a file the test owns) can neither read nor write
		// it, in /dev or in its root.
		{name: "dev-mknod-host-block", want: map[string]string{"mknod": "any", "dev-read": "denied", "dev-write": "denied"},
			prepare: func(t *testing.T, h *escapeHost) escapeStep {
				loop := newLoopDevice(t)
				return escapeStep{
					args:  []string{"/probe", "dev-mknod", "b", fmt.Sprint(loop.major), fmt.Sprint(loop.minor), h.writeMarker},
					after: loop.checkUnchanged,
				}
			}},
		// A hostile base layer's world-writable node for a host block
		// device is useless to a non-root step.
		{name: "dev-layer-block", want: map[string]string{"dev-read": "denied", "dev-write": "denied"},
			prepare: func(t *testing.T, h *escapeHost) escapeStep {
				loop := newLoopDevice(t)
				layer := hostileLayer(t, map[string]deviceNode{"loop": {unix.S_IFBLK, loop.major, loop.minor}})
				return escapeStep{
					args: []string{"/probe", "dev-open", "-write", h.writeMarker, "/hostile/loop"},
					uid:  1000, lower: []string{layer}, after: loop.checkUnchanged,
				}
			}},
		// The same with character devices: /dev/kmsg (the host's kernel
		// log) and /dev/mem.
		{name: "dev-layer-char", want: map[string]string{"dev-read": "denied", "dev-write": "denied"},
			prepare: func(t *testing.T, h *escapeHost) escapeStep {
				layer := hostileLayer(t, map[string]deviceNode{"kmsg": {unix.S_IFCHR, 1, 11}, "mem": {unix.S_IFCHR, 1, 1}})
				return escapeStep{args: []string{"/probe", "dev-open", "/hostile/kmsg", "/hostile/mem"}, uid: 1000, lower: []string{layer}}
			}},
		// The default devices still work for root and non-root steps.
		{name: "dev-sanity", want: map[string]string{"allow": "ok"},
			prepare: func(t *testing.T, h *escapeHost) escapeStep {
				return escapeStep{args: []string{"/bin/sh", "-c", devSanityScript}}
			}},
		{name: "dev-sanity-user", want: map[string]string{"allow": "ok"},
			prepare: func(t *testing.T, h *escapeHost) escapeStep {
				return escapeStep{args: []string{"/bin/sh", "-c", devSanityScript}, uid: 1000}
			}},
		// The step runs under a seccomp filter that refuses new user
		// namespaces, keys, BPF, perf, mounts, kexec, modules, file
		// handles, vsock, userfaultfd and odd personalities (Docker's
		// default profile), and still allows what builds do.
		{name: "seccomp", want: map[string]string{"seccomp": "ok", "deny": "denied", "allow": "ok", "clone3": "any"},
			prepare: func(t *testing.T, h *escapeHost) escapeStep {
				return escapeStep{args: []string{"/probe", "seccomp"}}
			}},
	}
}

// devSanityScript uses the default devices and prints probe-style lines.
const devSanityScript = `t() { if eval "$2" 2>/dev/null; then echo "allow $1: ok"; else echo "allow $1: failed"; fi; }
t /dev/null 'echo x > /dev/null'
t /dev/zero '[ "$(head -c 1 /dev/zero | wc -c)" -eq 1 ]'
t /dev/full '[ "$(head -c 1 /dev/full | wc -c)" -eq 1 ] && ! echo x > /dev/full'
t /dev/random '[ "$(head -c 16 /dev/random | wc -c)" -eq 16 ]'
t /dev/urandom '[ "$(head -c 16 /dev/urandom | wc -c)" -eq 16 ]'
t /dev/shm 'echo x > /dev/shm/f && rm /dev/shm/f'
t /dev/fd '[ -e /dev/fd/1 ]'
`

// TestEscape runs every attack under every backend, then checks the host
// is unchanged: hostname, the victim files and the test binary (the
// target of CVE-2019-5736).
func TestEscape(t *testing.T) {
	lower := busyboxLower(t)
	h := newEscapeHost(t, lower)
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			for _, a := range escapeAttacks() {
				t.Run(a.name, func(t *testing.T) {
					if why, ok := b.skip[a.name]; ok {
						t.Skip(why)
					}
					runAttack(t, b, h, a)
				})
			}
			t.Run("host-unchanged", h.checkUnchanged)
		})
	}
}

func runAttack(t *testing.T, b backend, h *escapeHost, a escapeAttack) {
	es := a.prepare(t, h)
	r := runStep(t, b, t.Context(), "", func(s *Step) {
		s.Lower = append(append(s.Lower, h.probeLayer), es.lower...)
		s.Spec.Process.Args = es.args
		s.Spec.Process.User = specs.User{UID: es.uid, GID: es.uid}
		s.Spec.Mounts = es.mounts
	})
	checkCode(t, r.err, 0, r.stderr)
	checkVerdicts(t, r.stdout, a.want)
	if strings.Contains(r.stdout+r.stderr, h.marker) {
		t.Errorf("the step read the root-only host file %s:\n%s", h.victim, r.stdout)
	}
	if es.after != nil {
		es.after(t)
	}
	if t.Failed() {
		t.Logf("probe output:\n%s%s", r.stdout, r.stderr)
	}
}

// probeLine is `<attempt> <target>: <verdict> [(<detail>)]`.
var probeLine = regexp.MustCompile(`^(\S+) (\S+): (\S+)(?: \((.*)\))?$`)

// checkVerdicts holds each line of the probe's output to want, and wants
// a line for each attempt whose verdict matters.
func checkVerdicts(t *testing.T, out string, want map[string]string) {
	t.Helper()
	seen := map[string]bool{}
	var skipped []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		m := probeLine.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("unparsable probe line %q", l)
			continue
		}
		attempt, target, verdict := m[1], m[2], m[3]
		got := strings.TrimPrefix(l, attempt+" "+target+": ")
		w, ok := want[attempt]
		seen[attempt] = true
		switch {
		case !ok:
			t.Errorf("probe printed an unknown attempt: %q", l)
		case w == "any" || verdict == w:
		case verdict == "skipped":
			skipped = append(skipped, l)
		default:
			t.Errorf("probe %s %s: got %q, want %s", attempt, target, got, w)
		}
	}
	for attempt, w := range want {
		if w != "any" && !seen[attempt] {
			t.Errorf("probe printed no %s line", attempt)
		}
	}
	if len(skipped) > 0 {
		t.Logf("probe skipped:\n%s", strings.Join(skipped, "\n"))
	}
}

// escapeHost is what the attacks run against: the probe's layer, a
// root-only victim file, a host dir to bind into steps, and the state of
// the host to compare with afterwards.
type escapeHost struct {
	probeLayer string
	// victim is 0600 and holds marker; victimRel is its path from the
	// root of its filesystem; rootHandle is that root's file handle
	// (TYPE:HEX), when the host can make one.
	victim, victimRel, marker, rootHandle string
	// writeMarker is what the probe writes to devices it gets to write.
	writeMarker string
	bindDir     string
	hostname    string
	files       map[string]fileState
}

func newEscapeHost(t *testing.T, lower string) *escapeHost {
	dir := t.TempDir()
	h := &escapeHost{
		probeLayer:  buildProbe(t),
		victim:      filepath.Join(dir, "victim"),
		marker:      "strata-victim-" + randHex(t),
		writeMarker: "STRATA-PROBE-WROTE-" + randHex(t),
		bindDir:     filepath.Join(dir, "bind"),
	}
	if err := os.WriteFile(h.victim, []byte(h.marker+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(h.bindDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.bindDir, "ctx"), []byte("build context\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	if h.victimRel, h.rootHandle, err = fsRoot(h.victim); err != nil {
		t.Fatal(err)
	}
	if h.hostname, err = os.Hostname(); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	h.files = map[string]fileState{}
	for _, p := range []string{h.victim, filepath.Join(h.bindDir, "ctx"), exe, filepath.Join(lower, "bin/busybox"),
		"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"} {
		if h.files[p], err = stateOf(p); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// checkUnchanged compares the host with its state before the attacks.
func (h *escapeHost) checkUnchanged(t *testing.T) {
	if got, err := os.Hostname(); err != nil || got != h.hostname {
		t.Errorf("host name = %q, %v; want %q", got, err, h.hostname)
	}
	for p, want := range h.files {
		if got, err := stateOf(p); err != nil || got != want {
			t.Errorf("host file %s = %+v, %v; want %+v", p, got, err, want)
		}
	}
}

// fileState is a host file's content and metadata.
type fileState struct {
	sum        string
	mode       os.FileMode
	uid, gid   uint32
	linkTarget string
}

func stateOf(p string) (fileState, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return fileState{}, err
	}
	st := fileState{mode: fi.Mode()}
	if s, ok := fi.Sys().(*unix.Stat_t); ok {
		st.uid, st.gid = s.Uid, s.Gid
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		st.linkTarget, err = os.Readlink(p)
		return st, err
	}
	b, err := os.ReadFile(p)
	sum := sha256.Sum256(b)
	st.sum = hex.EncodeToString(sum[:])
	return st, err
}

// fsRoot returns p's path from the root of its filesystem and, when p's
// mount shows that root, the root's file handle as TYPE:HEX.
func fsRoot(p string) (rel, handle string, err error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", "", err
	}
	var mountPoint, root string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 5 {
			continue
		}
		mp := f[4]
		if (mp == "/" || p == mp || strings.HasPrefix(p, mp+"/")) && len(mp) >= len(mountPoint) {
			mountPoint, root = mp, f[3]
		}
	}
	if mountPoint == "" {
		return "", "", fmt.Errorf("finding the mount of %s: none", p)
	}
	rel = strings.TrimPrefix(filepath.Join(root, strings.TrimPrefix(p, mountPoint)), "/")
	if root != "/" {
		return rel, "", nil
	}
	fh, _, err := unix.NameToHandleAt(unix.AT_FDCWD, mountPoint, 0)
	if err != nil {
		return rel, "", nil
	}
	return rel, fmt.Sprintf("%d:%x", fh.Type(), fh.Bytes()), nil
}

// buildProbe builds testdata/probe statically into a layer dir holding
// /probe. TestEscape, its only caller, builds it once per test binary run.
func buildProbe(t *testing.T) string {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go not on PATH, cannot build the escape probe: %v", err)
	}
	layer := t.TempDir()
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", filepath.Join(layer, "probe"), ".")
	cmd.Dir = filepath.Join("testdata", "probe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the escape probe: %v\n%s", err, out)
	}
	if err := os.Chmod(layer, 0o755); err != nil {
		t.Fatal(err)
	}
	return layer
}

// loopDevice is a host loop device over a file of known content.
type loopDevice struct {
	dev          string
	major, minor uint32
	backing      string
	content      []byte
}

// newLoopDevice attaches a loop device for t, detached at its end. It
// skips t when the host cannot make one.
func newLoopDevice(t *testing.T) *loopDevice {
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Skipf("losetup not installed: %v", err)
	}
	l := &loopDevice{backing: filepath.Join(t.TempDir(), "loop.img"), content: make([]byte, 64<<10)}
	copy(l.content, "strata loop device: the probe must not change this\n")
	if _, err := rand.Read(l.content[64:]); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.backing, l.content, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "-f", "--show", l.backing).CombinedOutput()
	if err != nil {
		t.Skipf("cannot attach a loop device: losetup: %v: %s", err, out)
	}
	l.dev = strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", l.dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v: %s", l.dev, err, out)
		}
	})
	var st unix.Stat_t
	if err := unix.Stat(l.dev, &st); err != nil {
		t.Fatal(err)
	}
	l.major, l.minor = unix.Major(st.Rdev), unix.Minor(st.Rdev)
	return l
}

// checkUnchanged wants the device and its backing file as they were.
func (l *loopDevice) checkUnchanged(t *testing.T) {
	for _, p := range []string{l.dev, l.backing} {
		f, err := os.Open(p)
		if err != nil {
			t.Errorf("reading %s: %v", p, err)
			continue
		}
		got := make([]byte, len(l.content))
		_, err = io.ReadFull(f, got)
		f.Close()
		if err != nil || !bytes.Equal(got, l.content) {
			t.Errorf("host loop device %s changed (%v): starts %q, want %q", p, err, got[:64], l.content[:64])
		}
	}
}

// deviceNode is a node to make: S_IFBLK or S_IFCHR, and the device.
type deviceNode struct {
	kind         uint32
	major, minor uint32
}

// hostileLayer makes a layer with 0666 device nodes in /hostile, as a
// malicious base image would ship them.
func hostileLayer(t *testing.T, nodes map[string]deviceNode) string {
	layer := t.TempDir()
	if err := os.Chmod(layer, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(layer, "hostile")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, node := range nodes {
		p := filepath.Join(dir, name)
		if err := unix.Mknod(p, node.kind|0o666, int(unix.Mkdev(node.major, node.minor))); err != nil {
			t.Fatalf("making %s: %v", p, err)
		}
		if err := unix.Chmod(p, 0o666); err != nil {
			t.Fatal(err)
		}
	}
	return layer
}

func randHex(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
