//go:build !cgo

package sandbox

// staticBinary reports whether this binary is static (built without cgo),
// as the builtin backend needs: its init changes the capabilities of
// every thread (syscall.AllThreadsSyscall), which cgo rules out.
func staticBinary() bool { return true }
