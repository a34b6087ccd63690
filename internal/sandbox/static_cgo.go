//go:build cgo

package sandbox

// staticBinary reports whether this binary is static (built without cgo),
// as the sandboxes are built to be: chroot mode's launcher changes the
// capabilities of every thread (syscall.AllThreadsSyscall), which cgo
// rules out.
func staticBinary() bool { return false }
