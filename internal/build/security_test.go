package build

import (
	"os"
	"strings"
	"testing"
)

// ownCaps is the test process's bounding set as /proc shows it.
func ownCaps(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapBnd:\t"); ok {
			return v
		}
	}
	t.Fatal("no CapBnd in /proc/self/status")
	return ""
}

// TestRunSecurity checks what a step holds: Docker's capabilities under
// its seccomp profile by default, everything with RUN --security=insecure,
// which a Dockerfile alone cannot ask for.
func TestRunSecurity(t *testing.T) {
	forEachIsolation(t, func(t *testing.T, f *fixture) {
		const df = "FROM busybox\n" +
			"RUN grep -E '^(CapEff|CapBnd|Seccomp|NoNewPrivs):' /proc/self/status > /default.txt\n" +
			"RUN --security=insecure grep -E '^(CapEff|Seccomp):' /proc/self/status > /insecure.txt && hostname insecure-can\n"
		_, err := f.build(buildCase{dockerfile: df})
		if err == nil || !strings.Contains(err.Error(), "Dockerfile:3") || !strings.Contains(err.Error(), "--allow security.insecure") {
			t.Fatalf("Build() without the entitlement = %v, want an error at Dockerfile:3 naming --allow security.insecure", err)
		}
		res := f.mustBuild(buildCase{dockerfile: df, allow: []string{"security.insecure"}})
		fs := flatten(t, res.Image)
		// Docker's 14 default capabilities (moby's oci/caps) as a mask.
		const dockerCaps = "00000000a80425fb"
		for _, want := range []string{"CapEff:\t" + dockerCaps, "CapBnd:\t" + dockerCaps, "Seccomp:\t2", "NoNewPrivs:\t0"} {
			if got := fs["/default.txt"].body; !strings.Contains(got, want+"\n") {
				t.Errorf("default step's status = %q, want a line %q", got, want)
			}
		}
		got := fs["/insecure.txt"].body
		if !strings.Contains(got, "Seccomp:\t0\n") || !strings.Contains(got, "CapEff:\t"+ownCaps(t)+"\n") {
			t.Errorf("insecure step's status = %q, want every capability and no seccomp", got)
		}
	})
}
