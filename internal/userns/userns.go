// Package userns lets an ordinary user run strata: it re-executes the
// program in a new user and mount namespace in which the user is root,
// with the user's subordinate ids from /etc/subuid and /etc/subgid mapped
// too (through the setuid helpers newuidmap and newgidmap, as podman and
// BuildKit do), or the user alone when it has none. Inside, strata runs as
// it does as root: it can chown to the mapped ids, mount overlayfs (kernel
// 5.11 and later) and make the sandbox's namespaces, all owned by the
// user's namespace and worth nothing on the host.
//
// The child cannot be given its mapping before it starts, and a process
// executed before its mapping exists would lose its capabilities in the
// namespace: so the child is started with all of them ambient, which an
// execve keeps whatever the uid, waits for the parent to write the
// mapping, and then, root of the namespace, lowers its inheritable and
// ambient sets to what root's are and goes on: two starts of strata, not
// three. Where the child cannot start with ambient capabilities, it starts
// without and, once mapped, executes itself again to get root's.
//
// Imported by cli only; imports nothing of strata.
package userns

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// envStage tells a re-executed strata where it is: "pending" (waiting for
// its mapping on fd 3) or "mapped"; set to anything else, Enter starts
// the child itself, package early does not.
const envStage = "STRATA_USERNS"

// syncFD is where a pending child reads the parent's go-ahead.
const syncFD = 3

// Range is one mapped range of ids: Inside maps to Outside, Count ids.
type Range struct {
	Inside, Outside, Count int
}

// Mapping is what the namespace maps.
type Mapping struct {
	UIDs, GIDs []Range
	// Helpers says whether newuidmap/newgidmap write it (subordinate
	// ranges) or the parent writes it itself (the user's own ids only).
	Helpers bool
}

// Single reports whether only the user's own ids are mapped.
func (m Mapping) Single() bool { return !m.Helpers }

// InNamespace reports whether this process is a strata that Enter
// re-executed.
func InNamespace() bool { return os.Getenv(envStage) == "mapped" }

// Outside reports whether this process is an ordinary user's strata not
// in its user namespace, nor on its way in: the one Enter would run again
// in a namespace.
func Outside() bool {
	stage := os.Getenv(envStage)
	return os.Geteuid() != 0 && stage != "pending" && stage != "mapped"
}

// Enter makes sure strata runs as root: as root it returns (0, false); in
// the re-executed child it returns (0, false) once mapped; as an ordinary
// user it runs the whole command again in a user namespace and returns
// the child's exit code and true. started is the child package early
// started while strata was initialising, if it did (nil: Enter starts
// it). What cannot work in the namespace it makes, it says once on
// stderr.
func Enter(ctx context.Context, stderr io.Writer, started *Started) (int, bool) {
	// Every capability ambient; if the child cannot start so, none, and
	// it executes itself once more when mapped (awaitMapping).
	return enter(ctx, stderr, started, [][]uintptr{allCaps(), nil})
}

// enter is Enter starting the child with each of ambients in turn until
// one starts.
func enter(ctx context.Context, stderr io.Writer, started *Started, ambients [][]uintptr) (int, bool) {
	switch os.Getenv(envStage) {
	case "mapped":
		return 0, false
	case "pending":
		if err := awaitMapping(); err != nil {
			fmt.Fprintf(stderr, "error: entering the user namespace: %v\n", err)
			return 1, true
		}
	}
	if os.Geteuid() == 0 {
		return 0, false
	}
	var code int
	var err error
	if started != nil {
		code, err = started.adopt(ctx)
	} else {
		m, why := mappingFor(os.Getuid(), os.Getgid())
		var notice string
		if m.Single() {
			notice = fmt.Sprintf("strata: %s: only your own uid and gid are mapped, so files cannot belong to other users (USER steps, COPY --chown, base images with non-root files); add a range to /etc/subuid and /etc/subgid (usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s)\n", why, userName())
		}
		code, err = run(ctx, m, ambients, func() { fmt.Fprint(stderr, notice) })
	}
	var noNS *noNamespaceError
	if errors.As(err, &noNS) {
		// A default container, or a host that forbids them: go on as the
		// user. What needs root (a RUN step, chown) fails saying so.
		fmt.Fprintf(stderr, "strata: no user namespace can be made here (%v): running as %s without one, so RUN steps and files of other owners cannot work\n", noNS.err, userName())
		return 0, false
	}
	if err != nil {
		fmt.Fprintf(stderr, "error: running as %s: %v\n", userName(), err)
		return 1, true
	}
	return code, true
}

// noNamespaceError is a user namespace the kernel would not make.
type noNamespaceError struct{ err error }

func (e *noNamespaceError) Error() string {
	return fmt.Sprintf("creating a user namespace (are unprivileged user namespaces allowed? sysctl kernel.unprivileged_userns_clone, user.max_user_namespaces): %v", e.err)
}

// awaitMapping waits for the parent's go-ahead: then this process is
// root of the namespace, with the capabilities it was started with
// ambient, which it lowers to root's. Nothing before the go-ahead may
// create a file: its owner would be the unmapped overflow id.
func awaitMapping() error {
	f := os.NewFile(syncFD, "userns-sync")
	b := make([]byte, 1)
	if n, err := f.Read(b); n != 1 || b[0] != 'g' {
		return fmt.Errorf("waiting for the id mapping: %w", errors.Join(err, errors.New("the parent gave no go-ahead")))
	}
	f.Close()
	// What this process starts again (a sandbox's init) is mapped.
	if err := os.Setenv(envStage, "mapped"); err != nil {
		return err
	}
	return becomeRoot()
}

// run starts this command again in a new user and mount namespace (with
// the first of ambients it starts with), maps it, calls started, lets it
// go, forwards signals and returns its exit code.
func run(ctx context.Context, m Mapping, ambients [][]uintptr, started func()) (int, error) {
	syncR, syncW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer syncW.Close()
	cmd, err := start(syncR, ambients)
	syncR.Close()
	if err != nil {
		return 0, &noNamespaceError{err}
	}
	// Stdio are files, so the process's Wait is the command's.
	return supervise(ctx, cmd.Process, func() error {
		if err := writeMapping(cmd.Process.Pid, m); err != nil {
			return err
		}
		started()
		return goAhead(syncW)
	})
}

// goAhead lets the pending child go.
func goAhead(syncW *os.File) error {
	if _, err := syncW.Write([]byte{'g'}); err != nil {
		return fmt.Errorf("starting strata in the namespace: %w", err)
	}
	return nil
}

// supervise has the pending child p mapped and let go (release; killed
// if that fails), forwards signals to it and returns its exit code.
func supervise(ctx context.Context, p *os.Process, release func() error) (int, error) {
	if err := release(); err != nil {
		_ = p.Kill()
		_, _ = p.Wait()
		return 0, err
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	type result struct {
		st  *os.ProcessState
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := p.Wait()
		done <- result{st, err}
	}()
	for {
		select {
		case s := <-sigs:
			_ = p.Signal(s)
		case <-ctx.Done():
			// main's context ends on SIGINT/SIGTERM, which the child got
			// too; keep waiting for it to finish cleanly.
			ctx = context.Background()
		case r := <-done:
			if r.err != nil {
				return 0, r.err
			}
			if ws, ok := r.st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return 128 + int(ws.Signal()), nil
			}
			return r.st.ExitCode(), nil
		}
	}
}

// start starts the pending child, reading its go-ahead from syncR, with
// the first of ambients as its ambient capabilities that it starts with.
// They last through its execve although its uid is not mapped yet, and
// with the mapping they are root's in the namespace.
func start(syncR *os.File, ambients [][]uintptr) (*exec.Cmd, error) {
	err := errors.New("no way to start it")
	for _, ambient := range ambients {
		cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
		cmd.Args[0] = os.Args[0]
		cmd.Env = append(withoutStage(os.Environ()), envStage+"=pending")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		cmd.ExtraFiles = []*os.File{syncR}
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:  unix.CLONE_NEWUSER | unix.CLONE_NEWNS,
			Pdeathsig:   syscall.SIGKILL,
			AmbientCaps: ambient,
		}
		if err = cmd.Start(); err == nil {
			return cmd, nil
		}
	}
	return nil, err // the last: with no ambient capabilities
}

// writeMapping writes the child's id maps: through newuidmap and
// newgidmap for subordinate ranges, directly for the user alone (which
// also needs setgroups denied).
func writeMapping(pid int, m Mapping) error {
	if m.Helpers {
		// The two helpers are independent: run them at once.
		errs := make(chan error, 2)
		for _, h := range []struct {
			tool   string
			ranges []Range
		}{{"newuidmap", m.UIDs}, {"newgidmap", m.GIDs}} {
			args := []string{strconv.Itoa(pid)}
			for _, r := range h.ranges {
				args = append(args, strconv.Itoa(r.Inside), strconv.Itoa(r.Outside), strconv.Itoa(r.Count))
			}
			go func() {
				if out, err := exec.Command(h.tool, args...).CombinedOutput(); err != nil {
					errs <- fmt.Errorf("mapping ids with %s: %w: %s", h.tool, err, strings.TrimSpace(string(out)))
					return
				}
				errs <- nil
			}()
		}
		return errors.Join(<-errs, <-errs)
	}
	proc := fmt.Sprintf("/proc/%d/", pid)
	for _, f := range []struct{ name, body string }{
		{"uid_map", mapText(m.UIDs)}, {"setgroups", "deny"}, {"gid_map", mapText(m.GIDs)},
	} {
		if err := os.WriteFile(proc+f.name, []byte(f.body), 0); err != nil {
			return fmt.Errorf("mapping ids: %w", err)
		}
	}
	return nil
}

func mapText(rs []Range) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "%d %d %d\n", r.Inside, r.Outside, r.Count)
	}
	return b.String()
}

// mappingFor is the mapping for uid and gid: 0 is the user, 1 and up its
// first subordinate range, when it has one and the helpers exist; else
// the user alone, with why.
func mappingFor(uid, gid int) (Mapping, string) {
	single := Mapping{UIDs: []Range{{0, uid, 1}}, GIDs: []Range{{0, gid, 1}}}
	name := userName()
	subU, errU := subordinate("/etc/subuid", name, uid)
	subG, errG := subordinate("/etc/subgid", name, uid)
	if err := errors.Join(errU, errG); err != nil {
		return single, fmt.Sprintf("no subordinate ids for %s (%s)", name, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	for _, tool := range []string{"newuidmap", "newgidmap"} {
		if _, err := exec.LookPath(tool); err != nil {
			return single, tool + " is not installed (Debian: apt-get install uidmap)"
		}
	}
	return Mapping{
		UIDs:    []Range{{0, uid, 1}, {1, subU.Outside, subU.Count}},
		GIDs:    []Range{{0, gid, 1}, {1, subG.Outside, subG.Count}},
		Helpers: true,
	}, ""
}

// subordinate finds the first range of /etc/subuid-style file path for
// the user by name or uid.
func subordinate(path, name string, uid int) (Range, error) {
	f, err := os.Open(path)
	if err != nil {
		return Range{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(parts) != 3 || (parts[0] != name && parts[0] != strconv.Itoa(uid)) {
			continue
		}
		start, err1 := strconv.Atoi(parts[1])
		count, err2 := strconv.Atoi(parts[2])
		if err1 != nil || err2 != nil || count < 1 {
			continue
		}
		return Range{Inside: 1, Outside: start, Count: count}, nil
	}
	if err := sc.Err(); err != nil {
		return Range{}, err
	}
	return Range{}, fmt.Errorf("none in %s", path)
}

// userName is the running user's name, or its uid.
func userName() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return strconv.Itoa(os.Getuid())
}

func withoutStage(env []string) []string {
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, envStage+"=") {
			out = append(out, e)
		}
	}
	return out
}
