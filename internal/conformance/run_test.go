package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// fixed is a Builder with a fixed outcome, counting its builds.
type fixed struct {
	report *Report
	err    error
	builds *int
}

func (f fixed) Build(context.Context, Case) (*Report, error) {
	if f.builds != nil {
		*f.builds++
	}
	return f.report, f.err
}

func TestRunCase(t *testing.T) {
	a := &Report{Files: map[string]File{"/x": {Type: "file", Mode: 0o644, Size: 1, SHA256: sum("a")}}}
	b := &Report{Files: map[string]File{"/x": {Type: "file", Mode: 0o755, Size: 1, SHA256: sum("a")}}}
	failed := &BuildFailedError{Builder: "x", Log: "step 1\nerror: boom\n"}
	content := "a"
	expectX := &Expectation{Files: map[string]ExpectedFile{"/x": {Content: &content}}}
	tests := []struct {
		name           string
		spec           Spec
		strata, docker Builder
		want           Result
	}{
		{"same", Spec{}, fixed{report: a}, fixed{report: a}, Result{Pass: true}},
		{"differ", Spec{}, fixed{report: b}, fixed{report: a}, Result{Differences: []string{"/x: mode docker 0644, strata 0755"}}},
		{"strata fails", Spec{}, fixed{err: failed}, fixed{report: a}, Result{Differences: []string{"x build failed: error: boom"}}},
		{"strata cannot run", Spec{}, fixed{err: errors.New("no binary")}, fixed{report: a}, Result{Differences: []string{"running strata: no binary"}}},
		{"both fail as they must", Spec{MustFail: true}, fixed{err: failed}, fixed{err: failed}, Result{Pass: true}},
		{"strata must fail", Spec{MustFail: true}, fixed{report: a}, fixed{err: failed}, Result{Differences: []string{"strata built it; the build must fail"}}},
		{"docker disagrees with the case", Spec{MustFail: true}, fixed{err: failed}, fixed{report: a},
			Result{Differences: []string{"case disagrees with docker (mustFail=true): <nil>"}}},
		{"reference skips docker", Spec{Reference: "new", Expect: expectX}, fixed{report: a}, fixed{err: errors.New("not called")}, Result{Pass: true}},
		{"known divergence", Spec{Known: "not yet"}, fixed{report: b}, fixed{report: a},
			Result{Known: "not yet", Differences: []string{"/x: mode docker 0644, strata 0755"}}},
		{"known divergence that agrees", Spec{Known: "not yet"}, fixed{report: a}, fixed{report: a}, Result{Known: "not yet"}},
		{"reference fails", Spec{}, fixed{report: a}, fixed{err: errors.New("no socket")}, Result{Differences: []string{"running docker: no socket"}}},
		{"expectations add to docker", Spec{Expect: &Expectation{Absent: []string{"/x"}}}, fixed{report: a}, fixed{report: a},
			Result{Differences: []string{"/x: expected absent, got file 0644 0:0 1B"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref := Reference{Name: "docker", Builder: tt.docker, Skip: func(c Case) bool { return c.Spec.Reference != "" },
				Known: func(c Case) string { return c.Spec.Known }}
			got := RunCase(context.Background(), Case{Name: "c", Spec: tt.spec}, tt.strata, ref)
			tt.want.Case = "c"
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("RunCase() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestResultLine(t *testing.T) {
	r := Result{Case: "c", Differences: []string{"a", "b", "c"}}
	if got, want := r.Line(2), "FAIL c: a | b (+1 more)"; got != want {
		t.Errorf("Line(2) = %q, want %q", got, want)
	}
	if got, want := (Result{Case: "c", Pass: true}).Line(2), "PASS c"; got != want {
		t.Errorf("Line(2) = %q, want %q", got, want)
	}
	k := Result{Case: "c", Known: "why", Differences: []string{"a"}}
	if got, want := k.Line(2), "KNOWN c: why: a"; got != want || k.Failed() {
		t.Errorf("Line(2) = %q (failed %t), want %q (not failed)", got, k.Failed(), want)
	}
	sk := Result{Case: "c", Skipped: "requires busybox:multiarch"}
	if got, want := sk.Line(2), "SKIP c: requires busybox:multiarch"; got != want || sk.Failed() {
		t.Errorf("Line(2) = %q (failed %t), want %q (not failed)", got, sk.Failed(), want)
	}
}

func TestBuildKitArgs(t *testing.T) {
	c := Case{Name: "c", Dir: "/corpus/c", Spec: Spec{Dockerfile: "sub/Dockerfile.x", Target: "t", Args: map[string]string{"B": "2", "A": "x=1"}}}
	got := BuildKit{Bin: "buildctl", Addr: "unix:///s"}.args(c, "/out")
	want := []string{"--addr", "unix:///s", "build", "--progress=plain", "--allow", "network.host", "--frontend", "dockerfile.v0", "--opt", "cmdline=",
		"--local", "context=/corpus/c", "--local", "dockerfile=/corpus/c", "--opt", "filename=sub/Dockerfile.x",
		"--output", "type=oci,tar=false,dest=/out", "--opt", "target=t", "--opt", "build-arg:A=x=1", "--opt", "build-arg:B=2"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("args() = %q, want %q", got, want)
	}
}

func TestCached(t *testing.T) {
	dir := t.TempDir()
	caseDir := filepath.Join(dir, "case")
	if err := os.MkdirAll(caseDir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(body string) {
		if err := os.WriteFile(filepath.Join(caseDir, "Dockerfile"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("FROM busybox\n")
	c := Case{Name: "case", Dir: caseDir}
	rep := &Report{Config: map[string]json.RawMessage{"Cmd": json.RawMessage(`["sh"]`)}, Files: map[string]File{"/": {Type: "dir", Mode: 0o755}}}
	n := 0
	cb := Cached{Builder: fixed{report: rep, builds: &n}, Dir: filepath.Join(dir, "cache"), Salt: "v1"}
	for i := 0; i < 2; i++ {
		got, err := cb.Build(context.Background(), c)
		if err != nil || !reflect.DeepEqual(got, rep) {
			t.Fatalf("Build() = %+v, %v, want %+v", got, err, rep)
		}
	}
	if n != 1 {
		t.Errorf("built %d times for an unchanged case, want 1", n)
	}
	write("FROM busybox\nRUN true\n")
	if _, err := cb.Build(context.Background(), c); err != nil || n != 2 {
		t.Errorf("after a change: err %v, builds %d, want a rebuild", err, n)
	}
	cb.Salt = "v2"
	if _, err := cb.Build(context.Background(), c); err != nil || n != 3 {
		t.Errorf("after a new salt: err %v, builds %d, want a rebuild", err, n)
	}
	// Failures are cached too, with the builder's name.
	fails := Cached{Builder: fixed{err: &BuildFailedError{Builder: "docker", Log: "error: no"}, builds: &n}, Dir: filepath.Join(dir, "cache2")}
	for i := 0; i < 2; i++ {
		_, err := fails.Build(context.Background(), c)
		var bf *BuildFailedError
		if !errors.As(err, &bf) || bf.Builder != "docker" || bf.Log != "error: no" {
			t.Fatalf("Build() error = %v, want the cached build failure", err)
		}
	}
	if n != 4 {
		t.Errorf("failure built %d times, want once", n-3)
	}
}

// TestCorpus holds every case of the corpus to a valid case.json.
func TestCorpus(t *testing.T) {
	cases, err := LoadCorpus("../../test/conformance")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 60 {
		t.Errorf("corpus has %d cases, want at least 60", len(cases))
	}
	for _, c := range cases {
		if _, err := os.Stat(filepath.Join(c.Dir, c.Spec.Dockerfile)); err != nil {
			t.Errorf("case %s: %v", c.Name, err)
		}
		if c.Spec.Note == "" {
			t.Errorf("case %s: case.json has no note saying what it checks", c.Name)
		}
	}
}
