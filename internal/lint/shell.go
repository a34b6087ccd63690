package lint

import "strings"

// simpleCommand is one command of a RUN's shell text: its words after
// leading VAR=value assignments (kept in Env) and "sudo".
type simpleCommand struct {
	Args []string
	Env  map[string]string
}

// shellScript is a RUN's shell text split into simple commands.
type shellScript struct {
	Commands []simpleCommand
	Pipe     bool // an unquoted "|" joins two commands
	// installs memoises Installs when known (set by Input.shell).
	installs      []install
	installsKnown bool
}

// Installs are the OS package installs of the script.
func (sh shellScript) Installs() []install {
	if sh.installsKnown {
		return sh.installs
	}
	return osInstalls(sh)
}

// parseShell splits s into simple commands at unquoted &&, ||, ;, |, &,
// parentheses and newlines. It is a word splitter, not a shell: enough to
// recognise package managers and their flags.
func parseShell(s string) shellScript {
	var (
		out    shellScript
		words  []string
		word   []byte // reused: a word costs one allocation, its string
		inW    bool
		quote  byte
		target bool // the next word is a redirection's target, not an argument
	)
	endWord := func() {
		if inW {
			if !target {
				words = append(words, string(word))
			}
			word = word[:0]
			inW, target = false, false
		}
	}
	endCmd := func() {
		endWord()
		if c := newSimpleCommand(words); len(c.Args) > 0 {
			out.Commands = append(out.Commands, c)
		}
		words, target = nil, false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			} else if ch == '\\' && quote == '"' && i+1 < len(s) {
				i++
				word = append(word, s[i])
			} else {
				word = append(word, ch)
			}
		case ch == '\'' || ch == '"':
			quote, inW = ch, true
		case ch == '\\' && i+1 < len(s):
			i++
			if s[i] != '\n' {
				word = append(word, s[i])
				inW = true
			}
		case ch == '#' && !inW:
			for i < len(s) && s[i] != '\n' {
				i++
			}
			endCmd()
		case ch == ' ' || ch == '\t' || ch == '\r':
			endWord()
		case ch == '>' || ch == '<':
			// A redirection: "> f", "2>&1", "&>/dev/null", "<<EOF". Its
			// file descriptor and target are no arguments ("pip install
			// flask>=2" installs flask and writes to the file "=2").
			if inW && !isFD(word) {
				endWord()
			}
			word, inW = word[:0], false
			for i+1 < len(s) && strings.IndexByte("<>&|-", s[i+1]) >= 0 {
				i++
			}
			target = true
		case ch == '|':
			if i+1 < len(s) && s[i+1] == '|' {
				i++
			} else {
				out.Pipe = true
			}
			endCmd()
		case ch == '&' || ch == ';' || ch == '\n' || ch == '(' || ch == ')' || ch == '`':
			if ch == '&' && i+1 < len(s) && s[i+1] == '>' {
				word = append(word, ch)
				inW = true
				continue
			}
			endCmd()
		default:
			word = append(word, ch)
			inW = true
		}
	}
	endCmd()
	return out
}

// isFD reports whether a word before a redirection operator is its file
// descriptor ("2" in "2>&1", "&" in "&>").
func isFD(w []byte) bool {
	if string(w) == "&" {
		return true
	}
	for _, c := range w {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(w) > 0
}

func newSimpleCommand(words []string) simpleCommand {
	var c simpleCommand // Env stays nil without assignments: most commands have none
	for len(words) > 0 {
		w := words[0]
		if k, v, ok := strings.Cut(w, "="); ok && isName(k) {
			if c.Env == nil {
				c.Env = map[string]string{}
			}
			c.Env[k] = v
		} else if w != "sudo" && w != "exec" && w != "then" && w != "do" && w != "else" {
			break
		}
		words = words[1:]
	}
	c.Args = words
	return c
}

func isName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r != '_' && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// is reports whether c runs prog with the given leading subcommand words,
// flags skipped (e.g. is("apt-get", "install") matches
// "apt-get -y install x").
func (c simpleCommand) is(prog string, sub ...string) bool {
	if len(c.Args) == 0 || base(c.Args[0]) != prog {
		return false
	}
	i := 0
	for op := range c.eachOperand {
		if i == len(sub) {
			break
		}
		if op != sub[i] {
			return false
		}
		i++
	}
	return i == len(sub)
}

// operands are the words after the program that are not flags.
func (c simpleCommand) operands() []string {
	var out []string
	for op := range c.eachOperand {
		out = append(out, op)
	}
	return out
}

// eachOperand yields the operands in order, without collecting them (is
// runs for every command of every RUN, for many programs).
func (c simpleCommand) eachOperand(yield func(string) bool) {
	skip := false
	for _, a := range c.Args[1:] {
		switch {
		case skip:
			skip = false
		case takesValue(a):
			skip = true
		case !strings.HasPrefix(a, "-"):
			if !yield(a) {
				return
			}
		}
	}
}

// has reports whether c has one of the flags.
func (c simpleCommand) has(flags ...string) bool {
	for _, a := range c.Args[1:] {
		for _, f := range flags {
			if a == f || strings.HasPrefix(a, f+"=") {
				return true
			}
		}
	}
	return false
}

// takesValue reports whether a package-manager flag takes the next word
// as its value.
func takesValue(flag string) bool {
	switch flag {
	case "-o", "--option", "-t", "--target-release", "--virtual", "--repository",
		"-X", "-c", "-r", "--requirement", "-i", "--index-url":
		return true
	}
	return false
}

func base(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[i+1:]
	}
	return p
}

// packages are the operands of an install command after its subcommand,
// e.g. the packages of "apt-get install -y curl git".
func (c simpleCommand) packages(sub string) []string {
	ops := c.operands()
	for i, o := range ops {
		if o == sub {
			return ops[i+1:]
		}
	}
	return nil
}
