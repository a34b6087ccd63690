// Package seccomp compiles an OCI runtime-spec seccomp profile into the
// classic BPF program the kernel runs on every system call, and loads it.
// It is pure Go, so strata needs neither libseccomp nor cgo and can stay a
// static binary (which rootless and in-container use rely on).
//
// The profile strata applies is Docker's default
// (github.com/moby/profiles/seccomp, the same data dockerd and BuildKit
// use), resolved for the step's capabilities: Default. Compile follows
// libseccomp's meaning of a profile as runc applies it: rules that list the
// same argument more than once match when any of those conditions does,
// when several rules match the most restrictive action wins, and system
// calls newer than any the profile names get ENOSYS rather than the
// default errno, so that C libraries fall back to older calls.
//
// Imported by sandbox only; imports nothing of strata.
package seccomp

//go:generate go run mksyscalls.go

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"unsafe"

	profiles "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Program is a compiled filter, ready to load.
type Program []unix.SockFilter

// Default returns Docker's default profile for a process whose bounding
// capability set is caps: the system calls that need a capability the
// process lacks (mount, unshare, ptrace, ...) are refused.
func Default(caps []string) (*specs.LinuxSeccomp, error) {
	p, err := profiles.GetDefaultProfile(&specs.Spec{Process: &specs.Process{
		Capabilities: &specs.LinuxCapabilities{Bounding: caps},
	}})
	if err != nil {
		return nil, fmt.Errorf("making the default seccomp profile: %w", err)
	}
	return p, nil
}

// Load installs prog for every thread of the calling process
// (SECCOMP_FILTER_FLAG_TSYNC), which must have no_new_privs set. Children
// inherit the filter; nothing can remove it.
func (prog Program) Load() error {
	if len(prog) == 0 {
		return errors.New("loading seccomp filter: empty program")
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if errno != 0 {
		return fmt.Errorf("loading seccomp filter: %w", errno)
	}
	return nil
}

// Bytes encodes the program as the kernel reads it (struct sock_filter,
// little-endian), to hand it to another process.
func (prog Program) Bytes() []byte {
	b := make([]byte, 0, 8*len(prog))
	for _, f := range prog {
		b = binary.LittleEndian.AppendUint16(b, f.Code)
		b = append(b, f.Jt, f.Jf)
		b = binary.LittleEndian.AppendUint32(b, f.K)
	}
	return b
}

// ProgramFromBytes decodes what Bytes encodes; no bytes is no program.
func ProgramFromBytes(b []byte) (Program, error) {
	if len(b)%8 != 0 || len(b)/8 > maxInsns {
		return nil, fmt.Errorf("decoding seccomp filter: %d bytes is no program", len(b))
	}
	var prog Program
	for ; len(b) > 0; b = b[8:] {
		prog = append(prog, unix.SockFilter{Code: binary.LittleEndian.Uint16(b), Jt: b[2], Jf: b[3], K: binary.LittleEndian.Uint32(b[4:])})
	}
	return prog, nil
}

// maxInsns is the kernel's limit on a filter's length (BPF_MAXINSNS).
const maxInsns = 4096

// Compile turns p into a program. Architectures the profile names that
// this package has no system call table for are left to the default
// action, as are system calls an architecture lacks.
func Compile(p *specs.LinuxSeccomp) (Program, error) {
	if p == nil {
		return nil, errors.New("compiling seccomp profile: no profile")
	}
	def, err := action(p.DefaultAction, p.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("compiling seccomp profile: default action: %w", err)
	}
	arches := p.Architectures
	if len(arches) == 0 {
		arches = []specs.Arch{nativeArch()}
	}
	var a asm
	lDefault := a.newLabel()
	var sections []archSection
	for _, name := range arches {
		audit, ok := auditArch(name)
		if !ok || slices.ContainsFunc(sections, func(s archSection) bool { return s.audit == audit }) {
			continue
		}
		rules, err := archRules(string(name), p.Syscalls)
		if err != nil {
			return nil, fmt.Errorf("compiling seccomp profile: %w", err)
		}
		sections = append(sections, archSection{name: string(name), audit: audit, rules: rules, label: a.newLabel()})
	}
	// Which architecture made the call.
	a.load(offArch)
	for _, s := range sections {
		lNot := a.newLabel()
		a.cond(unix.BPF_JEQ, s.audit, next, lNot)
		a.jump(s.label)
		a.bind(lNot)
	}
	a.ret(def)
	for _, s := range sections {
		a.bind(s.label)
		s.emit(&a, def, lDefault)
	}
	a.bind(lDefault)
	a.ret(def)
	prog, err := a.assemble()
	if err != nil {
		return nil, fmt.Errorf("compiling seccomp profile: %w", err)
	}
	if len(prog) > maxInsns {
		return nil, fmt.Errorf("compiling seccomp profile: %d instructions, over the kernel's %d", len(prog), maxInsns)
	}
	return prog, nil
}

// nativeArch is the OCI name of the running architecture.
func nativeArch() specs.Arch {
	return map[string]specs.Arch{"amd64": specs.ArchX86_64, "386": specs.ArchX86, "arm64": specs.ArchAARCH64, "arm": specs.ArchARM}[runtime.GOARCH]
}

// auditArch is the AUDIT_ARCH value the kernel reports for arch.
func auditArch(arch specs.Arch) (uint32, bool) {
	v, ok := map[specs.Arch]uint32{
		specs.ArchX86_64: unix.AUDIT_ARCH_X86_64, specs.ArchX86: unix.AUDIT_ARCH_I386,
		specs.ArchAARCH64: unix.AUDIT_ARCH_AARCH64, specs.ArchARM: unix.AUDIT_ARCH_ARM,
	}[arch]
	return v, ok
}

// is64 reports whether arch passes 64-bit system call arguments.
func is64(arch string) bool {
	return arch == string(specs.ArchX86_64) || arch == string(specs.ArchAARCH64)
}

// x32Bit marks x32 system calls on x86_64, which share its AUDIT_ARCH.
const x32Bit = 0x40000000

// archSection is the part of the program for one architecture.
type archSection struct {
	name  string
	audit uint32
	rules map[uint32][]rule
	label label
}

// rule is one matching alternative for a system call: every condition
// must hold.
type rule struct {
	conds []specs.LinuxSeccompArg
	act   uint32
}

// emit writes the section: x32 calls and calls newer than the profile
// knows are refused, then a binary search over the system calls the
// profile names leads to one block of rules per call.
func (s archSection) emit(a *asm, def uint32, lDefault label) {
	a.load(offNr)
	if s.name == string(specs.ArchX86_64) {
		lNative := a.newLabel()
		a.cond(unix.BPF_JSET, x32Bit, next, lNative)
		a.jump(lDefault)
		a.bind(lNative)
	}
	nrs := make([]uint32, 0, len(s.rules))
	for nr := range s.rules {
		nrs = append(nrs, nr)
	}
	slices.Sort(nrs)
	if len(nrs) == 0 {
		a.jump(lDefault)
		return
	}
	if def&unix.SECCOMP_RET_ACTION_FULL != unix.SECCOMP_RET_ALLOW {
		// runc's rule: a call newer than every call the profile names
		// is one the profile could not know; say it does not exist.
		lKnown := a.newLabel()
		a.cond(unix.BPF_JGT, nrs[len(nrs)-1], next, lKnown)
		a.ret(unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS))
		a.bind(lKnown)
	}
	// A call whose first rule has no condition returns in the search
	// itself; the others jump to a block of their rules.
	blocks := map[uint32]label{}
	for _, nr := range nrs {
		if len(s.rules[nr][0].conds) > 0 {
			blocks[nr] = a.newLabel()
		}
	}
	s.search(a, nrs, blocks, lDefault)
	for _, nr := range nrs {
		l, ok := blocks[nr]
		if !ok {
			continue
		}
		a.bind(l)
		for _, r := range s.rules[nr] {
			fail := a.newLabel()
			for _, c := range r.conds {
				a.arg(c, is64(s.name), fail)
			}
			a.ret(r.act)
			a.bind(fail)
		}
		a.jump(lDefault)
	}
}

// leafSize is how many calls a search leaf compares one by one.
const leafSize = 4

// search emits a binary search for the number in the accumulator among
// nrs (sorted), returning its action or jumping to its block, or to
// lDefault when it is none.
func (s archSection) search(a *asm, nrs []uint32, blocks map[uint32]label, lDefault label) {
	if len(nrs) <= leafSize {
		for _, nr := range nrs {
			lNot := a.newLabel()
			a.cond(unix.BPF_JEQ, nr, next, lNot)
			if l, ok := blocks[nr]; ok {
				a.jump(l)
			} else {
				a.ret(s.rules[nr][0].act)
			}
			a.bind(lNot)
		}
		a.jump(lDefault)
		return
	}
	mid := len(nrs) / 2
	lLow := a.newLabel()
	lHigh := a.newLabel()
	a.cond(unix.BPF_JGE, nrs[mid], lHigh, next)
	a.jump(lLow)
	a.bind(lHigh)
	s.search(a, nrs[mid:], blocks, lDefault)
	a.bind(lLow)
	s.search(a, nrs[:mid], blocks, lDefault)
}

// archRules groups the profile's rules by system call number for arch,
// most restrictive action first.
func archRules(arch string, calls []specs.LinuxSyscall) (map[uint32][]rule, error) {
	out := map[uint32][]rule{}
	for _, c := range calls {
		act, err := action(c.Action, c.ErrnoRet)
		if err != nil {
			return nil, fmt.Errorf("rule for %v: %w", c.Names, err)
		}
		for _, cs := range splitConds(c.Args) {
			if err := checkConds(cs); err != nil {
				return nil, fmt.Errorf("rule for %v: %w", c.Names, err)
			}
			for _, name := range c.Names {
				nr, ok := syscallNumber(arch, name)
				if !ok {
					continue
				}
				out[nr] = append(out[nr], rule{conds: cs, act: act})
			}
		}
	}
	for nr := range out {
		slices.SortStableFunc(out[nr], func(x, y rule) int { return precedence(x.act) - precedence(y.act) })
	}
	return out, nil
}

// splitConds follows runc: a rule naming one argument several times is
// several rules, one per condition; otherwise one rule with all of them.
func splitConds(args []specs.LinuxSeccompArg) [][]specs.LinuxSeccompArg {
	seen := map[uint]bool{}
	for _, c := range args {
		if seen[c.Index] {
			out := make([][]specs.LinuxSeccompArg, len(args))
			for i, c := range args {
				out[i] = []specs.LinuxSeccompArg{c}
			}
			return out
		}
		seen[c.Index] = true
	}
	return [][]specs.LinuxSeccompArg{args}
}

func checkConds(cs []specs.LinuxSeccompArg) error {
	for _, c := range cs {
		if c.Index > 5 {
			return fmt.Errorf("argument index %d out of range", c.Index)
		}
		switch c.Op {
		case specs.OpEqualTo, specs.OpNotEqual, specs.OpMaskedEqual, specs.OpGreaterThan,
			specs.OpGreaterEqual, specs.OpLessThan, specs.OpLessEqual:
		default:
			return fmt.Errorf("unknown comparison %q", c.Op)
		}
	}
	return nil
}

// action turns a profile action into a filter return value.
func action(a specs.LinuxSeccompAction, errnoRet *uint) (uint32, error) {
	errno := uint32(unix.EPERM)
	if errnoRet != nil {
		errno = uint32(*errnoRet)
	}
	switch a {
	case specs.ActAllow:
		return unix.SECCOMP_RET_ALLOW, nil
	case specs.ActErrno:
		return unix.SECCOMP_RET_ERRNO | errno&unix.SECCOMP_RET_DATA, nil
	case specs.ActKill, specs.ActKillThread:
		return unix.SECCOMP_RET_KILL_THREAD, nil
	case specs.ActKillProcess:
		return unix.SECCOMP_RET_KILL_PROCESS, nil
	case specs.ActTrap:
		return unix.SECCOMP_RET_TRAP, nil
	case specs.ActTrace:
		return unix.SECCOMP_RET_TRACE | errno&unix.SECCOMP_RET_DATA, nil
	case specs.ActLog:
		return unix.SECCOMP_RET_LOG, nil
	}
	return 0, fmt.Errorf("unsupported action %q", a)
}

// precedence orders actions as the kernel does when filters disagree:
// lower is more restrictive.
func precedence(act uint32) int {
	order := []uint32{unix.SECCOMP_RET_KILL_PROCESS, unix.SECCOMP_RET_KILL_THREAD, unix.SECCOMP_RET_TRAP,
		unix.SECCOMP_RET_ERRNO, unix.SECCOMP_RET_USER_NOTIF, unix.SECCOMP_RET_TRACE, unix.SECCOMP_RET_LOG, unix.SECCOMP_RET_ALLOW}
	return slices.Index(order, act&unix.SECCOMP_RET_ACTION_FULL)
}
