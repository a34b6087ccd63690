package seccomp

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Offsets in struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// label names an instruction position; jumps name labels and the
// assembler turns them into offsets. next is the following instruction.
type label int

const next label = 0

// insn is an instruction whose jump targets are labels.
type insn struct {
	code   uint16
	k      uint32
	jt, jf label // conditional jumps
	to     label // unconditional jump
}

// asm assembles a classic BPF program with symbolic jumps.
type asm struct {
	insns  []insn
	labels []int // position by label; -1 until bound
}

func (a *asm) newLabel() label {
	if len(a.labels) == 0 {
		a.labels = append(a.labels, 0) // next
	}
	a.labels = append(a.labels, -1)
	return label(len(a.labels) - 1)
}

// bind puts l at the next instruction.
func (a *asm) bind(l label) { a.labels[l] = len(a.insns) }

func (a *asm) load(off uint32) {
	a.insns = append(a.insns, insn{code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, k: off})
}

func (a *asm) and(k uint32) {
	a.insns = append(a.insns, insn{code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, k: k})
}

func (a *asm) ret(k uint32) {
	a.insns = append(a.insns, insn{code: unix.BPF_RET | unix.BPF_K, k: k})
}

// cond compares the accumulator with k (op is BPF_JEQ, BPF_JGT, BPF_JGE or
// BPF_JSET) and goes on at jt when it holds, jf otherwise.
func (a *asm) cond(op uint16, k uint32, jt, jf label) {
	a.insns = append(a.insns, insn{code: unix.BPF_JMP | op | unix.BPF_K, k: k, jt: jt, jf: jf})
}

func (a *asm) jump(to label) {
	a.insns = append(a.insns, insn{code: unix.BPF_JMP | unix.BPF_JA, to: to})
}

// arg emits the check of one argument condition, jumping to fail when it
// does not hold and falling through when it does. 64-bit arguments are
// compared whole, high word first; 32-bit architectures compare the low
// word only, as libseccomp does.
func (a *asm) arg(c specs.LinuxSeccompArg, wide bool, fail label) {
	lo, hi := offArgs+8*uint32(c.Index), offArgs+8*uint32(c.Index)+4
	v, v2 := c.Value, c.ValueTwo
	if !wide {
		a.word(c.Op, lo, uint32(v), uint32(v2), fail, next)
		return
	}
	pass := a.newLabel()
	switch c.Op {
	case specs.OpEqualTo, specs.OpMaskedEqual:
		// Both words must match.
		a.word(c.Op, hi, uint32(v>>32), uint32(v2>>32), fail, next)
		a.word(c.Op, lo, uint32(v), uint32(v2), fail, next)
	case specs.OpNotEqual:
		// Either word differing is enough.
		a.load(hi)
		a.cond(unix.BPF_JEQ, uint32(v>>32), next, pass)
		a.load(lo)
		a.cond(unix.BPF_JEQ, uint32(v), fail, next)
	default:
		// Ordered: the high words decide unless they are equal.
		a.load(hi)
		strict := map[specs.LinuxSeccompOperator]uint16{
			specs.OpGreaterThan: unix.BPF_JGT, specs.OpGreaterEqual: unix.BPF_JGT,
			specs.OpLessThan: unix.BPF_JGE, specs.OpLessEqual: unix.BPF_JGE,
		}[c.Op]
		greater := c.Op == specs.OpGreaterThan || c.Op == specs.OpGreaterEqual
		if greater {
			a.cond(strict, uint32(v>>32), pass, next)
		} else {
			a.cond(strict, uint32(v>>32), next, pass)
		}
		a.cond(unix.BPF_JEQ, uint32(v>>32), next, fail)
		a.word(c.Op, lo, uint32(v), 0, fail, next)
	}
	a.bind(pass)
}

// word checks op on one 32-bit word at off against v (v2 for a masked
// compare), going to fail or pass.
func (a *asm) word(op specs.LinuxSeccompOperator, off, v, v2 uint32, fail, pass label) {
	a.load(off)
	switch op {
	case specs.OpEqualTo:
		a.cond(unix.BPF_JEQ, v, pass, fail)
	case specs.OpNotEqual:
		a.cond(unix.BPF_JEQ, v, fail, pass)
	case specs.OpMaskedEqual:
		a.and(v)
		a.cond(unix.BPF_JEQ, v2, pass, fail)
	case specs.OpGreaterThan:
		a.cond(unix.BPF_JGT, v, pass, fail)
	case specs.OpGreaterEqual:
		a.cond(unix.BPF_JGE, v, pass, fail)
	case specs.OpLessThan:
		a.cond(unix.BPF_JGE, v, fail, pass)
	case specs.OpLessEqual:
		a.cond(unix.BPF_JGT, v, fail, pass)
	}
}

// assemble resolves labels into offsets.
func (a *asm) assemble() (Program, error) {
	out := make(Program, len(a.insns))
	for i, in := range a.insns {
		f := unix.SockFilter{Code: in.code, K: in.k}
		switch {
		case in.code == unix.BPF_JMP|unix.BPF_JA:
			off, err := a.offset(i, in.to)
			if err != nil {
				return nil, err
			}
			f.K = uint32(off)
		case in.code&0x07 == unix.BPF_JMP:
			jt, err := a.offset(i, in.jt)
			if err != nil {
				return nil, err
			}
			jf, err := a.offset(i, in.jf)
			if err != nil {
				return nil, err
			}
			if jt > 255 || jf > 255 {
				return nil, fmt.Errorf("instruction %d: conditional jump of %d/%d over 255", i, jt, jf)
			}
			f.Jt, f.Jf = uint8(jt), uint8(jf)
		}
		out[i] = f
	}
	return out, nil
}

// offset is how far instruction i jumps to reach l.
func (a *asm) offset(i int, l label) (int, error) {
	if l == next {
		return 0, nil
	}
	pos := a.labels[l]
	if pos < 0 {
		return 0, fmt.Errorf("instruction %d: jump to an unbound label", i)
	}
	if pos <= i {
		return 0, fmt.Errorf("instruction %d: backward jump", i)
	}
	return pos - i - 1, nil
}
