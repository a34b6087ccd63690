package emulate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestNative(t *testing.T) {
	tests := []struct {
		goarch, platform string
		want             bool
	}{
		{"amd64", "linux/amd64", true},
		{"amd64", "linux/386", true},
		{"amd64", "linux/arm64", false},
		{"amd64", "linux/arm/v7", false},
		{"amd64", "linux/riscv64", false},
		{"amd64", "windows/amd64", false},
		{"arm64", "linux/arm64", true},
		{"arm64", "linux/arm64/v8", true},
		{"arm64", "linux/arm/v7", true},
		{"arm64", "linux/arm/v6", true},
		{"arm64", "linux/amd64", false},
		{"arm64", "linux/386", false},
		{"riscv64", "linux/riscv64", true},
	}
	for _, tc := range tests {
		p, err := v1.ParsePlatform(tc.platform)
		if err != nil {
			t.Fatal(err)
		}
		if got := native(tc.goarch, *p); got != tc.want {
			t.Errorf("native(%s, %s) = %v, want %v", tc.goarch, tc.platform, got, tc.want)
		}
	}
	if !Native(v1.Platform{OS: "linux", Architecture: newHost().goarch}) {
		t.Errorf("Native(linux/%s) = false on a %s host", newHost().goarch, newHost().goarch)
	}
}

// Entry files as the kernel prints them.
const (
	debianAarch64 = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\noffset 0\n" +
		"magic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n"
	dockerAarch64 = "enabled\ninterpreter /usr/bin/qemu-aarch64\nflags: OCF\noffset 0\n" +
		"magic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n"
	noFixAarch64 = "enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: \noffset 0\n" +
		"magic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n"
	disabledAarch64 = "disabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: F\noffset 0\n" +
		"magic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n"
	debianArm = "enabled\ninterpreter /usr/libexec/qemu-binfmt/arm-binfmt-P\nflags: PF\noffset 0\n" +
		"magic 7f454c4601010100000000000000000002002800\nmask ffffffffffffff00fffffffffffffffffeffffff\n"
	jar       = "enabled\ninterpreter /usr/bin/jexec\nflags: \noffset 0\nmagic 504b0304\n"
	extension = "enabled\ninterpreter /usr/bin/wine\nflags: \nextension .exe\n"
)

func TestParseEntry(t *testing.T) {
	tests := []struct {
		name, data        string
		enabled           bool
		interpreter, flag string
		magicLen, maskLen int
	}{
		{"debian", debianAarch64, true, "/usr/libexec/qemu-binfmt/aarch64-binfmt-P", "PF", 20, 20},
		{"docker", dockerAarch64, true, "/usr/bin/qemu-aarch64", "OCF", 20, 20},
		{"no F", noFixAarch64, true, "/usr/bin/qemu-aarch64-static", "", 20, 20},
		{"disabled", disabledAarch64, false, "/usr/bin/qemu-aarch64-static", "F", 20, 20},
		{"no mask", jar, true, "/usr/bin/jexec", "", 4, 0},
		{"extension", extension, true, "/usr/bin/wine", "", 0, 0},
	}
	for _, tc := range tests {
		e, err := parseEntry(tc.name, []byte(tc.data))
		if err != nil {
			t.Errorf("parseEntry(%s) = %v", tc.name, err)
			continue
		}
		if e.enabled != tc.enabled || e.interpreter != tc.interpreter || e.flags != tc.flag || len(e.magic) != tc.magicLen || len(e.mask) != tc.maskLen {
			t.Errorf("parseEntry(%s) = enabled %v, interpreter %q, flags %q, %d magic and %d mask bytes; want %v, %q, %q, %d, %d",
				tc.name, e.enabled, e.interpreter, e.flags, len(e.magic), len(e.mask), tc.enabled, tc.interpreter, tc.flag, tc.magicLen, tc.maskLen)
		}
	}
	for _, bad := range []string{"", "maybe\n", "enabled\nmagic 7f45zz\n", "enabled\nmagic 7f45\nmask ff\n"} {
		if _, err := parseEntry("bad", []byte(bad)); err == nil {
			t.Errorf("parseEntry(%q) = nil error, want one", bad)
		}
	}
}

// TestParseEntryHost parses the host's real entries, when there are any.
func TestParseEntryHost(t *testing.T) {
	h := newHost()
	if !h.mounted() {
		t.Skip("binfmt_misc not mounted")
	}
	entries, err := h.entries()
	if err != nil {
		t.Fatalf("entries() = %v", err)
	}
	for _, e := range entries {
		if e.interpreter == "" {
			t.Errorf("entry %s: no interpreter", e.name)
		}
	}
}

func TestMatches(t *testing.T) {
	aarch64, _ := archFor(v1.Platform{OS: "linux", Architecture: "arm64"})
	arm, _ := archFor(v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"})
	debian, err := parseEntry("qemu-aarch64", []byte(debianAarch64))
	if err != nil {
		t.Fatal(err)
	}
	if !debian.matches(aarch64.header()) {
		t.Errorf("Debian's qemu-aarch64 entry does not match an aarch64 ELF header")
	}
	pie := aarch64.header()
	pie[16] = 3 // ET_DYN: static-pie and dynamic executables
	if !debian.matches(pie) {
		t.Errorf("Debian's qemu-aarch64 entry does not match an aarch64 ET_DYN header")
	}
	if debian.matches(arm.header()) {
		t.Errorf("Debian's qemu-aarch64 entry matches an arm ELF header")
	}
	if debian.matches([]byte("\x7fELF")) {
		t.Errorf("Debian's qemu-aarch64 entry matches a 4-byte file")
	}
	// Every arch's own magic and mask (as QEMU's qemu-binfmt-conf.sh has
	// them) matches its header and no other's.
	for _, a := range arches() {
		e := entry{magic: []byte(a.magic), mask: []byte(a.mask)}
		for _, b := range arches() {
			if got, want := e.matches(b.header()), a.qemu == b.qemu; got != want {
				t.Errorf("%s entry matches %s header = %v, want %v", a.qemu, b.qemu, got, want)
			}
		}
	}
}

func TestRegistrationString(t *testing.T) {
	a, _ := archFor(v1.Platform{OS: "linux", Architecture: "arm64"})
	r := registration{name: "qemu-aarch64", magic: a.magic, mask: a.mask, interpreter: "/usr/bin/qemu-aarch64-static", flags: "CF"}
	want := `:qemu-aarch64:M:0:\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:` +
		`\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:CF`
	if got := r.String(); got != want {
		t.Errorf("registration.String() =\n%s\nwant\n%s", got, want)
	}
}

// sampleHost makes a binfmt_misc lookalike with the given entries.
func sampleHost(t *testing.T, entries map[string]string) host {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"register": "", "status": "enabled\n"}
	for k, v := range entries {
		files[k] = v
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return host{dir: dir, qemuDirs: []string{t.TempDir()}, goarch: "amd64"}
}

func TestCheckSample(t *testing.T) {
	arm64 := v1.Platform{OS: "linux", Architecture: "arm64"}
	tests := []struct {
		name     string
		entries  map[string]string
		platform v1.Platform
		want     []string // substrings of the error; none for nil
	}{
		{"native", nil, v1.Platform{OS: "linux", Architecture: "amd64"}, nil},
		{"debian PF", map[string]string{"qemu-aarch64": debianAarch64, "jar": jar}, arm64, nil},
		{"docker OCF", map[string]string{"qemu-aarch64": dockerAarch64}, arm64, nil},
		{"none", map[string]string{"jar": jar, "qemu-arm": debianArm}, arm64,
			[]string{"linux/arm64", "no binfmt_misc handler for aarch64", "apt-get install qemu-user-static binfmt-support", "strata emulators --install"}},
		{"disabled", map[string]string{"qemu-aarch64": disabledAarch64}, arm64, []string{"no binfmt_misc handler for aarch64"}},
		{"no F", map[string]string{"qemu-aarch64": noFixAarch64}, arm64,
			[]string{"linux/arm64", "qemu-aarch64", "without F", "echo -1 > "}},
		{"no F beside F", map[string]string{"qemu-aarch64": debianAarch64, "other": noFixAarch64}, arm64, []string{"other", "without F"}},
		{"arm", map[string]string{"qemu-aarch64": debianAarch64}, v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"},
			[]string{"linux/arm/v7", "no binfmt_misc handler for arm"}},
		{"unknown", nil, v1.Platform{OS: "linux", Architecture: "mips64"}, []string{"linux/mips64", "no QEMU emulator for mips64"}},
		{"status disabled", map[string]string{"status": "disabled\n", "qemu-aarch64": debianAarch64}, arm64, []string{"binfmt_misc is disabled"}},
	}
	for _, tc := range tests {
		h := sampleHost(t, tc.entries)
		err := h.check(tc.platform)
		if len(tc.want) == 0 {
			if err != nil {
				t.Errorf("%s: check(%s) = %v, want nil", tc.name, platformString(tc.platform), err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: check(%s) = nil, want an error", tc.name, platformString(tc.platform))
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: check(%s) = %q, want it to say %q", tc.name, platformString(tc.platform), err, w)
			}
		}
	}
}

func TestCheckNotMounted(t *testing.T) {
	h := host{dir: t.TempDir(), goarch: "amd64"}
	err := h.check(v1.Platform{OS: "linux", Architecture: "arm64"})
	if err == nil || !strings.Contains(err.Error(), "binfmt_misc is not mounted") || !strings.Contains(err.Error(), "mount -t binfmt_misc") {
		t.Errorf("check(linux/arm64) without binfmt_misc = %v, want it to say it is not mounted and how to mount it", err)
	}
}

func TestEnsureSample(t *testing.T) {
	ctx := context.Background()
	arm64 := v1.Platform{OS: "linux", Architecture: "arm64"}

	// Not privileged: the missing handler is reported, nothing written.
	h := sampleHost(t, nil)
	if err := h.ensure(ctx, arm64); err == nil || !strings.Contains(err.Error(), "no binfmt_misc handler for aarch64") {
		t.Errorf("unprivileged ensure(linux/arm64) = %v, want a missing handler error", err)
	}

	// Privileged without an emulator: says which one to install.
	h.privileged = true
	if err := h.ensure(ctx, arm64); err == nil || !strings.Contains(err.Error(), "qemu-aarch64-static") || !strings.Contains(err.Error(), "apt-get install qemu-user-static") {
		t.Errorf("ensure(linux/arm64) without qemu-aarch64-static = %v, want it to name the emulator and package", err)
	}

	// Privileged with an emulator: registers it with CF. The sample dir
	// does not grow the entry the kernel would make, which ensure notices.
	emu := filepath.Join(h.qemuDirs[0], "qemu-aarch64-static")
	if err := os.WriteFile(emu, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := h.ensure(ctx, arm64); err == nil || !strings.Contains(err.Error(), "does not show") {
		t.Errorf("ensure(linux/arm64) in a sample dir = %v, want the registration not to show", err)
	}
	got, err := os.ReadFile(filepath.Join(h.dir, "register"))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := archFor(arm64)
	want := registration{name: "qemu-aarch64", magic: a.magic, mask: a.mask, interpreter: emu, flags: "CF"}.String()
	if string(got) != want {
		t.Errorf("ensure wrote %q to register, want %q", got, want)
	}

	// A disabled entry holding the name: registers under another.
	h = sampleHost(t, map[string]string{"qemu-aarch64": disabledAarch64})
	h.privileged, h.qemuDirs = true, []string{filepath.Dir(emu)}
	h.ensure(ctx, arm64)
	if got, _ := os.ReadFile(filepath.Join(h.dir, "register")); !bytes.HasPrefix(got, []byte(":strata-qemu-aarch64:")) {
		t.Errorf("ensure with qemu-aarch64 taken wrote %q, want a strata-qemu-aarch64 entry", got)
	}
}

func TestStatusSample(t *testing.T) {
	h := sampleHost(t, map[string]string{"qemu-aarch64": noFixAarch64, "strata-qemu-aarch64": dockerAarch64, "qemu-arm": disabledAarch64, "jar": jar})
	got := map[string]Handler{}
	for _, st := range h.status() {
		got[platformString(st.Platform)] = st
	}
	if _, ok := got["linux/amd64"]; ok {
		t.Errorf("status() lists linux/amd64 on an amd64 host")
	}
	if _, ok := got["linux/386"]; ok {
		t.Errorf("status() lists linux/386 on an amd64 host")
	}
	if st := got["linux/arm64"]; !st.Ready() || st.Name != "strata-qemu-aarch64" || st.Flags != "OCF" {
		t.Errorf("status() linux/arm64 = %+v, want ready strata-qemu-aarch64 with OCF", st)
	}
	if st := got["linux/arm/v7"]; st.Ready() || st.Name != "" {
		t.Errorf("status() linux/arm/v7 = %+v, want no handler", st)
	}
	for _, p := range []string{"linux/riscv64", "linux/ppc64le", "linux/s390x"} {
		if _, ok := got[p]; !ok {
			t.Errorf("status() does not list %s", p)
		}
	}
}

func TestInstallUnprivileged(t *testing.T) {
	h := sampleHost(t, nil)
	if err := h.install(context.Background()); err == nil || !strings.Contains(err.Error(), "root") {
		t.Errorf("unprivileged install() = %v, want it to need root", err)
	}
}

// TestMountHost mounts binfmt_misc on a temp dir (the same instance as
// the host's, as a second mount of it) and unmounts it.
func TestMountHost(t *testing.T) {
	if !newHost().privileged {
		t.Skip("needs root in the initial user namespace")
	}
	h := host{dir: t.TempDir(), goarch: "amd64"}
	if h.mounted() {
		t.Fatalf("mounted() = true on an empty dir")
	}
	if err := h.mount(); err != nil {
		t.Fatalf("mount() = %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(h.dir, 0); err != nil {
			t.Errorf("unmounting %s: %v", h.dir, err)
		}
	})
	if !h.mounted() {
		t.Fatalf("mounted() = false after mount()")
	}
	if on, err := h.enabled(); err != nil || !on {
		t.Errorf("enabled() = %v, %v after mount(), want true", on, err)
	}
}

// TestEnsureMounts has ensure mount binfmt_misc where it is not mounted
// yet (a temp dir), when the host's handler for arm64 is ready already.
func TestEnsureMounts(t *testing.T) {
	arm64 := v1.Platform{OS: "linux", Architecture: "arm64"}
	if err := Check(arm64); err != nil || !newHost().privileged || Native(arm64) {
		t.Skip("needs root in the initial user namespace and a ready arm64 handler")
	}
	h := newHost()
	h.dir = t.TempDir()
	t.Cleanup(func() {
		if h.mounted() {
			if err := syscall.Unmount(h.dir, 0); err != nil {
				t.Errorf("unmounting %s: %v", h.dir, err)
			}
		}
	})
	if err := h.ensure(context.Background(), arm64); err != nil {
		t.Errorf("ensure(linux/arm64) with binfmt_misc unmounted = %v, want nil", err)
	}
	if !h.mounted() {
		t.Errorf("ensure(linux/arm64) did not mount binfmt_misc")
	}
}

// TestRegisterHost registers an entry of its own, with a magic no real
// file has, on the host's binfmt_misc, runs a file through it inside a
// chroot that lacks the interpreter (which works only with F), and
// removes the entry.
func TestRegisterHost(t *testing.T) {
	h := newHost()
	if !h.privileged || !h.mounted() {
		t.Skip("needs root in the initial user namespace and binfmt_misc mounted")
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("needs busybox-static (apt-get install busybox-static)")
	}
	name := fmt.Sprintf("strata-test-%d", os.Getpid())
	magic := fmt.Sprintf("STRATATEST%d", os.Getpid())
	r := registration{name: name, magic: magic, mask: strings.Repeat("\xff", len(magic)), interpreter: busybox, flags: "F"}
	if err := h.register(r); err != nil {
		t.Fatalf("register(%s) = %v", name, err)
	}
	t.Cleanup(func() {
		if err := h.unregister(name); err != nil {
			t.Errorf("unregister(%s) = %v", name, err)
		}
	})
	if err := h.register(r); !errors.Is(err, os.ErrExist) {
		t.Errorf("registering %s twice = %v, want os.ErrExist", name, err)
	}
	b, err := os.ReadFile(filepath.Join(h.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	e, err := parseEntry(name, b)
	if err != nil {
		t.Fatal(err)
	}
	if !e.enabled || e.interpreter != busybox || e.flags != "F" || string(e.magic) != magic {
		t.Errorf("registered entry = %+v, want enabled, %s, F, %q", e, busybox, magic)
	}
	// busybox runs the applet named by the file: /echo hello is "echo hello".
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "echo"), []byte(magic+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/echo", "hello")
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "hello\n" {
		t.Errorf("running a %s file in a chroot = %q, %v; want \"hello\\n\"", name, out, err)
	}
}

// TestRegisterForeignHost registers the entry Ensure would for arm64
// (qemu-aarch64-static, flags CF) on the host's binfmt_misc, but for a
// magic only the test's binary has (a mark in the ELF header's padding,
// which neither the kernel nor QEMU reads), runs that binary in a chroot
// holding nothing else, and removes the entry.
func TestRegisterForeignHost(t *testing.T) {
	h := newHost()
	a, _ := archFor(v1.Platform{OS: "linux", Architecture: "arm64"})
	emu := h.emulator(a)
	switch {
	case !h.privileged || !h.mounted():
		t.Skip("needs root in the initial user namespace and binfmt_misc mounted")
	case native(h.goarch, a.platform):
		t.Skip("arm64 is native here")
	case emu == "":
		t.Skip("needs qemu-aarch64-static (apt-get install qemu-user-static)")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go tool to cross-compile a test binary")
	}
	root := t.TempDir()
	src := filepath.Join(t.TempDir(), "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nimport \"runtime\"\n\nfunc main() { println(runtime.GOARCH) }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "hello")
	build := exec.Command(goTool, "build", "-o", bin, src)
	build.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0", "GOFLAGS=", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("cross-compiling for arm64: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	const mark = 15 // the last byte of e_ident's padding
	magic, mask := []byte(a.magic), []byte(a.mask)
	magic[mark], mask[mark], b[mark] = 0x5a, 0xff, 0x5a
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("strata-test-%d-aarch64", os.Getpid())
	if err := h.register(registration{name: name, magic: string(magic), mask: string(mask), interpreter: emu, flags: "CF"}); err != nil {
		t.Fatalf("register(%s) = %v", name, err)
	}
	t.Cleanup(func() {
		if err := h.unregister(name); err != nil {
			t.Errorf("unregister(%s) = %v", name, err)
		}
	})
	data, err := os.ReadFile(filepath.Join(h.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	e, err := parseEntry(name, data)
	if err != nil {
		t.Fatal(err)
	}
	if !e.enabled || e.interpreter != emu || e.flags != "OCF" || !e.matches(b[:20]) || e.matches(a.header()) {
		t.Errorf("registered entry = %+v, want enabled, %s, flags OCF, matching the marked binary only", e, emu)
	}
	cmd := exec.Command("/hello")
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "arm64\n" {
		t.Errorf("running an arm64 binary in a chroot through %s = %q, %v; want \"arm64\\n\"", name, out, err)
	}
}

// unregister removes the entry name: tests clean up with it.
func (h host) unregister(name string) error {
	f, err := os.OpenFile(filepath.Join(h.dir, name), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("removing binfmt_misc entry %s: %w", name, err)
	}
	_, werr := f.Write([]byte("-1"))
	cerr := f.Close()
	if werr != nil {
		return fmt.Errorf("removing binfmt_misc entry %s: %w", name, werr)
	}
	if cerr != nil {
		return fmt.Errorf("removing binfmt_misc entry %s: %w", name, cerr)
	}
	return nil
}
