package early

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

// TestImports: the package imports syscall alone, so Go initialises it
// right after syscall, before nearly every other package.
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if filepath.Ext(f) != ".go" || len(f) > 8 && f[len(f)-8:] == "_test.go" {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p != "syscall" {
				t.Errorf("%s imports %s; package early may import syscall only", f, p)
			}
		}
	}
}

func TestSubordinate(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, body string
		want       [2]int
		ok         bool
	}{
		{"by name", "other:100000:65536\nalice:200000:65536\nalice:900000:10\n", [2]int{200000, 65536}, true},
		{"by uid", "1000:300000:1000\n", [2]int{300000, 1000}, true},
		{"skips what userns skips", "# c\nalice:x:1\nalice:5:0\nalice:1:\nalice:1:2:3\n  alice:400000:5  \n", [2]int{400000, 5}, true},
		{"a sign: gives up", "alice:+100000:65536\nalice:200000:65536\n", [2]int{}, false},
		{"none", "bob:1:2\n", [2]int{}, false},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, "subuid")
		if err := os.WriteFile(path, []byte(tt.body), 0o644); err != nil {
			t.Fatal(err)
		}
		got, ok := subordinate(path, "alice", 1000)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: subordinate = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestUserName(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	body := "# comment\n+nis:x:1000:1000:::\nshort:x:1000:1000\nalice:x:1000:1000:Alice, Élise:/home/alice:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := userNameIn(path, 1000); got != "alice" {
		t.Errorf("userNameIn(1000) = %q, want alice", got)
	}
	if got := userNameIn(path, 1001); got != "" {
		t.Errorf("userNameIn(1001) = %q, want none", got)
	}
}

func TestSplit(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"", nil}, {"a", []string{"a"}}, {"a\x00b\x00", []string{"a", "b"}}, {"a\x00\x00", []string{"a", ""}},
	} {
		if got := split(tt.in, 0); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("split(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, in := range []string{"", ":", "a:", "a:b", "::b:"} {
		if got, want := len(splitAll(in, ':')), len(filepath.SplitList(in)); in != "" && got != want {
			t.Errorf("len(splitAll(%q)) = %d, want %d", in, got, want)
		}
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "tool")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/nonexistent:" + dir: bin,
		"rel:" + dir:          "", // exec.LookPath would refuse what it found in rel
		":" + dir:             "",
		"/nonexistent":        "",
	} {
		t.Setenv("PATH", path)
		if got := lookPath("tool"); got != want {
			t.Errorf("PATH=%s: lookPath = %q, want %q", path, got, want)
		}
	}
}

func TestAtoiItoa(t *testing.T) {
	for _, n := range []int{0, 7, 42, 100000, 4294967295} {
		if got, ok := atoi(itoa(n)); !ok || got != n {
			t.Errorf("atoi(itoa(%d)) = %d, %v", n, got, ok)
		}
	}
	for _, s := range []string{"", "-1", "+1", "1a", "1234567890123456789"} {
		if _, ok := atoi(s); ok {
			t.Errorf("atoi(%q) ok, want not", s)
		}
	}
}

func TestCommand(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, ""},
		{[]string{"build", "."}, "build"},
		{[]string{"--root", "/s", "build", "."}, "build"},
		{[]string{"--root=/s", "build"}, "build"},
		{[]string{"--registry-mirror", "m", "--insecure-registry", "build", "run", "x"}, "run"},
		{[]string{"--insecure-registry=r:5000", "images"}, "images"},
		{[]string{"--root"}, ""},
		{[]string{"--help"}, ""},
		{[]string{"-h", "build"}, "build"},
		{[]string{"--", "build"}, "build"},
		{[]string{"run", "build"}, "run"},
	}
	for _, tt := range tests {
		if got := Command(tt.args); got != tt.want {
			t.Errorf("Command(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
}

func TestTriesOutside(t *testing.T) {
	tests := []struct {
		args []string
		want bool
	}{
		{[]string{"build", "."}, true},
		{[]string{"--root", "/s", "build", "-t", "x:1", "-q", "--iidfile", "id", "."}, true},
		{[]string{"run", "x"}, false},
		{[]string{"build", "--no-cache", "."}, false},
		{[]string{"build", "--no-cache=true", "."}, false},
		{[]string{"build", "--pull", "."}, false},
		{[]string{"build", "-o", "type=local,dest=out", "."}, false},
		{[]string{"build", "-otype=tar,dest=x", "."}, false},
		{[]string{"build", "--output=type=oci,dest=x", "."}, false},
		{[]string{"build", "--push", "-t", "r/x", "."}, false},
		{[]string{"build", "--load", "."}, false},
		{[]string{"build", "--cache-from", "r/c", "."}, false},
		{[]string{"build", "--cache-to=type=local,dest=c", "."}, false},
		{[]string{"build", "--build-context", "a=dir", "."}, false},
		{[]string{"build", "-"}, false},
		{[]string{"build", "-f", "-", "."}, false},
		{[]string{"build", "--file=-", "."}, false},
	}
	for _, tt := range tests {
		if got := TriesOutside(tt.args); got != tt.want {
			t.Errorf("TriesOutside(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}
