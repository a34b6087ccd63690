// Package emulate lets a build run steps for a platform the host's CPU
// cannot execute: it knows which platforms run natively (Native) and, for
// the others, makes sure the kernel hands their ELF binaries to a QEMU
// user-mode emulator through binfmt_misc (Ensure, Install, Status).
//
// The handler must carry the F (fix-binary) flag: the kernel then opens the
// emulator when the handler is registered, so it runs inside the sandbox's
// mount namespace and chroot, where no /usr/bin/qemu-* exists. Handlers
// this package registers use the flags "CF", as Docker's tonistiigi/binfmt
// does (C: setuid binaries keep their credentials; it implies O).
//
// It imports nothing of strata; build and cli use it.
package emulate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Handler is the binfmt_misc state of one platform the host cannot run.
type Handler struct {
	Platform    v1.Platform // e.g. linux/arm64
	Name        string      // the binfmt_misc entry, e.g. "qemu-aarch64"; "" when none is registered
	Enabled     bool        // whether the entry is enabled
	Interpreter string      // the entry's interpreter, e.g. "/usr/bin/qemu-aarch64-static"
	Flags       string      // the entry's flags, e.g. "CF"; Ready needs an F
	Emulator    string      // the qemu-<arch>-static Install would register; "" when not installed
}

// Ready reports whether the handler runs the platform's binaries inside
// the sandbox: registered, enabled and with the fix-binary flag.
func (h Handler) Ready() bool {
	return h.Name != "" && h.Enabled && strings.Contains(h.Flags, "F")
}

// Native reports whether the host runs p's binaries without emulation:
// linux/amd64 and linux/386 on an x86_64 host; linux/arm64 and
// linux/arm/v5, v6 and v7 on an arm64 host; p's own architecture anywhere.
func Native(p v1.Platform) bool {
	return native(runtime.GOARCH, p)
}

// Check returns nil when the host runs p's binaries, natively or through
// a ready binfmt_misc handler, and otherwise an error that says what is
// missing and how to fix it. Unlike Ensure it changes nothing.
func Check(p v1.Platform) error {
	return newHost().check(p)
}

// Ensure makes the host able to run p's binaries inside the build sandbox.
// It returns nil when p is native or a binfmt_misc handler with the F flag
// is registered for p's ELF machine. Otherwise, when the process is root
// in the initial user namespace and qemu-<arch>-static is installed, it
// mounts binfmt_misc if needed and registers the emulator; else it returns
// an error naming the platform, what is missing and the one-line fix.
func Ensure(ctx context.Context, p v1.Platform) error {
	return newHost().ensure(ctx, p)
}

// Install registers a handler for every platform the host cannot run
// natively whose emulator is installed and that has no handler yet. It
// needs root in the initial user namespace, and fails when no foreign
// platform can be run afterwards or a handler lacks the F flag.
func Install(ctx context.Context) error {
	return newHost().install(ctx)
}

// Status lists, for every foreign platform strata knows an emulator for,
// whether a handler is registered, its interpreter and flags.
func Status() []Handler {
	return newHost().status()
}

// host is where the work is done; tests point it at sample directories.
type host struct {
	dir        string   // the binfmt_misc mount point
	qemuDirs   []string // directories searched for qemu-<arch>-static
	goarch     string   // the host's GOARCH
	privileged bool     // root in the initial user namespace: may mount and register
}

// binfmtDir is where binfmt_misc is mounted.
const binfmtDir = "/proc/sys/fs/binfmt_misc"

func newHost() host {
	return host{
		dir:        binfmtDir,
		qemuDirs:   []string{"/usr/bin", "/usr/libexec/qemu-binfmt"},
		goarch:     runtime.GOARCH,
		privileged: privileged(),
	}
}

// privileged reports whether the process is root in the initial user
// namespace, where binfmt_misc registrations reach the whole host.
func privileged() bool {
	if os.Geteuid() != 0 {
		return false
	}
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295"
}

func native(goarch string, p v1.Platform) bool {
	if p.OS != "linux" {
		return false
	}
	if p.Architecture == goarch {
		return true
	}
	switch goarch {
	case "amd64":
		return p.Architecture == "386"
	case "arm64":
		return p.Architecture == "arm" && (p.Variant == "" || p.Variant == "v5" || p.Variant == "v6" || p.Variant == "v7")
	}
	return false
}

// fixHint is the one-line fix for a missing handler.
const fixHint = "apt-get install qemu-user-static binfmt-support (Debian), or as root: strata emulators --install"

// check is Check: it reports without changing anything.
func (h host) check(p v1.Platform) error {
	if native(h.goarch, p) {
		return nil
	}
	a, ok := archFor(p)
	if !ok {
		return fmt.Errorf("running %s steps needs emulation, and strata knows no QEMU emulator for %s", platformString(p), p.Architecture)
	}
	if !h.mounted() {
		return fmt.Errorf("running %s steps needs QEMU user emulation, and binfmt_misc is not mounted at %s: as root, mount -t binfmt_misc binfmt_misc %s, then %s",
			platformString(p), h.dir, h.dir, fixHint)
	}
	return h.ready(p, a)
}

// ready looks for a handler for a among the registered entries.
func (h host) ready(p v1.Platform, a arch) error {
	if on, err := h.enabled(); err != nil {
		return fmt.Errorf("running %s steps needs QEMU user emulation: %w", platformString(p), err)
	} else if !on {
		return fmt.Errorf("running %s steps needs QEMU user emulation, and binfmt_misc is disabled: as root, echo 1 > %s",
			platformString(p), filepath.Join(h.dir, "status"))
	}
	entries, err := h.entries()
	if err != nil {
		return fmt.Errorf("running %s steps needs QEMU user emulation: %w", platformString(p), err)
	}
	var fixed bool
	for _, e := range entries {
		if !e.enabled || !e.matches(a.header()) {
			continue
		}
		if !strings.Contains(e.flags, "F") {
			return fmt.Errorf("running %s steps needs QEMU user emulation with the fix-binary flag, and binfmt_misc handler %s (%s) for %s "+
				"is registered without F, so its emulator cannot be found inside the build sandbox: as root, echo -1 > %s, then %s",
				platformString(p), e.name, e.interpreter, a.qemu, filepath.Join(h.dir, e.name), fixHint)
		}
		fixed = true
	}
	if !fixed {
		return &missingError{platform: p, arch: a}
	}
	return nil
}

// missingError says no handler is registered for a platform.
type missingError struct {
	platform v1.Platform
	arch     arch
}

func (e *missingError) Error() string {
	return fmt.Sprintf("running %s steps needs QEMU user emulation, and no binfmt_misc handler for %s is registered: %s",
		platformString(e.platform), e.arch.qemu, fixHint)
}

// ensure is Ensure.
func (h host) ensure(ctx context.Context, p v1.Platform) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if native(h.goarch, p) {
		return nil
	}
	if _, ok := archFor(p); ok && h.privileged && !h.mounted() {
		if err := h.mount(); err != nil {
			return fmt.Errorf("running %s steps needs QEMU user emulation: %w", platformString(p), err)
		}
	}
	err := h.check(p)
	var missing *missingError
	if !errors.As(err, &missing) || !h.privileged {
		return err
	}
	emu := h.emulator(missing.arch)
	if emu == "" {
		return fmt.Errorf("running %s steps needs QEMU user emulation, and neither a binfmt_misc handler for %s is registered nor qemu-%s-static installed (in %s): apt-get install qemu-user-static (Debian)",
			platformString(p), missing.arch.qemu, missing.arch.qemu, strings.Join(h.qemuDirs, " or "))
	}
	name, err := h.freeName("qemu-" + missing.arch.qemu)
	if err != nil {
		return fmt.Errorf("registering %s for %s: %w", emu, platformString(p), err)
	}
	if err := h.register(registration{name: name, magic: missing.arch.magic, mask: missing.arch.mask, interpreter: emu, flags: "CF"}); err != nil {
		if !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("registering %s for %s: %w", emu, platformString(p), err)
		}
		// Registered concurrently by another Ensure: check below.
	}
	if err := h.ready(p, missing.arch); err != nil {
		return fmt.Errorf("registering %s for %s: the handler does not show: %w", emu, platformString(p), err)
	}
	return nil
}

// install is Install.
func (h host) install(ctx context.Context) error {
	if !h.privileged {
		return errors.New("installing emulators needs root in the initial user namespace")
	}
	var errs []error
	var ready int
	for _, a := range h.foreign() {
		if err := h.ensure(ctx, a.platform); err != nil {
			if h.emulator(a) == "" && errors.As(h.check(a.platform), new(*missingError)) {
				continue // nothing to install with
			}
			errs = append(errs, err)
			continue
		}
		ready++
	}
	if ready == 0 && len(errs) == 0 {
		return fmt.Errorf("installing emulators: no qemu-*-static found in %s: apt-get install qemu-user-static (Debian)", strings.Join(h.qemuDirs, " or "))
	}
	return errors.Join(errs...)
}

// status is Status.
func (h host) status() []Handler {
	entries, _ := h.entries()
	var out []Handler
	for _, a := range h.foreign() {
		st := Handler{Platform: a.platform, Emulator: h.emulator(a)}
		for _, e := range entries {
			if !e.matches(a.header()) {
				continue
			}
			// Prefer an enabled entry, and among those one with F.
			better := st.Name == "" || (e.enabled && !st.Enabled) ||
				(e.enabled == st.Enabled && strings.Contains(e.flags, "F") && !strings.Contains(st.Flags, "F"))
			if better {
				st.Name, st.Enabled, st.Interpreter, st.Flags = e.name, e.enabled, e.interpreter, e.flags
			}
		}
		out = append(out, st)
	}
	return out
}

// foreign lists the known architectures the host does not run natively.
func (h host) foreign() []arch {
	var out []arch
	for _, a := range arches() {
		if !native(h.goarch, a.platform) {
			out = append(out, a)
		}
	}
	return out
}

// emulator returns the path of a's qemu-<arch>-static, or "".
func (h host) emulator(a arch) string {
	for _, dir := range h.qemuDirs {
		path := filepath.Join(dir, "qemu-"+a.qemu+"-static")
		if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return path
		}
	}
	return ""
}

// freeName returns name, or a strata- prefixed name when an entry (a
// disabled one) holds it already.
func (h host) freeName(name string) (string, error) {
	for _, n := range []string{name, "strata-" + name} {
		if _, err := os.Lstat(filepath.Join(h.dir, n)); errors.Is(err, os.ErrNotExist) {
			return n, nil
		}
	}
	return "", fmt.Errorf("binfmt_misc entries %s and strata-%s exist already", name, name)
}

func platformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}
