//go:build !cgo

package sandbox

// staticBinary reports whether this binary is static (built without cgo),
// as the builtin backend needs: its init executes itself again after
// pivot_root, where a dynamic binary's loader and libraries are not.
func staticBinary() bool { return true }
