package gitsource

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-build/strata/internal/testenv"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in   string
		ok   bool
		want Ref
	}{
		{"https://example.com/org/repo.git", true, Ref{Remote: "https://example.com/org/repo.git", Submodules: true}},
		{"https://example.com/org/repo.git#v1.2:docker/app", true, Ref{Remote: "https://example.com/org/repo.git", Ref: "v1.2", Subdir: "docker/app", Submodules: true}},
		{"https://example.com/org/repo.git#:sub", true, Ref{Remote: "https://example.com/org/repo.git", Subdir: "sub", Submodules: true}},
		{"https://example.com/org/repo.git?ref=main&subdir=app&keep-git-dir=true&submodules=false", true,
			Ref{Remote: "https://example.com/org/repo.git", Ref: "main", Subdir: "app", KeepGitDir: true}},
		{"git@github.com:org/repo.git#main", true, Ref{Remote: "git@github.com:org/repo.git", Ref: "main", Submodules: true}},
		{"git://example.com/repo#dev", true, Ref{Remote: "git://example.com/repo", Ref: "dev", Submodules: true}},
		{"github.com/org/repo", true, Ref{Remote: "https://github.com/org/repo", Submodules: true}},
		{"https://example.com/ctx.tar.gz", false, Ref{}},
		{"./repo.git", false, Ref{}},
		{"dir/sub", false, Ref{}},
	}
	for _, c := range cases {
		got, ok, err := Parse(c.in)
		if err != nil || ok != c.ok || got != c.want {
			t.Errorf("Parse(%q) = %+v, %v, %v; want %+v, %v", c.in, got, ok, err, c.want, c.ok)
		}
	}
	if _, ok, err := Parse("https://u:pw@example.com/r.git?ref=a&ref=b"); !ok || err == nil || strings.Contains(err.Error(), "pw") {
		t.Errorf("Parse of a bad query = %v, %v; want a git reference error without the password", ok, err)
	}
}

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// repos makes lib.git (one file) and app.git (main: Dockerfile, app/,
// a symlink, lib as a submodule; tag v1 on the first commit; branch dev)
// and serves them; it returns the base URL and app's first commit.
func repos(t *testing.T) (string, string) {
	t.Helper()
	root := t.TempDir()
	base := testenv.GitServer(t, root)
	work := t.TempDir()

	lib := filepath.Join(work, "lib")
	write(t, filepath.Join(lib, "lib.txt"), "lib\n")
	testenv.Git(t, lib, "init", "-q", "-b", "main")
	testenv.Git(t, lib, "add", ".")
	testenv.Git(t, lib, "commit", "-qm", "lib")
	testenv.Git(t, root, "clone", "-q", "--bare", lib, "lib.git")

	app := filepath.Join(work, "app")
	write(t, filepath.Join(app, "Dockerfile"), "FROM scratch\nCOPY . /\n")
	write(t, filepath.Join(app, "app", "main.txt"), "v1\n")
	testenv.Git(t, app, "init", "-q", "-b", "main")
	testenv.Git(t, app, "add", ".")
	testenv.Git(t, app, "commit", "-qm", "one")
	first := testenv.Git(t, app, "rev-parse", "HEAD")
	testenv.Git(t, app, "tag", "-a", "v1", "-m", "v1")
	write(t, filepath.Join(app, "app", "main.txt"), "v2\n")
	if err := os.Symlink("/etc", filepath.Join(app, "escape")); err != nil {
		t.Fatal(err)
	}
	testenv.Git(t, app, "-c", "protocol.file.allow=always", "submodule", "add", "-q", base+"/lib.git", "lib")
	testenv.Git(t, app, "add", ".")
	testenv.Git(t, app, "commit", "-qm", "two")
	testenv.Git(t, app, "branch", "dev", first)
	testenv.Git(t, root, "clone", "-q", "--bare", app, "app.git")
	return base, first
}

func TestFetch(t *testing.T) {
	base, first := repos(t)
	ctx := context.Background()
	fetch := func(s string) (string, string) {
		t.Helper()
		r, ok, err := Parse(s)
		if !ok || err != nil {
			t.Fatalf("Parse(%q) = %v, %v", s, ok, err)
		}
		dst := filepath.Join(t.TempDir(), "ctx")
		commit, err := Fetch(ctx, r, dst)
		if err != nil {
			t.Fatalf("Fetch(%q): %v", s, err)
		}
		return dst, commit
	}
	read := func(p string) string {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	dst, _ := fetch(base + "/app.git")
	if got := read(filepath.Join(dst, "app", "main.txt")); got != "v2\n" {
		t.Errorf("default branch: main.txt = %q, want v2", got)
	}
	if got := read(filepath.Join(dst, "lib", "lib.txt")); got != "lib\n" {
		t.Errorf("submodule: lib.txt = %q", got)
	}
	if _, err := os.Stat(filepath.Join(dst, ".git")); !os.IsNotExist(err) {
		t.Errorf(".git kept without keep-git-dir: %v", err)
	}
	for _, ref := range []string{"v1", "dev", first} {
		dst, commit := fetch(base + "/app.git#" + ref)
		if got := read(filepath.Join(dst, "app", "main.txt")); got != "v1\n" || commit != first {
			t.Errorf("ref %s: main.txt = %q, commit %s; want v1 and %s", ref, got, commit, first)
		}
	}
	dst, _ = fetch(base + "/app.git?ref=main&keep-git-dir=true&submodules=false")
	if _, err := os.Stat(filepath.Join(dst, ".git")); err != nil {
		t.Errorf("keep-git-dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dst, "lib", "lib.txt")); !os.IsNotExist(err) {
		t.Errorf("submodules=false checked out the submodule: %v", err)
	}

	for s, want := range map[string]string{
		base + "/app.git#nope":        "git fetch: fatal: couldn't find remote ref nope",
		base + "/app.git#main:escape": `subdirectory "escape": escape is not a directory`,
		base + "/app.git#main:none":   `subdirectory "none": lstat`,
		base + "/none.git":            "git fetch: fatal: repository",
	} {
		r, _, _ := Parse(s)
		_, err := Fetch(ctx, r, filepath.Join(t.TempDir(), "ctx"))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "fetching "+r.Remote+": ") {
			t.Errorf("Fetch(%q) = %v, want an error with %q", s, err, want)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:token@example.com/r.git":                 "https://example.com/r.git",
		"fatal: unable to access 'https://u:p@host/r.git/': x": "fatal: unable to access 'https://host/r.git/': x",
		"git@github.com:org/r.git":                             "git@github.com:org/r.git",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsCommitSHA(t *testing.T) {
	sha1 := strings.Repeat("0123456789", 4)
	sha256 := strings.Repeat("abcdef0123456789", 4)
	for in, want := range map[string]bool{
		sha1: true, sha256: true,
		"":                                   false,
		"main":                               false,
		sha1[:39]:                            false,
		sha1 + "a":                           false,
		strings.ToUpper(sha256):              false,
		sha1[:39] + "g":                      false,
		"v1.0.0":                             false,
		strings.Repeat("0123456789", 5)[:48]: false,
	} {
		if got := isCommitSHA(in); got != want {
			t.Errorf("isCommitSHA(%q) = %v, want %v", in, got, want)
		}
	}
}
