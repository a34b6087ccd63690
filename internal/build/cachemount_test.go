package build

import "testing"

// TestCacheMountIdentity: as BuildKit keys a cache mount by its id and
// the base it starts from, one id with another mode or owner is another
// cache, while the same id and base is one cache across steps.
func TestCacheMountIdentity(t *testing.T) {
	f := newFixture(t)
	const df = "FROM busybox\n" +
		"RUN --mount=type=cache,target=/c,id=one,uid=1000,gid=1000,mode=0750 stat -c '%a %u %g' /c > /first && touch /c/mark\n" +
		"RUN --mount=type=cache,target=/c,id=one stat -c '%a %u %g' /c > /other-base && ls /c > /other-list\n" +
		"RUN --mount=type=cache,target=/d,id=one,uid=1000,gid=1000,mode=0750 ls /d > /same-list\n"
	fs := flatten(t, f.mustBuild(buildCase{dockerfile: df}).Image)
	for p, want := range map[string]string{
		"/first":      "750 1000 1000\n",
		"/other-base": "755 0 0\n",
		"/other-list": "",
		"/same-list":  "mark\n",
	} {
		if got := fs[p].body; got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
}
