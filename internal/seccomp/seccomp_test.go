package seccomp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// dockerCaps is Docker's default capability set.
var dockerCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// run interprets prog on one system call, as the kernel would.
func run(t *testing.T, prog Program, arch uint32, nr uint32, args ...uint64) uint32 {
	t.Helper()
	data := make([]byte, 64)
	binary.LittleEndian.PutUint32(data[offNr:], nr)
	binary.LittleEndian.PutUint32(data[offArch:], arch)
	for i, a := range args {
		binary.LittleEndian.PutUint64(data[offArgs+8*i:], a)
	}
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			acc = binary.LittleEndian.Uint32(data[in.K:])
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			acc &= in.K
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(in.K)
		default:
			var ok bool
			switch in.Code &^ (unix.BPF_JMP | unix.BPF_K) {
			case unix.BPF_JEQ:
				ok = acc == in.K
			case unix.BPF_JGT:
				ok = acc > in.K
			case unix.BPF_JGE:
				ok = acc >= in.K
			case unix.BPF_JSET:
				ok = acc&in.K != 0
			default:
				t.Fatalf("instruction %d: unknown code %#x", pc, in.Code)
			}
			if ok {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		}
	}
	t.Fatal("program ran off its end")
	return 0
}

func errno(e unix.Errno) uint32 { return unix.SECCOMP_RET_ERRNO | uint32(e) }

const allow = unix.SECCOMP_RET_ALLOW

func TestCompileConditions(t *testing.T) {
	u := func(v uint) *uint { return &v }
	p := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: u(uint(unix.EPERM)),
		Architectures:   []specs.Arch{specs.ArchX86_64, specs.ArchX86},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "write"}, Action: specs.ActAllow},
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0, Op: specs.OpEqualTo}}},
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0xffffffff, Op: specs.OpEqualTo}}},
			{Names: []string{"clone"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0x7e020000, ValueTwo: 0, Op: specs.OpMaskedEqual}}},
			{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 40, Op: specs.OpNotEqual}}},
			{Names: []string{"lseek"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 1, Value: 1 << 33, Op: specs.OpGreaterThan}}},
			{Names: []string{"pread64"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 2, Value: 1<<32 + 5, Op: specs.OpLessEqual}}},
			// The same argument twice: either condition (runc's reading).
			{Names: []string{"fcntl"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 1, Value: 1, Op: specs.OpEqualTo}, {Index: 1, Value: 2, Op: specs.OpEqualTo}}},
			// Two arguments: both.
			{Names: []string{"kill"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 7, Op: specs.OpEqualTo}, {Index: 1, Value: 9, Op: specs.OpEqualTo}}},
			{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: u(uint(unix.ENOSYS))},
			// Most restrictive wins whatever the order.
			{Names: []string{"mount"}, Action: specs.ActAllow},
			{Names: []string{"mount"}, Action: specs.ActErrno, ErrnoRet: u(uint(unix.EACCES))},
		},
	}
	prog, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	x64 := uint32(unix.AUDIT_ARCH_X86_64)
	nr := func(name string) uint32 {
		n, ok := syscallNumber("SCMP_ARCH_X86_64", name)
		if !ok {
			t.Fatalf("no number for %s", name)
		}
		return n
	}
	tests := []struct {
		name string
		call string
		args []uint64
		want uint32
	}{
		{"listed", "read", nil, allow},
		{"listed second name", "write", nil, allow},
		{"unlisted", "getpid", nil, errno(unix.EPERM)},
		{"eq 0", "personality", []uint64{0}, allow},
		{"eq 32-bit all ones", "personality", []uint64{0xffffffff}, allow},
		{"eq differs in high word", "personality", []uint64{0xffffffff_ffffffff}, errno(unix.EPERM)},
		{"eq other", "personality", []uint64{8}, errno(unix.EPERM)},
		{"masked clear", "clone", []uint64{0x11}, allow},
		{"masked CLONE_NEWUSER", "clone", []uint64{unix.CLONE_NEWUSER}, errno(unix.EPERM)},
		{"ne differs", "socket", []uint64{2}, allow},
		{"ne equal", "socket", []uint64{40}, errno(unix.EPERM)},
		{"ne high word differs", "socket", []uint64{1<<32 + 40}, allow},
		{"gt by high word", "lseek", []uint64{0, 1 << 34}, allow},
		{"gt equal", "lseek", []uint64{0, 1 << 33}, errno(unix.EPERM)},
		{"gt by low word", "lseek", []uint64{0, 1<<33 + 1}, allow},
		{"gt smaller high", "lseek", []uint64{0, 1<<32 + 0xffffffff}, errno(unix.EPERM)},
		{"le equal", "pread64", []uint64{0, 0, 1<<32 + 5}, allow},
		{"le smaller", "pread64", []uint64{0, 0, 7}, allow},
		{"le bigger low", "pread64", []uint64{0, 0, 1<<32 + 6}, errno(unix.EPERM)},
		{"le bigger high", "pread64", []uint64{0, 0, 2 << 32}, errno(unix.EPERM)},
		{"same arg: first", "fcntl", []uint64{0, 1}, allow},
		{"same arg: second", "fcntl", []uint64{0, 2}, allow},
		{"same arg: neither", "fcntl", []uint64{0, 3}, errno(unix.EPERM)},
		{"two args: both", "kill", []uint64{7, 9}, allow},
		{"two args: one", "kill", []uint64{7, 15}, errno(unix.EPERM)},
		{"errno ret", "clone3", nil, errno(unix.ENOSYS)},
		{"restrictive first", "mount", nil, errno(unix.EACCES)},
	}
	for _, tt := range tests {
		if got := run(t, prog, x64, nr(tt.call), tt.args...); got != tt.want {
			t.Errorf("%s: %s%v = %#x, want %#x", tt.name, tt.call, tt.args, got, tt.want)
		}
	}
	if got := run(t, prog, x64, 1000); got != errno(unix.ENOSYS) {
		t.Errorf("call newer than the profile = %#x, want ENOSYS", got)
	}
	if got := run(t, prog, x64, x32Bit|nr("read")); got != errno(unix.EPERM) {
		t.Errorf("x32 read = %#x, want EPERM", got)
	}
	if got := run(t, prog, unix.AUDIT_ARCH_AARCH64, 63); got != errno(unix.EPERM) {
		t.Errorf("unlisted architecture = %#x, want the default", got)
	}
	// i386: 32-bit arguments, its own numbers (read is 3).
	if got := run(t, prog, unix.AUDIT_ARCH_I386, 3); got != allow {
		t.Errorf("i386 read = %#x, want allow", got)
	}
	if got := run(t, prog, unix.AUDIT_ARCH_I386, 136, 0xffffffff); got != allow {
		t.Errorf("i386 personality(0xffffffff) = %#x, want allow", got)
	}
}

func TestCompileRefuses(t *testing.T) {
	for _, p := range []*specs.LinuxSeccomp{
		nil,
		{DefaultAction: "SCMP_ACT_BOGUS"},
		{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActNotify}}},
		{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}},
		{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_ALMOST"}}}}},
	} {
		if _, err := Compile(p); err == nil {
			t.Errorf("Compile(%+v) succeeded, want an error", p)
		}
	}
}

// TestDefaultProfile checks Docker's profile resolves and compiles, and
// that every system call it names on this architecture has a number.
func TestDefaultProfile(t *testing.T) {
	p, err := Default(dockerCaps)
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, c := range p.Syscalls {
		for _, n := range c.Names {
			if !slices.ContainsFunc(p.Architectures, func(a specs.Arch) bool {
				_, ok := syscallNumber(string(a), n)
				return ok
			}) {
				missing = append(missing, n)
			}
		}
	}
	// Calls of other architectures that the profile lists for all.
	known := map[string]bool{"arm_fadvise64_64": true, "arm_sync_file_range": true, "breakpoint": true, "cacheflush": true,
		"set_tls": true, "sync_file_range2": true, "spu_create": true, "spu_run": true, "s390_pci_mmio_read": true,
		"s390_pci_mmio_write": true, "s390_runtime_instr": true, "subpage_prot": true, "sys_debug_setcontext": true,
		"switch_endian": true, "recv": true, "send": true, "riscv_flush_icache": true, "riscv_hwprobe": true, "s390_sthyi": true, "s390_guarded_storage": true}
	for _, n := range missing {
		if !known[n] && runtime.GOARCH == "amd64" {
			t.Errorf("profile names %q, which has no number on %v", n, p.Architectures)
		}
	}
	prog, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Docker's default profile: %d rules, %d instructions", len(p.Syscalls), len(prog))
}

// probeEnv makes the test binary a child that loads the default filter
// and reports what a few calls return.
const probeEnv = "STRATA_SECCOMP_PROBE"

func TestMain(m *testing.M) {
	if os.Getenv(probeEnv) == "1" {
		os.Exit(probe())
	}
	os.Exit(m.Run())
}

func probe() int {
	p, err := Default(dockerCaps)
	if err == nil {
		var prog Program
		if prog, err = Compile(p); err == nil {
			if err = unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err == nil {
				err = prog.Load()
			}
		}
	}
	if err != nil {
		fmt.Println("load:", err)
		return 1
	}
	try := func(name string, nr uintptr, args ...uintptr) {
		a := make([]uintptr, 6)
		copy(a, args)
		_, _, e := unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
		fmt.Printf("%s=%d\n", name, int(e))
	}
	try("getpid", unix.SYS_GETPID)
	try("unshare-user", unix.SYS_UNSHARE, unix.CLONE_NEWUSER)
	try("keyctl", unix.SYS_KEYCTL, 0)
	try("personality-0xffff", unix.SYS_PERSONALITY, 0xffff)
	try("personality-query", unix.SYS_PERSONALITY, 0xffffffff)
	try("socket-vsock", unix.SYS_SOCKET, 40, unix.SOCK_STREAM)
	try("clone3", unix.SYS_CLONE3, 0, 0)
	try("mount", unix.SYS_MOUNT, 0, 0, 0)
	try("beyond", 1000)
	st, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(st), "\n") {
		if strings.HasPrefix(l, "Seccomp:") {
			fmt.Println(strings.Join(strings.Fields(l), " "))
		}
	}
	// The Go runtime still runs: threads, allocation, a child process.
	out, err := exec.Command("/bin/true").CombinedOutput()
	fmt.Printf("exec=%v%s\n", err, out)
	return 0
}

// TestLoadDefault loads Docker's profile into a real process and checks
// what the kernel answers.
func TestLoadDefault(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), probeEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("probe: %v\n%s", err, out)
	}
	got := string(out)
	for _, want := range []string{
		"getpid=0", "unshare-user=1", "keyctl=1", "personality-0xffff=1", "personality-query=0",
		"socket-vsock=1", "clone3=38", "mount=1", "beyond=38", "Seccomp: 2", "exec=<nil>",
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("probe output lacks %q:\n%s", want, got)
		}
	}
	if errors.Is(err, exec.ErrNotFound) {
		t.Fatal(err)
	}
}
