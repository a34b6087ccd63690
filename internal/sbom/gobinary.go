package sbom

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"encoding/binary"
	"io"
	"os"
	"runtime/debug"
	"strings"
)

// readGoBinary reads the module build info of an executable when it is a Go
// ELF binary: its main module and dependencies, and the standard library.
// The go command's own binaries (cmd/go, cmd/compile... in a golang image)
// and binaries built without modules have no main module: they list the
// standard library only. Anything else is left after reading its first
// bytes and, for ELF, its section headers.
func readGoBinary(abs, p string) ([]Package, error) {
	f, err := os.Open(abs)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if !hasGoBuildInfo(f) {
		return nil, nil
	}
	bi, err := buildinfo.Read(f)
	if err != nil {
		return nil, nil
	}
	mod := func(m debug.Module, main bool) Package {
		if m.Replace != nil && m.Replace.Version != "" {
			m = *m.Replace // a local directory keeps what it replaced
		}
		return Package{Type: "golang", Name: m.Path, Version: m.Version, Sum: m.Sum, GoVersion: bi.GoVersion, Main: main, Path: p}
	}
	var out []Package
	if bi.Main.Path != "" {
		out = append(out, mod(bi.Main, true))
		for _, d := range bi.Deps {
			out = append(out, mod(*d, false))
		}
	}
	// The standard library, as vulnerability scanners match it.
	toolchain, _, _ := strings.Cut(bi.GoVersion, " ")
	if v, ok := strings.CutPrefix(toolchain, "go"); ok && v != "" {
		out = append(out, Package{Type: "golang", Name: "stdlib", Version: v, GoVersion: bi.GoVersion, Path: p})
	}
	return out, nil
}

// hasGoBuildInfo reports whether f is an ELF file with a .go.buildinfo
// section. It reads the ELF header, the section header table and the
// section names, three reads, and nothing else of the file.
func hasGoBuildInfo(f io.ReaderAt) bool {
	var ident [elf.EI_NIDENT]byte
	if _, err := f.ReadAt(ident[:], 0); err != nil || string(ident[:4]) != elf.ELFMAG {
		return false
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if elf.Data(ident[elf.EI_DATA]) == elf.ELFDATA2MSB {
		bo = binary.BigEndian
	}
	// Where a section header keeps its name, and the string table its
	// offset and size, by class.
	var h struct {
		shoff               int64
		shentsize, shnum    int
		shstrndx            int
		offAt, sizeAt, word int
		entsize             int
	}
	switch elf.Class(ident[elf.EI_CLASS]) {
	case elf.ELFCLASS64:
		var x elf.Header64
		if binary.Read(io.NewSectionReader(f, 0, int64(binary.Size(x))), bo, &x) != nil {
			return false
		}
		h.shoff, h.shentsize, h.shnum, h.shstrndx = int64(x.Shoff), int(x.Shentsize), int(x.Shnum), int(x.Shstrndx)
		h.offAt, h.sizeAt, h.word, h.entsize = 24, 32, 8, 64
	case elf.ELFCLASS32:
		var x elf.Header32
		if binary.Read(io.NewSectionReader(f, 0, int64(binary.Size(x))), bo, &x) != nil {
			return false
		}
		h.shoff, h.shentsize, h.shnum, h.shstrndx = int64(x.Shoff), int(x.Shentsize), int(x.Shnum), int(x.Shstrndx)
		h.offAt, h.sizeAt, h.word, h.entsize = 16, 20, 4, 40
	default:
		return false
	}
	// A section header is 64 bytes (ELF64) or 40 (ELF32); anything else is
	// not a file to trust with a large allocation.
	if h.shnum == 0 || h.shstrndx >= h.shnum || h.shentsize != h.entsize {
		return false
	}
	table := make([]byte, h.shnum*h.shentsize)
	if _, err := f.ReadAt(table, h.shoff); err != nil {
		return false
	}
	word := func(b []byte) uint64 {
		if h.word == 8 {
			return bo.Uint64(b)
		}
		return uint64(bo.Uint32(b))
	}
	str := table[h.shstrndx*h.shentsize:]
	off, size := word(str[h.offAt:]), word(str[h.sizeAt:])
	if size == 0 || size > 1<<20 {
		return false
	}
	names := make([]byte, size)
	if _, err := f.ReadAt(names, int64(off)); err != nil {
		return false
	}
	const want = ".go.buildinfo\x00"
	for i := 0; i < h.shnum; i++ {
		n := uint64(bo.Uint32(table[i*h.shentsize:]))
		if n < size && bytes.HasPrefix(names[n:], []byte(want)) {
			return true
		}
	}
	return false
}
