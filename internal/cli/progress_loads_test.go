package cli

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// plainTimes replaces the times of plain output: " 0.1s done" and
// "DONE 0.1s".
func plainTimes(s string) string {
	s = regexp.MustCompile(`( \d+\.\ds)? done\n`).ReplaceAllString(s, " done\n")
	return regexp.MustCompile(`DONE \d+\.\ds`).ReplaceAllString(s, "DONE Ns")
}

// TestProgressLoadsPlain: the Dockerfile and .dockerignore read before
// the build are vertices with their sizes, in BuildKit's order: the
// Dockerfile first, the .dockerignore after the base's metadata.
func TestProgressLoadsPlain(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, dir, "app.Dockerfile", "FROM scratch\n")
	writeTestFile(t, dir, ".dockerignore", "*.log\n")
	ld := &loads{}
	_, dfPath, err := ld.dockerfile(nil, filepath.Join(dir, "app.Dockerfile"), dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ld.dockerignore(dfPath, dir); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	tr, end := newPlain(&b)
	ld.show(&counting{Progress: tr})
	tr.Vertex("[internal] load metadata for docker.io/library/busybox:latest").Done(false, nil)
	tr.Vertex("[1/2] FROM docker.io/library/busybox:latest").Done(false, nil)
	end()
	want := `#1 [internal] load build definition from app.Dockerfile
#1 transferring dockerfile: 13B done
#1 DONE Ns

#2 [internal] load metadata for docker.io/library/busybox:latest
#2 DONE Ns

#3 [internal] load .dockerignore
#3 transferring context: 6B done
#3 DONE Ns

#4 [1/2] FROM docker.io/library/busybox:latest
#4 DONE Ns
`
	if got := plainTimes(b.String()); got != want {
		t.Errorf("plain =\n%s\nwant\n%s", got, want)
	}
}

// TestProgressWaitsForExtraction: a base extracted while a step waits
// shows under its FROM, started again, and the step's time stops: its
// two runs leave out the FROM's second one.
func TestProgressWaitsForExtraction(t *testing.T) {
	var b strings.Builder
	tr, end := newPlain(&b)
	from := tr.Vertex("[base 1/2] FROM example.com/base@sha256:abc")
	from.Done(false, nil)
	_, done := tr.Step("base", 2, 2, "RUN make")
	resume := tr.Waiting("base")
	from.Resume()
	from.Status("extracting sha256:def", 0, 0, false)
	from.Status("extracting sha256:def", 0, 0, true)
	from.Done(false, nil)
	resume()
	done(false, nil)
	end()
	want := `#1 [base 1/2] FROM example.com/base@sha256:abc
#1 DONE Ns

#2 [base 2/2] RUN make
#2 ...

#1 [base 1/2] FROM example.com/base@sha256:abc
#1 extracting sha256:def
#1 extracting sha256:def done
#1 DONE Ns

#2 [base 2/2] RUN make
#2 DONE Ns
`
	if got := plainTimes(b.String()); got != want {
		t.Errorf("plain =\n%s\nwant\n%s", got, want)
	}
	fv, step := tr.vtxs[0], tr.vtxs[1]
	if len(fv.runs) != 2 || len(step.runs) != 2 {
		t.Fatalf("runs: FROM %v, step %v; want two each", fv.runs, step.runs)
	}
	if fv.runs[1].start.Before(step.runs[0].stop) || step.runs[1].start.Before(fv.runs[1].stop) {
		t.Errorf("step runs %v overlap the FROM's extraction %v", step.runs, fv.runs[1])
	}
}

// TestProgressInternalVertexAgain: "[internal] load build context" for a
// second COPY is the same vertex, started again; one still in use by
// another COPY stays running until both are done.
func TestProgressInternalVertexAgain(t *testing.T) {
	var b strings.Builder
	tr, end := newPlain(&b)
	a := tr.Vertex("[internal] load build context")
	a.Status("transferring context:", 2350, 0, true)
	a.Done(false, nil)
	c1 := tr.Vertex("[internal] load build context")
	c2 := tr.Vertex("[internal] load build context")
	c1.Status("transferring context:", 0, 0, false)
	c1.Status("transferring context:", 500, 0, true)
	c1.Done(false, nil)
	if len(tr.vtxs) != 1 || tr.vtxs[0].done() {
		t.Fatalf("%d vertices, done %v after one of two users: want one, running", len(tr.vtxs), tr.vtxs[0].done())
	}
	c2.Done(false, nil)
	end()
	if v := tr.vtxs[0]; !v.done() || len(v.runs) != 2 {
		t.Errorf("vertex done %v with runs %v, want done after two runs", v.done(), v.runs)
	}
	if got := plainTimes(b.String()); !strings.Contains(got, "#1 transferring context: 2.35kB done\n#1 DONE Ns\n") ||
		!strings.Contains(got, "#1 transferring context:\n#1 transferring context: 500B done\n") {
		t.Errorf("plain =\n%s", got)
	}
}

// TestProgressLoadsShownAtEnd: a read held back still shows when the
// build ends before anything but metadata started.
func TestProgressLoadsShownAtEnd(t *testing.T) {
	ld := &loads{done: []loaded{{name: "[internal] load build definition from Dockerfile"}, {name: "[internal] load .dockerignore"}}}
	var b strings.Builder
	tr, end := newPlain(&b)
	ld.show(&counting{Progress: tr})
	end()
	if got := b.String(); !strings.Contains(got, "#2 [internal] load .dockerignore\n") {
		t.Errorf("plain =\n%s", got)
	}
}
