package cli

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestPrintWarningSummary(t *testing.T) {
	for _, tt := range []struct {
		shorts []string
		color  bool
		want   string
	}{
		{nil, false, ""},
		{[]string{"FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)"}, false,
			"\n 1 warning found (use strata lint to expand):\n - FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)\n"},
		{[]string{"A: a (line 1)", "B: b (line 2)"}, true,
			"\n \x1b[33m2 warnings found (use strata lint to expand):\n\x1b[0m - A: a (line 1)\n - B: b (line 2)\n"},
	} {
		var b strings.Builder
		printWarningSummary(&b, tt.color, tt.shorts)
		if b.String() != tt.want {
			t.Errorf("printWarningSummary(%q) = %q, want %q", tt.shorts, b.String(), tt.want)
		}
	}
}

// TestJobLine: a vertex line fits the width with its timer at the right
// edge; a status shows when there is room; a tiny width shows nothing.
func TestJobLine(t *testing.T) {
	long := "[base 2/4] RUN " + strings.Repeat("x", 300)
	for _, width := range []int{40, 79, 119, 159} {
		l, ok := jobLine(long, "1.15MB / 1.15MB", 1.25, width)
		if !ok || len(l) != width || !strings.HasSuffix(l, " 1.2s") || !strings.Contains(l, " 1.15MB / 1.15MB ") {
			t.Errorf("jobLine(width %d) = %q, %v", width, l, ok)
		}
	}
	if l, ok := jobLine(long, "", 0, 20); ok {
		t.Errorf("jobLine(width 20) = %q, want nothing", l)
	}
	if got := byteSize(1148576); got != "1.15MB" {
		t.Errorf("byteSize(1148576) = %q", got)
	}
}

// TestTTYDisplayConcurrent drives the tty view from several steps at once
// (run with -race): every redraw moves up over exactly the lines the last
// one drew, and the last draw shows every vertex done.
func TestTTYDisplayConcurrent(t *testing.T) {
	var buf lockedBuffer
	d := newTTYDisplay(&buf)
	p := &counting{Progress: d.tracker}
	done := make(chan struct{})
	from := p.Vertex("[s 1/5] FROM docker.io/library/busybox:latest")
	from.Done(false, nil)
	for i := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			out, end := p.Step("s", i+2, 5, "RUN echo")
			for j := range 50 {
				out.Write([]byte("a line\npartial "))
				if j == 10 { // waits for the base, and for the context
					resume := p.Waiting("s")
					from.Resume()
					from.Status(fmt.Sprintf("extracting sha256:%d", i), 0, 0, true)
					from.Done(false, nil)
					c := p.Vertex("[internal] load build context")
					c.Status("transferring context:", 10, 0, true)
					c.Done(false, nil)
					resume()
				}
			}
			end(i == 0, nil)
		}()
	}
	v := p.Vertex("[internal] load metadata for docker.io/library/busybox:latest")
	v.Status("sha256:abc", 10, 100, false)
	v.Done(false, nil)
	for range 4 {
		<-done
	}
	d.close()
	p.Warn("late")
	s := buf.String()
	last := s[strings.LastIndex(s, "[+] Building"):]
	if !strings.Contains(last, "(7/7) FINISHED") || !strings.Contains(last, "CACHED [s 2/5] RUN echo") || !strings.HasSuffix(s, "WARNING: late\n") {
		t.Errorf("last draw:\n%s", last)
	}
	if p.ran != 3 || p.cached != 1 {
		t.Errorf("counted %d run, %d cached; want 3, 1", p.ran, p.cached)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
