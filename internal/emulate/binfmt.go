package emulate

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// arch is a CPU QEMU emulates: its canonical platform, QEMU's name for it
// and the binfmt_misc magic and mask that match its ELF executables (the
// first 20 bytes of the ELF header: ident, e_type and e_machine), as in
// QEMU's scripts/qemu-binfmt-conf.sh.
type arch struct {
	platform    v1.Platform
	qemu        string
	magic, mask string
}

// arches lists the architectures strata knows an emulator for.
func arches() []arch {
	const (
		elf64LE = "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00"
		elf32LE = "\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00"
		elfMask = "\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
		x86Mask = "\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
	)
	linux := func(arch, variant string) v1.Platform {
		return v1.Platform{OS: "linux", Architecture: arch, Variant: variant}
	}
	return []arch{
		{linux("arm64", ""), "aarch64", elf64LE + "\xb7\x00", elfMask},
		{linux("arm", "v7"), "arm", elf32LE + "\x28\x00", elfMask},
		{linux("riscv64", ""), "riscv64", elf64LE + "\xf3\x00", elfMask},
		{linux("ppc64le", ""), "ppc64le", elf64LE + "\x15\x00",
			"\xff\xff\xff\xff\xff\xff\xff\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\x00"},
		{linux("s390x", ""), "s390x", "\x7fELF\x02\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x16",
			"\xff\xff\xff\xff\xff\xff\xff\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff"},
		{linux("amd64", ""), "x86_64", elf64LE + "\x3e\x00", x86Mask},
		{linux("386", ""), "i386", elf32LE + "\x03\x00", x86Mask},
	}
}

// archFor returns the emulated architecture that runs p's binaries.
func archFor(p v1.Platform) (arch, bool) {
	if p.OS != "linux" {
		return arch{}, false
	}
	for _, a := range arches() {
		if a.platform.Architecture == p.Architecture {
			return a, true
		}
	}
	return arch{}, false
}

// header is the start of an ELF executable of a, as the kernel sees it.
func (a arch) header() []byte {
	return []byte(a.magic)
}

// entry is a parsed /proc/sys/fs/binfmt_misc/<name> file.
type entry struct {
	name        string
	enabled     bool
	interpreter string
	flags       string
	offset      int
	magic, mask []byte // nil for an extension entry; mask nil when none
}

// parseEntry parses a binfmt_misc entry file:
//
//	enabled
//	interpreter /usr/bin/qemu-aarch64-static
//	flags: OCF
//	offset 0
//	magic 7f454c46...
//	mask ffffffff...
func parseEntry(name string, data []byte) (entry, error) {
	e := entry{name: name}
	sc := bufio.NewScanner(bytes.NewReader(data))
	first := true
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if first {
			first = false
			switch line {
			case "enabled":
				e.enabled = true
			case "disabled":
			default:
				return entry{}, fmt.Errorf("parsing binfmt_misc entry %s: first line %q is neither enabled nor disabled", name, line)
			}
			continue
		}
		k, v, _ := strings.Cut(line, " ")
		v = strings.TrimSpace(v)
		var err error
		switch strings.TrimSuffix(k, ":") {
		case "interpreter":
			e.interpreter = v
		case "flags":
			e.flags = v
		case "offset":
			e.offset, err = strconv.Atoi(v)
		case "magic":
			e.magic, err = hex.DecodeString(v)
		case "mask":
			e.mask, err = hex.DecodeString(v)
		}
		if err != nil {
			return entry{}, fmt.Errorf("parsing binfmt_misc entry %s: %s: %w", name, k, err)
		}
	}
	if first {
		return entry{}, fmt.Errorf("parsing binfmt_misc entry %s: empty", name)
	}
	if e.mask != nil && len(e.mask) != len(e.magic) {
		return entry{}, fmt.Errorf("parsing binfmt_misc entry %s: mask of %d bytes for magic of %d", name, len(e.mask), len(e.magic))
	}
	return e, sc.Err()
}

// matches reports whether the kernel would hand a file starting with hdr
// to the entry (ignoring whether it is enabled).
func (e entry) matches(hdr []byte) bool {
	if len(e.magic) == 0 || e.offset < 0 || e.offset+len(e.magic) > len(hdr) {
		return false
	}
	for i, m := range e.magic {
		k := byte(0xff)
		if e.mask != nil {
			k = e.mask[i]
		}
		if hdr[e.offset+i]&k != m&k {
			return false
		}
	}
	return true
}

// mounted reports whether binfmt_misc is mounted at h.dir.
func (h host) mounted() bool {
	_, err := os.Stat(filepath.Join(h.dir, "register"))
	return err == nil
}

// mount mounts binfmt_misc at h.dir.
func (h host) mount() error {
	if err := unix.Mount("binfmt_misc", h.dir, "binfmt_misc", 0, ""); err != nil {
		return fmt.Errorf("mounting binfmt_misc at %s: %w", h.dir, err)
	}
	return nil
}

// enabled reports whether binfmt_misc as a whole is enabled.
func (h host) enabled() (bool, error) {
	b, err := os.ReadFile(filepath.Join(h.dir, "status"))
	if err != nil {
		return false, fmt.Errorf("reading binfmt_misc status: %w", err)
	}
	return strings.TrimSpace(string(b)) == "enabled", nil
}

// entries parses every registered entry.
func (h host) entries() ([]entry, error) {
	des, err := os.ReadDir(h.dir)
	if err != nil {
		return nil, fmt.Errorf("listing binfmt_misc entries: %w", err)
	}
	var out []entry
	for _, de := range des {
		if de.Name() == "register" || de.Name() == "status" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(h.dir, de.Name()))
		if errors.Is(err, os.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("reading binfmt_misc entry: %w", err)
		}
		e, err := parseEntry(de.Name(), b)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// registration is a line for binfmt_misc's register file.
type registration struct {
	name, magic, mask, interpreter, flags string
}

// String renders r as ":name:M:0:magic:mask:interpreter:flags", every
// magic and mask byte escaped so that none reads as the separator.
func (r registration) String() string {
	esc := func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			fmt.Fprintf(&b, "\\x%02x", s[i])
		}
		return b.String()
	}
	return ":" + r.name + ":M:0:" + esc(r.magic) + ":" + esc(r.mask) + ":" + r.interpreter + ":" + r.flags
}

// register writes r to the register file, in one write as the kernel
// wants. A name registered already gives an error matching os.ErrExist.
func (h host) register(r registration) error {
	f, err := os.OpenFile(filepath.Join(h.dir, "register"), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("opening binfmt_misc register: %w", err)
	}
	_, werr := f.Write([]byte(r.String()))
	cerr := f.Close()
	if werr != nil {
		return fmt.Errorf("registering binfmt_misc entry %s: %w", r.name, werr)
	}
	if cerr != nil {
		return fmt.Errorf("registering binfmt_misc entry %s: %w", r.name, cerr)
	}
	return nil
}
