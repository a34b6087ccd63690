// Package early starts an ordinary user's strata in its user namespace
// while the rest of the program is still initialising: package userns
// re-executes strata in a new user namespace, and the sooner the child
// starts, the sooner it is ready. Go initialises a package once its
// imports are, the first in import-path order; importing syscall alone,
// this one comes before the bulk of strata's dependencies (about 3 ms of
// package initialisation), which the parent then does while the child
// starts and newuidmap and newgidmap map it.
//
// It starts the child only in the common case (not root, no namespace
// stage yet, a subordinate range in /etc/subuid and /etc/subgid, both
// helpers on PATH, every file readable) and otherwise does nothing, for
// userns.Enter to do it all as before. It starts none for most builds
// either: cli first tries those outside the namespace, where a build
// whose every step is cached finishes (TriesOutside). Once the helpers have mapped the
// child, it lets the child go, whatever the rest of the program's
// initialisation takes; userns.Enter adopts the child (signals, the exit
// code), and says why when a helper failed.
//
// Imported by cli only; imports syscall only (TestImports), or it would
// be initialised later.
package early

import "syscall"

// Child is a child in its namespace, and the helpers that mapped it.
type Child struct {
	Pid int
	// Released says the child has its go-ahead; if not, Sync is the
	// write end of its go-ahead pipe (else -1).
	Released bool
	Sync     int
	// Helpers are newuidmap and newgidmap, done.
	Helpers []Helper
}

// Helper is a newuidmap or newgidmap that ran.
type Helper struct {
	Name string
	// Failure is why it failed ("exit status 1: its output"), or "".
	Failure string

	pid, output int
}

// started is what init started; Started hands it over once.
var started *Child

func init() {
	if syscall.Geteuid() == 0 {
		return // start would start none
	}
	if args := split(readFile("/proc/self/cmdline"), 0); len(args) > 0 && !TriesOutside(args[1:]) {
		started = start()
	}
}

// Started returns the child init started, or nil, and forgets it.
func Started() *Child {
	c := started
	started = nil
	return c
}

// Start starts the child as init does, for a build that cli tried
// outside the namespace first and must now run in it; nil when init
// would have started none.
func Start() *Child { return start() }

// envStage is userns's variable for the stage of a re-executed strata.
const envStage = "STRATA_USERNS"

// start starts the pending child and its helpers, or returns nil having
// started nothing.
func start() *Child {
	if syscall.Geteuid() == 0 {
		return nil
	}
	if _, set := syscall.Getenv(envStage); set {
		return nil
	}
	uid, gid := syscall.Getuid(), syscall.Getgid()
	name := userName(uid)
	if name == "" {
		return nil // a user not in /etc/passwd (NSS): userns asks os/user
	}
	subU, okU := subordinate("/etc/subuid", name, uid)
	subG, okG := subordinate("/etc/subgid", name, uid)
	uidmap, gidmap := lookPath("newuidmap"), lookPath("newgidmap")
	last, okLast := atoi(trimSpace(readText("/proc/sys/kernel/cap_last_cap")))
	args := split(readFile("/proc/self/cmdline"), 0)
	if !okU || !okG || uidmap == "" || gidmap == "" || !okLast || len(args) == 0 {
		return nil
	}
	var p [2]int
	if syscall.Pipe2(p[:], syscall.O_CLOEXEC) != nil {
		return nil
	}
	ambient := make([]uintptr, last+1)
	for i := range ambient {
		ambient[i] = uintptr(i)
	}
	env := []string{envStage + "=pending"}
	for _, e := range syscall.Environ() {
		if !hasPrefix(e, envStage+"=") {
			env = append(env, e)
		}
	}
	pid, err := syscall.ForkExec("/proc/self/exe", args, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{0, 1, 2, uintptr(p[0])},
		Sys: &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
			Pdeathsig:   syscall.SIGKILL,
			AmbientCaps: ambient,
		},
	})
	syscall.Close(p[0])
	if err != nil {
		syscall.Close(p[1])
		return nil
	}
	c := &Child{Pid: pid, Sync: p[1]}
	for _, h := range []struct {
		name, path string
		sub        [2]int
		id         int
	}{{"newuidmap", uidmap, subU, uid}, {"newgidmap", gidmap, subG, gid}} {
		c.Helpers = append(c.Helpers, startHelper(h.name, h.path, []string{
			h.name, itoa(pid), "0", itoa(h.id), "1", "1", itoa(h.sub[0]), itoa(h.sub[1]),
		}))
	}
	ok := true
	for i := range c.Helpers {
		c.Helpers[i].wait()
		ok = ok && c.Helpers[i].Failure == ""
	}
	if ok {
		for {
			n, err := syscall.Write(c.Sync, []byte{'g'})
			if err == syscall.EINTR {
				continue
			}
			if n == 1 {
				syscall.Close(c.Sync)
				c.Sync, c.Released = -1, true
			}
			break
		}
	}
	return c
}

// Command is the command that strata's arguments (without the program's
// name) run: the first word that is neither a global flag nor the value
// of one (--root, --registry-mirror, --insecure-registry take one, as
// "--root v" or "--root=v"), or "" if there is none.
func Command(args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			if i+1 < len(args) {
				return args[i+1]
			}
			return ""
		case a == "--root" || a == "--registry-mirror" || a == "--insecure-registry":
			i++ // its value
		case hasPrefix(a, "-"):
			// --flag=v, or a flag cobra refuses: not a command.
		default:
			return a
		}
	}
	return ""
}

// TriesOutside reports whether args (without the program's name) are a
// build that cli tries outside the namespace first: one without the
// flags for which cli would not (--no-cache, an output, stdin, ...), as
// far as the words show. A build it says yes to and cli refuses, or the
// other way round, costs time only: cli tries no build if early started
// the namespace's child.
func TriesOutside(args []string) bool {
	if Command(args) != "build" {
		return false
	}
	for _, a := range args {
		name := a
		for i := 0; i < len(a); i++ {
			if a[i] == '=' {
				name = a[:i]
				break
			}
		}
		switch name {
		case "-", "--no-cache", "--no-cache-filter", "--pull", "--push", "--load", "--output",
			"--cache-from", "--cache-to", "--build-context":
			return false
		}
		if a == "-f-" || a == "--file=-" || hasPrefix(a, "-o") {
			return false // -f -, -o dest, -odest: "-" and "-o" match too
		}
	}
	return true
}

// wait waits for the helper to finish and says in Failure why it failed.
func (h *Helper) wait() {
	if h.pid < 0 {
		h.Failure = "it could not be started"
		return
	}
	out := trimSpace(readFD(h.output))
	syscall.Close(h.output)
	var ws syscall.WaitStatus
	_, err := syscall.Wait4(h.pid, &ws, 0, nil)
	for err == syscall.EINTR {
		_, err = syscall.Wait4(h.pid, &ws, 0, nil)
	}
	switch {
	case err != nil:
		h.Failure = err.Error()
	case ws.Signaled():
		h.Failure = "signal: " + ws.Signal().String() + ": " + out
	case ws.ExitStatus() != 0:
		h.Failure = "exit status " + itoa(ws.ExitStatus()) + ": " + out
	}
}

// startHelper starts a mapping helper with its output to a pipe; pid -1
// if it could not.
func startHelper(name, path string, args []string) Helper {
	h := Helper{Name: name, pid: -1, output: -1}
	var p [2]int
	if syscall.Pipe2(p[:], syscall.O_CLOEXEC) != nil {
		return h
	}
	null, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		syscall.Close(p[0])
		syscall.Close(p[1])
		return h
	}
	pid, err := syscall.ForkExec(path, args, &syscall.ProcAttr{
		Env:   syscall.Environ(),
		Files: []uintptr{uintptr(null), uintptr(p[1]), uintptr(p[1])},
	})
	syscall.Close(null)
	syscall.Close(p[1])
	if err != nil {
		syscall.Close(p[0])
		return h
	}
	h.pid, h.output = pid, p[0]
	return h
}

// subordinate is the first valid range of an /etc/subuid-style file for
// the user by name or uid, read as userns reads it: start and count. A
// number there that strconv.Atoi reads and atoi does not (a sign, 19
// digits) makes it give up.
func subordinate(path, name string, uid int) ([2]int, bool) {
	for _, line := range split(readText(path), '\n') {
		f := splitAll(trimSpace(line), ':')
		if len(f) != 3 || (f[0] != name && f[0] != itoa(uid)) {
			continue
		}
		start, ok1 := atoi(f[1])
		count, ok2 := atoi(f[2])
		if !ok1 || !ok2 {
			if atoiMaybe(f[1]) && atoiMaybe(f[2]) {
				return [2]int{}, false
			}
			continue
		}
		if count >= 1 {
			return [2]int{start, count}, true
		}
	}
	return [2]int{}, false
}

// atoiMaybe reports whether strconv.Atoi might read s: digits with an
// optional sign.
func atoiMaybe(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// userName is uid's name in /etc/passwd, or "".
func userName(uid int) string { return userNameIn("/etc/passwd", uid) }

// userNameIn is uid's name in a passwd file as os/user reads it (the
// first entry of at least seven fields with that uid), or "".
func userNameIn(path string, uid int) string {
	for _, line := range split(readFile(path), '\n') {
		line = trimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		f := splitAll(line, ':')
		if len(f) < 7 || f[2] != itoa(uid) || f[0] == "" || f[0][0] == '+' || f[0][0] == '-' || !atoiMaybe(f[3]) {
			continue
		}
		return f[0]
	}
	return ""
}

// lookPath finds an executable file on PATH as exec.LookPath does, or
// "": also when a relative directory comes first (exec.LookPath refuses
// what it would find there; userns then maps the user alone).
func lookPath(file string) string {
	path, _ := syscall.Getenv("PATH")
	for _, dir := range split(path, ':') {
		if dir == "" || dir[0] != '/' {
			return ""
		}
		p := dir + "/" + file
		var st syscall.Stat_t
		if syscall.Stat(p, &st) != nil || st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
			continue
		}
		err := syscall.Faccessat(_AT_FDCWD, p, 1, _AT_EACCESS) // X_OK
		if err == nil || ((err == syscall.ENOSYS || err == syscall.EPERM) && st.Mode&0o111 != 0) {
			return p
		}
	}
	return ""
}

// Linux's values, which package syscall does not name.
const (
	_AT_FDCWD   = -0x64
	_AT_EACCESS = 0x200
)

// readText is the text file's content, or "" on any error or on a byte
// beyond ASCII (which strings.TrimSpace might read otherwise).
func readText(path string) string {
	s := readFile(path)
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return ""
		}
	}
	return s
}

// readFile is the file's content, or "" on any error.
func readFile(path string) string {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	defer syscall.Close(fd)
	return readFD(fd)
}

// readFD reads fd to its end or an error.
func readFD(fd int) string {
	var out []byte
	buf := make([]byte, 8192)
	for {
		n, err := syscall.Read(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if n <= 0 || err != nil {
			return string(out)
		}
		out = append(out, buf[:n]...)
	}
}

// split cuts s at every sep, dropping a final empty field (as a file's
// last newline or cmdline's last NUL leaves).
func split(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// splitAll cuts s at every sep, as strings.Split does.
func splitAll(s string, sep byte) []string {
	out := split(s, sep)
	if len(s) > 0 && s[len(s)-1] == sep || s == "" {
		out = append(out, "")
	}
	return out
}

func trimSpace(s string) string {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func hasPrefix(s, prefix string) bool { return len(s) >= len(prefix) && s[:len(prefix)] == prefix }

// atoi reads a decimal number of at most 18 digits, as strconv.Atoi
// reads the ones userns accepts (no sign).
func atoi(s string) (int, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
