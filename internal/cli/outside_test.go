package cli

import (
	"errors"
	"testing"

	"github.com/strata-build/strata/internal/dockerfile"
)

// TestOutsideFetchRefusal: a Dockerfile goes to the user namespace
// straight away when a step may fetch something (ADD of a URL or a git
// repository), which the try would fetch again.
func TestOutsideFetchRefusal(t *testing.T) {
	tests := []struct {
		name, dockerfile string
		refused          bool
	}{
		{"RUN only", "FROM busybox\nRUN true\nUSER app\nRUN id\n", false},
		{"COPY of the context and from a stage", "FROM busybox AS a\nRUN true\nFROM busybox\nCOPY . /src\nCOPY --chown=1:1 --from=a /x /y\n", false},
		{"COPY heredoc", "FROM busybox\nCOPY <<EOF /x\nhi\nEOF\n", false},
		{"mounts", "FROM busybox\nRUN --mount=target=/src --mount=type=cache,target=/c --mount=type=secret,id=s true\n", false},
		{"ADD of the context", "FROM busybox\nADD app.tar /app/\n", false},
		{"ADD of a URL", "FROM busybox\nADD https://example.com/x /x\n", true},
		{"ADD of a git repository", "FROM busybox\nADD git@github.com:o/r.git /r\n", true},
		{"ADD of a variable", "FROM busybox\nARG U\nADD $U /x\n", true},
	}
	for _, tt := range tests {
		file, err := dockerfile.Parse("Dockerfile", []byte(tt.dockerfile))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		err = outsideFetchRefusal(file)
		if (err != nil) != tt.refused || err != nil && !errors.Is(err, errNeedsNamespace) {
			t.Errorf("%s: outsideFetchRefusal = %v, want refused %v", tt.name, err, tt.refused)
		}
	}
}

// TestOutsideRefusal: what the try would do twice or cannot do goes to
// the namespace straight away.
func TestOutsideRefusal(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		flags   buildFlags
		context string
		refused bool
	}{
		{"tags, iidfile, quiet", buildFlags{tags: []string{"a:1"}, iidfile: "id", quiet: true}, dir, false},
		{"stdin", buildFlags{}, "-", true},
		{"Dockerfile on stdin", buildFlags{file: "-"}, dir, true},
		{"git context", buildFlags{}, "https://example.com/r.git#main", true},
		{"missing context", buildFlags{}, dir + "/absent", true},
		{"output", buildFlags{outputs: []string{"type=local,dest=out"}}, dir, true},
		{"push", buildFlags{push: true}, dir, true},
		{"load", buildFlags{load: true}, dir, true},
		{"cache-from", buildFlags{cacheFrom: []string{"r/c"}}, dir, true},
		{"build-context", buildFlags{contexts: []string{"a=" + dir}}, dir, true},
		{"pull", buildFlags{pull: true}, dir, true},
		{"no-cache", buildFlags{noCache: true}, dir, true},
	}
	for _, tt := range tests {
		err := tt.flags.outsideRefusal(tt.context)
		if (err != nil) != tt.refused || err != nil && !errors.Is(err, errNeedsNamespace) {
			t.Errorf("%s: outsideRefusal = %v, want refused %v", tt.name, err, tt.refused)
		}
	}
}

// TestHeldOutput: what a try writes to stdout and stderr is held in the
// order it came, for tryOutside to write so if the build succeeds.
func TestHeldOutput(t *testing.T) {
	try := &outsideTry{}
	out, errw := heldStream{try, false}, heldStream{try, true}
	out.Write([]byte("a"))
	errw.Write([]byte("b"))
	out.Write([]byte("c"))
	var got []string
	for _, c := range try.chunks {
		s := string(c.data)
		if c.err {
			s = "err:" + s
		}
		got = append(got, s)
	}
	if want := []string{"a", "err:b", "c"}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("held chunks = %q, want %q", got, want)
	}
}
