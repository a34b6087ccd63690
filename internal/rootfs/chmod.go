package rootfs

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// chmodFunc maps a source mode (permission, setuid, setgid, sticky bits) to
// the mode written.
type chmodFunc func(mode uint32, isDir bool) uint32

// parseChmod parses --chmod: octal ("755", "0644", up to 07777) or symbolic
// like chmod(1) ("u+x", "go-w", "a=rX,u+s"; no "who" means all). "" keeps
// the mode.
func parseChmod(s string) (chmodFunc, error) {
	if s == "" {
		return func(m uint32, _ bool) uint32 { return m }, nil
	}
	if n, err := strconv.ParseUint(s, 8, 32); err == nil {
		if n > 0o7777 {
			return nil, fmt.Errorf("invalid chmod parameter: '%s'. it should be octal string and between 0 and 07777", s)
		}
		return func(uint32, bool) uint32 { return uint32(n) }, nil
	}
	var clauses []symClause
	for _, part := range strings.Split(s, ",") {
		c, err := parseClause(part)
		if err != nil {
			return nil, fmt.Errorf("invalid chmod parameter: '%s': %w", s, err)
		}
		clauses = append(clauses, c...)
	}
	return func(m uint32, isDir bool) uint32 {
		for _, c := range clauses {
			m = c.apply(m, isDir)
		}
		return m
	}, nil
}

// symClause is one operator of a symbolic mode: who, op and what.
type symClause struct {
	who  uint32 // mask of the u, g, o permission bits concerned
	all  bool   // who was empty or "a"
	op   byte
	perm string // letters from rwxXst, or one of u, g, o to copy
}

func parseClause(part string) ([]symClause, error) {
	i := 0
	var who uint32
	for ; i < len(part) && strings.IndexByte("ugoa", part[i]) >= 0; i++ {
		who |= whoMask(part[i])
	}
	all := who == 0 || who == 0o777
	if who == 0 {
		who = 0o777
	}
	if i == len(part) {
		return nil, fmt.Errorf("missing operator in %q", part)
	}
	var out []symClause
	for i < len(part) {
		op := part[i]
		if op != '+' && op != '-' && op != '=' {
			return nil, fmt.Errorf("bad operator %q in %q", op, part)
		}
		i++
		j := i
		for ; j < len(part) && strings.IndexByte("rwxXstugo", part[j]) >= 0; j++ {
		}
		out = append(out, symClause{who: who, all: all, op: op, perm: part[i:j]})
		i = j
	}
	return out, nil
}

func whoMask(c byte) uint32 {
	switch c {
	case 'u':
		return 0o700
	case 'g':
		return 0o070
	case 'o':
		return 0o007
	}
	return 0o777
}

func (c symClause) bits(m uint32, isDir bool) uint32 {
	var b uint32
	for i := 0; i < len(c.perm); i++ {
		switch p := c.perm[i]; p {
		case 'r':
			b |= 0o444
		case 'w':
			b |= 0o222
		case 'x':
			b |= 0o111
		case 'X':
			if isDir || m&0o111 != 0 {
				b |= 0o111
			}
		case 's':
			if c.who&0o700 != 0 {
				b |= 0o4000
			}
			if c.who&0o070 != 0 {
				b |= 0o2000
			}
		case 't':
			if c.all || c.who&0o007 != 0 {
				b |= 0o1000
			}
		case 'u', 'g', 'o':
			shift := map[byte]uint{'u': 6, 'g': 3, 'o': 0}[p]
			b |= (m >> shift & 7) * 0o111
		}
	}
	return b & (c.who | 0o7000)
}

func (c symClause) apply(m uint32, isDir bool) uint32 {
	b := c.bits(m, isDir)
	switch c.op {
	case '+':
		return m | b
	case '-':
		return m &^ b
	}
	clear := c.who
	if c.who&0o700 != 0 {
		clear |= 0o4000
	}
	if c.who&0o070 != 0 {
		clear |= 0o2000
	}
	if c.all {
		clear |= 0o1000
	}
	return m&^clear | b
}

// createdDirMode is the mode of the directories a COPY with --chmod=s
// creates for its destination (the missing parents and the destination dir
// of a directory source). BuildKit (tonistiigi/fsutil copy.Copy and
// prepareTargetDir) gives them an octal --chmod through MkdirAll with
// os.FileMode(mode): the permission bits only, no setuid, setgid or
// sticky. A symbolic --chmod leaves them at def.
func createdDirMode(s string, def fs.FileMode) fs.FileMode {
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || n > 0o7777 {
		return def
	}
	return fs.FileMode(n).Perm()
}

// unixMode returns the chmod(2) bits of a Go file mode.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}
