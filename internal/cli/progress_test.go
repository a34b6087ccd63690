package cli

import (
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/strata-build/strata/internal/lint"
	"github.com/strata-build/strata/internal/testenv"
)

// progressBase serves busybox from an in-process registry and returns
// its reference: a build pulls it, so FROM shows its layers.
func progressBase(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	ref := strings.TrimPrefix(srv.URL, "http://") + "/library/busybox:1"
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, testenv.BusyboxImage(t)); err != nil {
		t.Fatalf("pushing the base: %v", err)
	}
	return ref
}

// progressContext is a build with output over time, a command longer
// than any terminal line, and a build-check warning (FromAsCasing).
func progressContext(t *testing.T, base string) string {
	t.Helper()
	dir := t.TempDir()
	df := "FROM " + base + " as base\n" +
		"RUN for i in 1 2 3 4 5 6 7 8 9 10; do echo tick $i of a step whose output lines are long enough to be cut at eighty columns; sleep 0.3; done\n" +
		"RUN echo " + strings.Repeat("a-very-long-argument ", 10) + "&& sleep 0.5\n" +
		"COPY Dockerfile /x\n"
	writeTestFile(t, dir, "Dockerfile", df)
	return dir
}

// normalizePlain replaces times, digests and the registry address.
func normalizePlain(s, base string) string {
	s = strings.ReplaceAll(s, strings.Split(base, "/")[0], "REGISTRY")
	s = regexp.MustCompile(`sha256:[0-9a-f]{64}`).ReplaceAllString(s, "sha256:D")
	s = regexp.MustCompile(`(?m)^(#\d+) \d+\.\d+ `).ReplaceAllString(s, "$1 T ")
	s = regexp.MustCompile(`\d+(\.\d+)?(s|B|kB|MB)\b`).ReplaceAllString(s, "N$2")
	return s
}

// TestProgressPlain: --progress=plain prints BuildKit's #n vertices: the
// base's metadata and FROM with its layer, the steps with timed output
// lines and DONE, the export, and the build check's warning.
func TestProgressPlain(t *testing.T) {
	stderr, base := progressBuild(t, "plain", "plain:1")
	got := normalizePlain(stderr, base)
	// Once runBuild shows the reads before the build (loads), they are
	// there in BuildKit's order, and the COPY waits for the build
	// context's vertex.
	loaded := strings.Contains(got, "[internal] load build definition from ")
	want := `#M [internal] load metadata for REGISTRY/library/busybox:1
#M DONE Ns

#F [base 1/4] FROM REGISTRY/library/busybox:1@sha256:D
#F sha256:D NB / NMB
#F sha256:D NMB / NMB`
	if loaded {
		want = `#1 [internal] load build definition from Dockerfile
#1 transferring dockerfile: NB done
#1 DONE Ns

#2 [internal] load metadata for REGISTRY/library/busybox:1
#2 DONE Ns

#3 [internal] load .dockerignore
#3 transferring context: done
#3 DONE Ns

#4 [base 1/4] FROM REGISTRY/library/busybox:1@sha256:D
#4 sha256:D NB / NMB
#4 sha256:D NMB / NMB`
	}
	ids := plainIDs(got, map[string]string{
		"#M": "[internal] load metadata", "#F": "[base 1/4] FROM", "#R": "[base 2/4] RUN",
		"#E": "[base 3/4] RUN", "#C": "[base 4/4] COPY", "#X": "exporting to image", "#L": "[internal] load build context",
	})
	if want = ids.Replace(want); !strings.HasPrefix(got, want) {
		t.Errorf("plain output starts\n%s\nwant\n%s", got, want)
	}
	copied := `(?m)^#C \[base 4/4\] COPY Dockerfile /x\n#C DONE Ns$`
	if loaded {
		// As in BuildKit, the COPY starts once the context is loaded.
		copied = `(?m)^#L \[internal\] load build context\n#L transferring context:\n#L transferring context: NB( Ns)? done\n#L DONE Ns\n\n` +
			`#C \[base 4/4\] COPY Dockerfile /x\n#C DONE Ns$`
	}
	for _, re := range []string{
		`(?m)^#F DONE Ns$`,
		`(?m)^#R \[base 2/4\] RUN for i in .*$`,
		// The base is extracted when the RUN needs it: under the FROM,
		// started again, while the RUN waits.
		`(?m)^#R \[base 2/4\] RUN for i in .*\n#R \.\.\.\n\n` +
			`#F \[base 1/4\] FROM REGISTRY/library/busybox:1@sha256:D\n` +
			`#F extracting sha256:D\n#F extracting sha256:D( Ns)? done\n#F DONE Ns\n\n` +
			`#R \[base 2/4\] RUN for i in .*\n#R T tick 1 `,
		`(?m)^#R T tick 1 of a step whose output lines are long enough to be cut at eighty columns$`,
		`(?m)^#R T tick 10 of a step`,
		`(?m)^#R DONE Ns$`,
		`(?m)^#E \[base 3/4\] RUN echo a-very-long-argument`,
		copied,
		`(?m)^#X exporting to image\n#X writing image sha256:D done\n#X naming to docker.io/library/plain:1 done\n#X DONE Ns$`,
		`(?m)^(WARN: | - )FromAsCasing: 'as' and 'FROM' keywords' casing do not match \(line 1\)$`, // or buildx's summary
		`(?m)^built sha256:D in `,
	} {
		if re = ids.Replace(re); !regexp.MustCompile(re).MatchString(got) {
			t.Errorf("plain output lacks %s:\n%s", re, got)
		}
	}
	// The COPY never waits for the context once started: shown once.
	if n := strings.Count(got, "] COPY Dockerfile /x\n"); n != 1 {
		t.Errorf("the COPY's header is shown %d times, want once:\n%s", n, got)
	}
}

// plainIDs replaces placeholders by the "#n" of the first vertex whose
// name starts as each says in plain output.
func plainIDs(plain string, names map[string]string) *strings.Replacer {
	var pairs []string
	for ph, name := range names {
		m := regexp.MustCompile(`(?m)^#(\d+) ` + regexp.QuoteMeta(name)).FindStringSubmatch(plain)
		if m != nil {
			pairs = append(pairs, ph, "#"+m[1])
		}
	}
	return strings.NewReplacer(pairs...)
}

// TestProgressRawJSON: --progress=rawjson is BuildKit's SolveStatus, one
// per line: testdata/solvestatus decodes it with BuildKit's own client
// types, rejecting unknown fields, and the test checks what it read.
func TestProgressRawJSON(t *testing.T) {
	stderr, base := progressBuild(t, "rawjson", "json:1")
	var got struct {
		Vertexes []gotVertex
		Statuses []gotStatus
		Logs     map[string]string
		Warnings []struct {
			Level      int
			Short      []byte // base64 in the JSON, as BuildKit's
			URL        string
			Detail     [][]byte
			SourceInfo *struct{ Filename string }
			Range      []struct{ Start struct{ Line int } }
		}
	}
	cmd := exec.Command(goTool(t), "run", ".")
	cmd.Dir = "testdata/solvestatus"
	cmd.Env = append(os.Environ(), "GOFLAGS=", "CGO_ENABLED=0")
	// A finding as printCheckWarnings hands it to a Progress that takes
	// findings in full.
	var extra strings.Builder
	warnFinding(newTracker(newJSONDisplay(&extra)), lint.Finding{Rule: "JSONArgsRecommended",
		Message: "JSON arguments recommended for CMD to prevent unintended behavior related to OS signals",
		URL:     "https://docs.docker.com/go/dockerfile/rule/json-args-recommended/", File: "Dockerfile", Line: 4})
	cmd.Stdin = strings.NewReader(stderr + extra.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("decoding with BuildKit's client.SolveStatus: %v\n%s", err, exitStderr(err))
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range got.Vertexes {
		names = append(names, v.Name)
		if v.Started == nil || v.Completed == nil || v.Error != "" || !strings.HasPrefix(v.Digest, "sha256:") {
			t.Errorf("vertex %+v: want a digest, started, completed, no error", v)
		}
	}
	// Once runBuild shows the reads before the build (loads), they are
	// there in BuildKit's order, and the build context's vertex joins the
	// COPY's; the rest is as before.
	if meta := "[internal] load metadata for " + base; slices.Contains(names, "[internal] load build context") &&
		!slices.Equal(names[:3], []string{"[internal] load build definition from Dockerfile", meta, "[internal] load .dockerignore"}) {
		t.Errorf("vertexes %q, want the Dockerfile's, the metadata of %s, the .dockerignore's", names, base)
	}
	loads := func(n string) bool {
		return n == "[internal] load build definition from Dockerfile" || n == "[internal] load .dockerignore" || n == "[internal] load build context"
	}
	names = slices.DeleteFunc(names, loads)
	got.Vertexes = slices.DeleteFunc(got.Vertexes, func(v gotVertex) bool { return loads(v.Name) })
	if len(names) != 6 {
		t.Fatalf("vertexes %q, want 6", names)
	}
	from, run := got.Vertexes[1], got.Vertexes[2]
	if !strings.HasPrefix(from.Name, "[base 1/4] FROM "+base+"@sha256:") || from.Cached {
		t.Errorf("vertex 2 = %q cached %v, want the FROM pulled", from.Name, from.Cached)
	}
	if !strings.HasPrefix(run.Name, "[base 2/4] RUN for i in") || len(run.Inputs) != 1 || run.Inputs[0] != from.Digest {
		t.Errorf("vertex 3 = %q inputs %v, want the RUN on [%s]", run.Name, run.Inputs, from.Digest)
	}
	if names[5] != "exporting to image" {
		t.Errorf("last vertex = %q, want exporting to image", names[5])
	}
	layerDone := false
	for _, s := range got.Statuses {
		if s.Vertex == from.Digest && strings.HasPrefix(s.ID, "sha256:") && s.Completed != nil && s.Total > 0 && s.Current == s.Total {
			layerDone = true
		}
	}
	if !layerDone {
		t.Errorf("no completed layer status of the FROM vertex in %+v", got.Statuses)
	}
	checkExtracted(t, got.Statuses, from.Digest, from.Started, from.Completed, run.Started)
	checkBuildKitPlain(t, stderr, base)
	if !strings.Contains(got.Logs[run.Digest], "tick 10 of a step") {
		t.Errorf("RUN logs = %q", got.Logs[run.Digest])
	}
	var shorts []string
	for _, w := range got.Warnings {
		shorts = append(shorts, string(w.Short))
	}
	if !slices.ContainsFunc(shorts, func(w string) bool { return strings.HasPrefix(w, "FromAsCasing: ") }) {
		t.Errorf("warnings %q lack FromAsCasing", shorts)
	}
	w := got.Warnings[len(got.Warnings)-1]
	if w.Level != 1 || string(w.Short) != "JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (line 4)" ||
		len(w.Detail) != 1 || w.URL == "" || w.SourceInfo == nil || w.SourceInfo.Filename != "Dockerfile" || len(w.Range) != 1 || w.Range[0].Start.Line != 4 {
		t.Errorf("finding warning = %+v", w)
	}
}

// checkBuildKitPlain shows the SolveStatus stream with BuildKit's own
// plain printer (testdata/solvestatus -plain): the extraction is under
// the FROM, whose time is its runs added up.
func checkBuildKitPlain(t *testing.T, rawjson, base string) {
	t.Helper()
	cmd := exec.Command(goTool(t), "run", ".", "-plain")
	cmd.Dir = "testdata/solvestatus"
	cmd.Env = append(os.Environ(), "GOFLAGS=", "CGO_ENABLED=0")
	cmd.Stdin = strings.NewReader(rawjson)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("progressui plain: %v\n%s", err, exitStderr(err))
	}
	got := normalizePlain(string(out), base)
	ids := plainIDs(got, map[string]string{"#F": "[base 1/4] FROM", "#R": "[base 2/4] RUN"})
	for _, re := range []string{
		`(?m)^#F \[base 1/4\] FROM REGISTRY/library/busybox:1@sha256:D\n(#F sha256:D .*\n)+#F extracting sha256:D( Ns)? done\n#F DONE Ns$`,
		`(?m)^#R \[base 2/4\] RUN for i in .*\n#R T tick 1 `,
	} {
		if re = ids.Replace(re); !regexp.MustCompile(re).MatchString(got) {
			t.Errorf("BuildKit's plain output lacks %s:\n%s", re, got)
		}
	}
}

// gotVertex is a Vertex as testdata/solvestatus reports it.
type gotVertex struct {
	Digest, Name, Error string
	Inputs              []string
	Started, Completed  *time.Time
	Cached              bool
}

// gotStatus is a VertexStatus as testdata/solvestatus reports it.
type gotStatus struct {
	ID, Vertex, Name   string
	Total, Current     int64
	Started, Completed *time.Time
}

// checkExtracted checks that the base was shown extracted as BuildKit's
// cache refs show it: a completed status "extracting sha256:…" named
// "extracting" on the FROM vertex, within the FROM's last run (from,
// to) and before the step that needed it last started (next).
func checkExtracted(t *testing.T, statuses []gotStatus, vertex string, from, to, next *time.Time) {
	t.Helper()
	var ex *gotStatus
	for i, s := range statuses {
		if s.Vertex == vertex && strings.HasPrefix(s.ID, "extracting sha256:") && s.Completed != nil {
			ex = &statuses[i]
		}
	}
	if ex == nil {
		t.Fatalf("no completed extracting status on the FROM vertex %s", vertex)
	}
	if ex.Name != "extracting" || ex.Started == nil {
		t.Errorf("extracting status %+v, want name extracting, a start", ex)
	}
	if ex.Started.Before(*from) || ex.Completed.After(*to) {
		t.Errorf("extracting %v to %v, outside the FROM's last run %v to %v", ex.Started, ex.Completed, from, to)
	}
	if next.Before(*ex.Completed) {
		t.Errorf("the step's last run starts at %v, before the extraction ended at %v: the step's time holds it", next, ex.Completed)
	}
}

// goTool is the go command that runs the tests.
func goTool(t *testing.T) string {
	t.Helper()
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	return p
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func exitStderr(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}

// progressBuild builds the progress context on its base with --progress
// mode, tagged tag, and returns the build's stderr and the base.
func progressBuild(t *testing.T, mode, tag string) (stderr, base string) {
	t.Helper()
	testenv.RequireRoot(t)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	base = progressBase(t)
	_, stderr, code := strata(t, t.TempDir(), nil, "build", "--progress="+mode, "-t", tag, progressContext(t, base))
	if code != 0 {
		t.Fatalf("build = exit %d\n%s", code, stderr)
	}
	return stderr, base
}
