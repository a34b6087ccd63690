package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFilesTarHint: `-o -` into a pipe says it is the image's files and
// how to feed docker load; into a file, or with another output, nothing.
func TestFilesTarHint(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "out.tar"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, c := range []struct {
		outputs []string
		stdout  *os.File
		hint    bool
	}{
		{[]string{"-"}, w, true},
		{[]string{"-"}, file, false},
		{[]string{"type=docker"}, w, false},
		{[]string{"type=tar,dest=-"}, w, false},
	} {
		var stderr bytes.Buffer
		filesTarHint(c.outputs, c.stdout, &stderr)
		if got := strings.Contains(stderr.String(), "use -o type=docker (or --load)"); got != c.hint {
			t.Errorf("-o %v into %s: stderr %q, want the hint %v", c.outputs, c.stdout.Name(), stderr.String(), c.hint)
		}
	}
}
