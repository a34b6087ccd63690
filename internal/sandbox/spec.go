package sandbox

import (
	"path"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// DefaultCapabilities returns Docker's (and BuildKit's) default capability
// set, used for every set the step's spec leaves empty.
func DefaultCapabilities() []string {
	return []string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
		"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
		"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
	}
}

// defaultHostname is used when the spec names no hostname.
const defaultHostname = "strata"

// defaultPath is the PATH a process gets when its environment has none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// defaultMounts are BuildKit's default mounts (executor/oci/mounts.go).
func defaultMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
	}
}

// maskedPaths are containerd's default masked paths, as BuildKit uses.
func maskedPaths() []string {
	return []string{
		"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
		"/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
	}
}

// readonlyPaths are containerd's default read-only paths.
func readonlyPaths() []string {
	return []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
}

// etcFiles are the host-side files bind-mounted over /etc/resolv.conf,
// /etc/hosts and /etc/hostname.
type etcFiles struct {
	ResolvConf, Hosts, Hostname string
}

// completeSpec returns a copy of the step's spec with everything a runtime
// needs filled in the way Docker does: default mounts (replaced by a step
// mount with the same destination), the /etc files, namespaces, the default
// capability set, Docker's default seccomp profile, masked and read-only
// paths, nodev on every mount but /dev's, no_new_privs, PATH. An insecure
// step gets every capability, no seccomp filter, no masked or read-only
// paths and a writable /sys instead, as BuildKit's insecure mode.
func completeSpec(step *Step, rootPath string, etc etcFiles, f *filters) (*specs.Spec, error) {
	s := &specs.Spec{Version: specs.Version}
	if step.Spec != nil {
		*s = *step.Spec
		s.Version = specs.Version
	}
	insecure := step.Security == SecurityInsecure
	s.Root = &specs.Root{Path: rootPath}
	s.Process = completeProcess(s.Process, insecure)
	if s.Hostname == "" {
		s.Hostname = defaultHostname
	}
	s.Mounts = completeMounts(s.Mounts, etc, insecure)
	if inUserNS() && step.Network != "none" {
		// sysfs belongs to the network namespace's owner, the host's
		// root: bind the host's read-only, as rootless runc does.
		for i, m := range s.Mounts {
			if m.Type == "sysfs" {
				s.Mounts[i] = specs.Mount{Destination: m.Destination, Type: "bind", Source: "/sys",
					Options: []string{"rbind", "ro", "nosuid", "noexec", "nodev"}}
			}
		}
	}
	s.Linux = completeLinux(s.Linux, step.Network, insecure)
	if s.Linux.Seccomp == nil && !insecure {
		p, err := f.defaultProfile(s.Process.Capabilities.Bounding)
		if err != nil {
			return nil, err
		}
		s.Linux.Seccomp = p
	}
	return s, nil
}

// allCapabilities is every capability strata holds in its bounding set
// (every one the kernel knows, for a root not itself confined), for
// insecure steps.
func allCapabilities() []string {
	last := lastCap()
	var out []string
	for name, c := range capNames() {
		if held, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0); c <= last && err == nil && held == 1 {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func completeProcess(in *specs.Process, insecure bool) *specs.Process {
	p := &specs.Process{}
	if in != nil {
		*p = *in
	}
	// No no_new_privs, as Docker and BuildKit give a step: a setuid or
	// file-capability binary (sudo, ping) works for a USER step, and gains
	// at most what a root step has (the bounding set, the seccomp filter).
	p.NoNewPrivileges = false
	// The primary group is a supplementary one too, as BuildKit's
	// executor has it (ensureAdditionalGids): `id` shows it in groups=.
	if !slices.Contains(p.User.AdditionalGids, p.User.GID) {
		p.User.AdditionalGids = append([]uint32{p.User.GID}, p.User.AdditionalGids...)
	}
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	p.Cwd = path.Clean("/" + p.Cwd)
	if !slices.ContainsFunc(p.Env, func(e string) bool { return strings.HasPrefix(e, "PATH=") }) {
		p.Env = append(slices.Clip(p.Env), "PATH="+defaultPath)
	}
	c := &specs.LinuxCapabilities{}
	if p.Capabilities != nil {
		*c = *p.Capabilities
	}
	if c.Bounding == nil {
		// Docker's set, less what strata itself does not hold (in a pod
		// that dropped NET_RAW, say): asking for more would fail.
		held := allCapabilities()
		c.Bounding = slices.DeleteFunc(DefaultCapabilities(), func(c string) bool { return !slices.Contains(held, c) })
		if insecure {
			c.Bounding = held
		}
	}
	if c.Effective == nil {
		c.Effective = c.Bounding
	}
	if c.Permitted == nil {
		c.Permitted = c.Bounding
	}
	p.Capabilities = c
	return p
}

func completeMounts(extra []specs.Mount, etc etcFiles, insecure bool) []specs.Mount {
	etcMounts := []specs.Mount{
		etcBind(etc.ResolvConf, "/etc/resolv.conf"),
		etcBind(etc.Hosts, "/etc/hosts"),
		etcBind(etc.Hostname, "/etc/hostname"),
	}
	var out []specs.Mount
	for _, m := range append(defaultMounts(), etcMounts...) {
		if !slices.ContainsFunc(extra, func(e specs.Mount) bool { return cleanDest(e.Destination) == m.Destination }) {
			out = append(out, m)
		}
	}
	out = append(out, extra...)
	for i, m := range out {
		if insecure && m.Type == "sysfs" {
			m.Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == "ro" })
		}
		m.Options = withNodev(m)
		out[i] = m
	}
	return out
}

// withNodev adds nodev to a mount's options unless device nodes must work
// there: /dev (its nodes) and devpts (terminals), or the mount says "dev".
// A node a step makes, or finds in a layer, a cache or a bind mount, is
// then data that cannot be opened.
func withNodev(m specs.Mount) []string {
	d := cleanDest(m.Destination)
	if d == "/dev" || m.Type == "devpts" || slices.Contains(m.Options, "dev") || slices.Contains(m.Options, "nodev") {
		return m.Options
	}
	return append(slices.Clip(m.Options), "nodev")
}

func etcBind(src, dst string) specs.Mount {
	return specs.Mount{Destination: dst, Type: "bind", Source: src, Options: []string{"rbind", "rprivate"}}
}

func completeLinux(in *specs.Linux, network string, insecure bool) *specs.Linux {
	l := &specs.Linux{}
	if in != nil {
		*l = *in
	}
	if l.Namespaces == nil {
		l.Namespaces = []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}, {Type: specs.MountNamespace}}
		if network == "none" {
			l.Namespaces = append(l.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace})
		}
	}
	if l.MaskedPaths == nil && !insecure {
		l.MaskedPaths = maskedPaths()
	}
	if l.ReadonlyPaths == nil && !insecure {
		l.ReadonlyPaths = readonlyPaths()
	}
	if l.Resources == nil {
		l.Resources = &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}
	}
	return l
}

// cleanDest cleans a mount destination to an absolute path.
func cleanDest(p string) string { return filepath.Clean("/" + p) }

// hasNamespace reports whether l asks for a new namespace of type t.
func hasNamespace(l *specs.Linux, t specs.LinuxNamespaceType) bool {
	return slices.ContainsFunc(l.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == t && n.Path == "" })
}
