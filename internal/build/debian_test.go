package build

import (
	"archive/tar"
	"context"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/sandbox"
	"github.com/strata-build/strata/internal/store"
	"github.com/strata-build/strata/internal/testenv"
)

// openStore opens a store in a temp dir holding imgs under their refs.
func openStore(tb testing.TB, imgs map[string]v1.Image) *store.Store {
	tb.Helper()
	testenv.RequireRoot(tb)
	ctx := context.Background()
	st, err := store.Open(ctx, tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	for ref, img := range imgs {
		h, err := st.WriteImage(ctx, img)
		if err != nil {
			tb.Fatalf("writing %s: %v", ref, err)
		}
		if err := st.Tag(ctx, ref, h); err != nil {
			tb.Fatalf("tagging %s: %v", ref, err)
		}
	}
	return st
}

// newDebianFixture is a store holding debian:bookworm (made by debootstrap)
// and a builder over it with the builtin sandbox.
func newDebianFixture(t *testing.T) *fixture {
	t.Helper()
	st := openStore(t, map[string]v1.Image{"debian:bookworm": testenv.DebianImage(t)})
	return &fixture{t: t, store: st, b: New(st, nil, sandbox.NewBuiltin(sandbox.Options{TempDir: t.TempDir()}), nil)}
}

// TestDebianAptGet installs a package from the host's Debian mirror with
// apt-get in a RUN step, then runs it in the next step.
func TestDebianAptGet(t *testing.T) {
	f := newDebianFixture(t)
	const df = "FROM debian:bookworm\n" +
		"RUN apt-get update && apt-get install -y --no-install-recommends hello && rm -rf /var/lib/apt/lists/*\n" +
		"RUN hello > /hello.out && dpkg-query -W -f '${Status}\\n' hello > /hello.status\n"
	res := f.mustBuild(buildCase{dockerfile: df})
	fs := flatten(t, res.Image)
	if e, ok := fs["/usr/bin/hello"]; !ok || e.mode&0o111 == 0 {
		t.Errorf("/usr/bin/hello = %+v (present %v), want an executable installed by apt-get", e, ok)
	}
	if _, ok := fs["/var/lib/dpkg/info/hello.list"]; !ok {
		t.Errorf("/var/lib/dpkg/info/hello.list missing: dpkg's database did not record the package")
	}
	checks := map[string]string{
		"/hello.out":    "Hello, world!\n",
		"/hello.status": "install ok installed\n",
	}
	for p, want := range checks {
		if got := fs[p].body; got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	for p := range fs {
		if strings.HasPrefix(p, "/var/cache/apt/archives/") && strings.HasSuffix(p, ".deb") {
			t.Errorf("%s is in the image; docker-clean should have removed it", p)
		}
	}
}

// TestDebianUser adds a user with useradd and runs steps as that user: id,
// HOME from /etc/passwd, WORKDIR, and file ownership in the layer.
func TestDebianUser(t *testing.T) {
	f := newDebianFixture(t)
	const df = "FROM debian:bookworm\n" +
		"RUN groupadd -g 2000 devs && useradd -m -u 1234 -G devs -s /bin/bash builder\n" +
		"USER builder\n" +
		"WORKDIR /srv/app\n" +
		"RUN id > $HOME/id.txt && echo \"$HOME\" >> $HOME/id.txt && pwd >> $HOME/id.txt && echo \"$USER\" >> $HOME/id.txt\n" +
		"USER 0:0\n" +
		"RUN echo \"$HOME\" > /root-home.txt\n" +
		"USER builder:devs\n" +
		"RUN id -u > /tmp/ug.txt && id -g >> /tmp/ug.txt\n"
	res := f.mustBuild(buildCase{dockerfile: df})
	fs := flatten(t, res.Image)
	checks := map[string]string{
		// Docker does not set USER; HOME comes from the passwd entry.
		"/home/builder/id.txt": "uid=1234(builder) gid=1234(builder) groups=1234(builder),2000(devs)\n/home/builder\n/srv/app\n\n",
		"/root-home.txt":       "/root\n",
		"/tmp/ug.txt":          "1234\n2000\n",
	}
	for p, want := range checks {
		if got := fs[p].body; got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	if e := fs["/home/builder/id.txt"]; e.uid != 1234 || e.gid != 1234 {
		t.Errorf("/home/builder/id.txt owner = %d:%d, want 1234:1234 (written as USER builder)", e.uid, e.gid)
	}
	if e := fs["/tmp/ug.txt"]; e.uid != 1234 || e.gid != 2000 {
		t.Errorf("/tmp/ug.txt owner = %d:%d, want 1234:2000 (written as USER builder:devs)", e.uid, e.gid)
	}
	if e := fs["/srv/app"]; e.typ != tar.TypeDir {
		t.Errorf("/srv/app = %+v, want the WORKDIR directory", e)
	}
	if got := config(t, res.Image).Config.User; got != "builder:devs" {
		t.Errorf("config User = %q, want builder:devs", got)
	}
}
