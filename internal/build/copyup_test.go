package build

import (
	"archive/tar"
	"testing"
)

// TestCopiedUpLeftOut: a RUN that only copies files up (a hard link made
// to a base file, a chown to its own owner) does not put them in its
// layer, as BuildKit's overlay differ; a real change does.
func TestCopiedUpLeftOut(t *testing.T) {
	forEachIsolation(t, func(t *testing.T, f *fixture) {
		const df = "FROM busybox\n" +
			"RUN ln /bin/busybox /bin/bb-extra && chown 0:0 /etc/group && echo changed >> /etc/passwd\n"
		res := f.mustBuild(buildCase{dockerfile: df})
		got := lastLayerHeaders(t, res.Image)
		if e, ok := got["bin/bb-extra"]; !ok || e.typ != tar.TypeReg {
			t.Errorf("bin/bb-extra = %+v (present %v), want a regular file: its other name is not in the layer", e, ok)
		}
		for _, p := range []string{"bin/busybox", "etc/group"} {
			if _, ok := got[p]; ok {
				t.Errorf("%s is in the RUN's layer; it was only copied up", p)
			}
		}
		if _, ok := got["etc/passwd"]; !ok {
			t.Errorf("etc/passwd is not in the RUN's layer; it changed")
		}
		fs := flatten(t, res.Image)
		if fs["/bin/bb-extra"].body != fs["/bin/busybox"].body || fs["/bin/busybox"].body == "" {
			t.Errorf("/bin/bb-extra differs from /bin/busybox in the image")
		}
	})
}
