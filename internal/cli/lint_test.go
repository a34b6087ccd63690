package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/strata-build/strata/internal/dockerfile"
)

func TestLintExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write(".dockerignore", ".git\n")
	clean := write("clean.Dockerfile", "FROM alpine:3.20\nUSER 10001\nCMD [\"true\"]\n")
	warn := write("warn.Dockerfile", "FROM alpine:3.20 as base\nUSER 10001\n")
	broken := write("broken.Dockerfile", "FROM alpine:3.20\nCOPY onlyone\n")
	for _, c := range []struct {
		args     []string
		code     int
		out, err string
	}{
		{[]string{"lint", "-f", clean, dir}, 0, "0 findings", ""},
		{[]string{"lint", "-f", warn, dir}, 0, "warn.Dockerfile:1:1 warning FromAsCasing", ""},
		{[]string{"lint", "-f", warn, "--fail-on=warning", dir}, 1, "FromAsCasing", ""},
		{[]string{"lint", "-f", warn, "--fail-on=none", dir}, 0, "FromAsCasing", ""},
		{[]string{"lint", "-f", broken, dir}, 1, "", "broken.Dockerfile:2: COPY requires at least two arguments"},
		{[]string{"lint", "-f", clean, "--fail-on=loud", dir}, 2, "", "invalid --fail-on"},
		{[]string{"lint", "-f", clean, "--format=xml", dir}, 2, "", "invalid --format"},
		{[]string{"lint", "-f", clean, dir, "extra"}, 2, "", "at most 1 argument"},
	} {
		var out, errb bytes.Buffer
		code := Main(context.Background(), c.args, Stdio{In: strings.NewReader(""), Out: &out, Err: &errb})
		if code != c.code || !strings.Contains(out.String(), c.out) || !strings.Contains(errb.String(), c.err) {
			t.Errorf("Main(%v) = %d, stdout %q, stderr %q; want %d, %q, %q", c.args, code, out.String(), errb.String(), c.code, c.out, c.err)
		}
	}
}

func TestLintFormatsAndConfig(t *testing.T) {
	dir := t.TempDir()
	df := filepath.Join(dir, "Dockerfile")
	if err := os.WriteFile(df, []byte("FROM alpine:3.20 as base\nUSER 10001\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte(".git\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := Main(context.Background(), append([]string{"lint"}, args...), Stdio{In: strings.NewReader(""), Out: &out, Err: &errb})
		return code, out.String()
	}
	code, out := run("--format=json", dir)
	var findings []map[string]any
	if err := json.Unmarshal([]byte(out), &findings); err != nil || code != 0 || len(findings) != 1 || findings[0]["severity"] != "warning" {
		t.Errorf("lint --format=json = %d, %s (%v)", code, out, err)
	}
	code, out = run("--format=sarif", dir)
	if code != 0 || !strings.Contains(out, `"version": "2.1.0"`) {
		t.Errorf("lint --format=sarif = %d, %s", code, out)
	}
	if err := os.WriteFile(filepath.Join(dir, ".strata.yaml"), []byte("lint:\n  severity:\n    FromAsCasing: error\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out = run(dir); code != 1 || !strings.Contains(out, "error FromAsCasing") {
		t.Errorf("lint with .strata.yaml raising FromAsCasing = %d, %s", code, out)
	}
	if code, _ = run("-f", "-", dir); code != 1 {
		t.Errorf("lint -f - (empty stdin) = %d, want 1", code)
	}
}

func TestRunBuildCheck(t *testing.T) {
	dir := t.TempDir()
	g := &globals{}
	for _, c := range []struct {
		src, ignore string
		fail        bool
	}{
		{"FROM alpine:3.20\nUSER 10001\n", ".git\n", false},
		{"# check=error=true\nFROM alpine:3.20 as base\nUSER 10001\n", ".git\n", true},
		{"FROM alpine:3.20 AS app\nCOPY --from=app /a /b\nUSER 10001\n", ".git\n", true},
	} {
		if err := os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte(c.ignore), 0o644); err != nil {
			t.Fatal(err)
		}
		file, err := dockerfile.Parse("Dockerfile", []byte(c.src))
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		err = runBuildCheck(context.Background(), g, file, dir, &stderr)
		if (err != nil) != c.fail {
			t.Errorf("runBuildCheck(%q) = %v, want failure %v; stderr %s", c.src, err, c.fail, stderr.String())
		}
	}
}

// TestLintPlatform lints a Go build that compiles on the target platform:
// EmulatedCompile fires for a foreign target only, and the build's --check
// sees it when given the platforms.
func TestLintPlatform(t *testing.T) {
	native, foreign := "linux/amd64", "linux/arm64"
	if runtime.GOARCH != "amd64" {
		native, foreign = "linux/"+runtime.GOARCH, "linux/amd64"
	}
	dir := t.TempDir()
	src := "FROM golang:1.24 AS build\nRUN --mount=type=cache,target=/root/.cache/go-build \\\n    CGO_ENABLED=0 go build -o /app .\nFROM scratch\nCOPY --from=build /app /app\nUSER 65532\n"
	cross := "FROM --platform=$BUILDPLATFORM golang:1.24 AS build\nARG TARGETOS TARGETARCH\nRUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /app .\nFROM scratch\nCOPY --from=build /app /app\nUSER 65532\n"
	for name, s := range map[string]string{"Dockerfile": src, "cross.Dockerfile": cross, ".dockerignore": ".git\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		args []string
		code int
		want string // "" wants no EmulatedCompile finding
	}{
		{[]string{"--platform", native + "," + foreign, dir}, 1, "Dockerfile:2:1 warning EmulatedCompile: \"go build\" in stage \"build\" runs emulated for " + foreign + " (the build runs on " + native + ")"},
		{[]string{"--platform=" + foreign, "--format=json", dir}, 1, `"rule": "EmulatedCompile"`},
		{[]string{"--platform", native, dir}, 0, ""},
		{[]string{dir}, 0, ""},
		{[]string{"-f", filepath.Join(dir, "cross.Dockerfile"), "--platform", native + "," + foreign, dir}, 0, ""},
		{[]string{"--platform", "windows/amd64", dir}, 2, ""},
	} {
		var out, errb bytes.Buffer
		args := append([]string{"lint", "--fail-on=warning"}, c.args...)
		code := Main(context.Background(), args, Stdio{In: strings.NewReader(""), Out: &out, Err: &errb})
		got := out.String()
		if code != c.code || c.want != "" && !strings.Contains(got, c.want) || c.want == "" && strings.Contains(got, "EmulatedCompile") {
			t.Errorf("Main(%v) = %d\n%s%s\nwant %d and %q", args, code, got, errb.String(), c.code, c.want)
		}
	}

	file, err := dockerfile.Parse("Dockerfile", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	if err := runBuildCheckFor(context.Background(), &globals{}, file, dir, []string{native, foreign}, &stderr); err != nil || !strings.Contains(stderr.String(), "EmulatedCompile") {
		t.Errorf("runBuildCheckFor(%s,%s) = %v, stderr %q; want an EmulatedCompile warning", native, foreign, err, stderr.String())
	}
}
