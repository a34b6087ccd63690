package build

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/strata-build/strata/internal/testenv"
)

// recording is a VertexProgress that writes down what it is told, in order.
type recording struct {
	mu     sync.Mutex
	events []string
}

var _ VertexProgress = (*recording)(nil)

func (r *recording) add(format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf(format, a...))
}

func (r *recording) Step(stage string, index, total int, text string) (io.Writer, func(bool, error)) {
	name := StepName(stage, index, total, text)
	r.add("start %s", name)
	return io.Discard, func(bool, error) { r.add("done %s", name) }
}

func (r *recording) Warn(string) {}

func (r *recording) Vertex(name string) Vertex {
	r.add("start %s", name)
	return recordedVertex{r, name}
}

func (r *recording) Waiting(stage string) func() {
	r.add("wait %s", stage)
	return func() { r.add("go on %s", stage) }
}

type recordedVertex struct {
	r    *recording
	name string
}

func (v recordedVertex) Status(id string, _, _ int64, completed bool) {
	if strings.HasPrefix(id, "extracting ") {
		v.r.add("status %s %s %v", v.name, id, completed)
	}
}
func (v recordedVertex) Done(bool, error) { v.r.add("done %s", v.name) }
func (v recordedVertex) Resume()          { v.r.add("resume %s", v.name) }

// TestExtractionShownUnderFrom: a base's layers, extracted when a step of
// a stage built on it first needs them, show on the base stage's FROM,
// started again, while that step waits; a second build finds them
// extracted and shows nothing.
func TestExtractionShownUnderFrom(t *testing.T) {
	f := newFixture(t)
	df := "FROM busybox:latest AS base\nENV A=1\nFROM base AS app\nRUN true\n"
	rec := &recording{}
	f.mustBuild(buildCase{dockerfile: df, progress: rec})
	from := "[base 1/2] FROM docker.io/library/busybox:latest@sha256:D"
	digests := regexp.MustCompile(`sha256:[0-9a-f]{64}`)
	var got []string
	for _, e := range rec.events {
		if strings.Contains(e, "FROM") || strings.Contains(e, "RUN") || strings.HasPrefix(e, "wait") || strings.HasPrefix(e, "go on") {
			got = append(got, digests.ReplaceAllString(e, "sha256:D"))
		}
	}
	want := []string{
		"start " + from, "done " + from,
		"start [app 2/2] RUN true",
		"wait app",
		"resume " + from,
		"status " + from + " extracting sha256:D false",
		"status " + from + " extracting sha256:D true",
		"done " + from,
		"go on app",
		"done [app 2/2] RUN true",
	}
	ls, err := testenv.BusyboxImage(t).Layers()
	if err != nil {
		t.Fatal(err)
	}
	blob, err := ls[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	if e := "status " + from[:len(from)-len("sha256:D")]; !slices.ContainsFunc(rec.events, func(s string) bool {
		return strings.HasPrefix(s, e) && strings.HasSuffix(s, " extracting "+blob.String()+" true")
	}) {
		t.Errorf("no extracting %s (the layer's blob) in %q", blob, rec.events)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	again := &recording{}
	f.mustBuild(buildCase{dockerfile: df + "RUN echo again\n", progress: again})
	for _, e := range again.events {
		if strings.HasPrefix(e, "resume") || strings.HasPrefix(e, "status") || strings.HasPrefix(e, "wait") {
			t.Errorf("a build with the base extracted shows %q", e)
		}
	}
}

// TestExtractionShownUnderFromImage: an image a COPY --from names is
// shown extracted on its own "FROM ref@digest" vertex, the COPY waiting.
func TestExtractionShownUnderFromImage(t *testing.T) {
	f := newFixture(t)
	rec := &recording{}
	f.mustBuild(buildCase{dockerfile: "FROM scratch\nCOPY --from=busybox:latest /bin/busybox /b\n", progress: rec})
	digests := regexp.MustCompile(`sha256:[0-9a-f]{64}`)
	var got []string
	for _, e := range rec.events {
		if !strings.Contains(e, "[internal]") && !strings.Contains(e, "exporting") {
			got = append(got, digests.ReplaceAllString(e, "sha256:D"))
		}
	}
	from, step := "FROM docker.io/library/busybox:latest@sha256:D", "[2/2] COPY --from=busybox:latest /bin/busybox /b"
	want := []string{
		"start " + step,
		"start " + from, "done " + from,
		"wait ",
		"resume " + from,
		"status " + from + " extracting sha256:D false",
		"status " + from + " extracting sha256:D true",
		"done " + from,
		"go on ",
		"done " + step,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
