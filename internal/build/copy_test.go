package build

import (
	"strings"
	"testing"
)

// The cases of issue 13, each as BuildKit v0.34 does it (the functions
// named are where it does).

// TestCopyChmodCreatedDirs: an octal --chmod is the mode of the
// directories the copy creates, parents and destination (fsutil copy.Copy
// and prepareTargetDir: MkdirAll with the mode, permission bits only);
// copied directories get it whole (copyFileInfo); existing ones keep
// theirs; a symbolic --chmod leaves created directories 0755.
func TestCopyChmodCreatedDirs(t *testing.T) {
	f := newFixture(t)
	df := "FROM busybox\n" +
		"COPY --chmod=0700 d /new/dst/\n" +
		"COPY --chmod=2750 d /nodash\n" +
		"COPY --chmod=0700 d/sub/x /p/q\n" +
		"COPY --chmod=0700 d /etc/\n" +
		"COPY --chmod=go-rx d /sym/dst/\n"
	res := f.mustBuild(buildCase{dockerfile: df, files: map[string]string{"d/sub/x": "x"}})
	fs := flatten(t, res.Image)
	want := map[string]int64{
		"/new": 0o700, "/new/dst": 0o700, "/new/dst/sub": 0o700, "/new/dst/sub/x": 0o700,
		"/nodash": 0o750, "/nodash/sub": 0o2750, "/nodash/sub/x": 0o2750,
		"/p": 0o700, "/p/q": 0o700,
		"/etc": 0o755, "/etc/sub": 0o700,
		"/sym": 0o755, "/sym/dst": 0o755, "/sym/dst/sub": 0o700, "/sym/dst/sub/x": 0o600,
	}
	for p, mode := range want {
		if e, ok := fs[p]; !ok || e.mode != mode {
			t.Errorf("%s: mode %o (present %v), want %o", p, e.mode, ok, mode)
		}
	}
}

// TestCopyHeredocWithPaths: one COPY with here-documents and paths copies
// both, the paths first (dockerfile2llb dispatchCopy: SourcePaths, then
// SourceContents, into one FileOp).
func TestCopyHeredocWithPaths(t *testing.T) {
	f := newFixture(t)
	df := "FROM scratch\nCOPY <<hello.txt file.txt /dst/\nhello\nhello.txt\n"
	res := f.mustBuild(buildCase{dockerfile: df, files: map[string]string{"file.txt": "from context\n"}})
	fs := flatten(t, res.Image)
	if got := fs["/dst/file.txt"].body; got != "from context\n" {
		t.Errorf("/dst/file.txt = %q, want the context file", got)
	}
	if e := fs["/dst/hello.txt"]; e.body != "hello\n" || e.mode != 0o644 || e.uid != 0 {
		t.Errorf("/dst/hello.txt = %q mode %o uid %d, want the heredoc 0644 root", e.body, e.mode, e.uid)
	}
	// The context file is in the cache key.
	res2 := f.mustBuild(buildCase{dockerfile: df, files: map[string]string{"file.txt": "changed\n"}})
	if got := flatten(t, res2.Image)["/dst/file.txt"].body; got != "changed\n" {
		t.Errorf("after a context change /dst/file.txt = %q, want %q", got, "changed\n")
	}
}

// TestCopySeveralSourcesNoSlash: BuildKit copies each source (and each
// match of a wildcard) in turn onto the destination (solver/llbsolver/file
// docopy, fsutil copy.Copy): a directory copied first makes it a directory
// the following files go into; one match is copied as the destination
// itself; several files would replace one another, which strata refuses.
func TestCopySeveralSourcesNoSlash(t *testing.T) {
	f := newFixture(t)
	files := map[string]string{"d/sub/x": "x", "g.txt": "g", "a.md": "a", "b.md": "b"}
	df := "FROM scratch\nCOPY d g.txt /w\nCOPY [d]* g* /v\nCOPY a* /one\n"
	res := f.mustBuild(buildCase{dockerfile: df, files: files})
	fs := flatten(t, res.Image)
	for _, p := range []string{"/w/sub/x", "/w/g.txt", "/v/sub/x", "/v/g.txt"} {
		if e, ok := fs[p]; !ok || e.typ != '0' {
			t.Errorf("%s missing or not a file", p)
		}
	}
	if e := fs["/one"]; e.typ != '0' || e.body != "a" {
		t.Errorf("/one = type %c %q, want the one match as a file", e.typ, e.body)
	}
	for _, df := range []string{"FROM scratch\nCOPY a.md b.md /dest\n", "FROM scratch\nCOPY *.md /dest\n", "FROM scratch\nCOPY <<x.txt a.md /dest\nx\nx.txt\n"} {
		_, err := f.build(buildCase{dockerfile: df, files: files})
		if err == nil || !strings.Contains(err.Error(), "destination must be a directory and end with a /") {
			t.Errorf("%q: Build() = %v, want the several-sources error", df, err)
		}
	}
	if _, err := f.build(buildCase{dockerfile: "FROM scratch\nCOPY g.txt d /dest\n", files: files}); err == nil || !strings.Contains(err.Error(), "cannot copy to non-directory") {
		t.Errorf("a file then a dir onto one path: Build() = %v, want cannot copy to non-directory", err)
	}
}

// TestUserRootWithoutPasswd: WORKDIR is made as USER resolved as BuildKit's
// FileOp resolves it (client/llb WithUser, solver/llbsolver/ops readUser):
// "root" and uids need no /etc/passwd, a uid is also the gid.
func TestUserRootWithoutPasswd(t *testing.T) {
	f := newFixture(t)
	df := "FROM scratch\nUSER root\nWORKDIR /app\nUSER 1000\nWORKDIR /app/u\nUSER root:root\nWORKDIR /r\n"
	res := f.mustBuild(buildCase{dockerfile: df})
	fs := flatten(t, res.Image)
	want := map[string][2]int{"/app": {0, 0}, "/app/u": {1000, 1000}, "/r": {0, 0}}
	for p, o := range want {
		if e, ok := fs[p]; !ok || e.typ != '5' || e.uid != o[0] || e.gid != o[1] {
			t.Errorf("%s: present %v, type %c, owner %d:%d, want a dir %d:%d", p, ok, e.typ, e.uid, e.gid, o[0], o[1])
		}
	}
	if got := config(t, res.Image).Config.User; got != "root:root" {
		t.Errorf("User = %q, want root:root", got)
	}
}

// TestCopyLinkChownByName: COPY --link refuses a user or group name in
// --chown, the layer it makes has no /etc/passwd (dockerfile2llb
// dispatchCopy, chownByName); ids and "root" are fine.
func TestCopyLinkChownByName(t *testing.T) {
	f := newFixture(t)
	files := map[string]string{"f": "f"}
	for _, chown := range []string{"daemon", "1:daemon", "daemon:1"} {
		df := "FROM busybox\nCOPY --link --chown=" + chown + " f /f\n"
		_, err := f.build(buildCase{dockerfile: df, files: files})
		if err == nil || !strings.Contains(err.Error(), "Dockerfile:2") || !strings.Contains(err.Error(), "user and group names can't be resolved when used with --link") {
			t.Errorf("--chown=%s: Build() = %v, want the --link names error at Dockerfile:2", chown, err)
		}
	}
	f.mustBuild(buildCase{dockerfile: "FROM busybox\nCOPY --link --chown=root:1 f /f\nCOPY --chown=daemon f /g\n", files: files})
}

// TestCopyLinkFreshParents: a COPY --link without --chmod copies into an
// empty layer merged on top (dockerfile2llb dispatchCopy: llb.Scratch()
// and MergeOp), so the parents of its destination are made in that layer,
// 0755 and owned per --chown, over what is below; with --chmod it copies
// onto the stage like a plain COPY.
func TestCopyLinkFreshParents(t *testing.T) {
	f := newFixture(t)
	df := "FROM busybox\n" +
		"COPY --chown=12:34 --chmod=0751 f /l/f\n" +
		"COPY --link --chown=1 f /l/g\n" +
		"COPY --chmod=0700 f /d/f\n" +
		"COPY --link f /d/\n" +
		"COPY --chmod=0751 f /e/f\n" +
		"COPY --link --chmod=0600 f /e/g\n"
	res := f.mustBuild(buildCase{dockerfile: df, files: map[string]string{"f": "f"}})
	fs := flatten(t, res.Image)
	want := map[string]struct {
		mode     int64
		uid, gid int
	}{
		"/l": {0o755, 1, 1}, "/l/f": {0o751, 12, 34}, "/l/g": {0o644, 1, 1},
		"/d": {0o755, 0, 0}, "/d/f": {0o644, 0, 0},
		"/e": {0o751, 0, 0}, "/e/g": {0o600, 0, 0},
	}
	for p, w := range want {
		e, ok := fs[p]
		if !ok || e.mode != w.mode || e.uid != w.uid || e.gid != w.gid {
			t.Errorf("%s: mode %o %d:%d (present %v), want %o %d:%d", p, e.mode, e.uid, e.gid, ok, w.mode, w.uid, w.gid)
		}
	}
}
