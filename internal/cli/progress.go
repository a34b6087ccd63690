package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/strata-build/strata/internal/attest"
	"github.com/strata-build/strata/internal/build"
	"github.com/strata-build/strata/internal/report"
)

// newProgress returns the build display for --progress, counting steps for
// the summary, and a func that ends the display. Every mode but quiet shows
// BuildKit's vertices: tty and auto on a terminal redraw them in place,
// plain prints them as "#n" lines, rawjson as SolveStatus JSON objects.
func newProgress(mode string, w io.Writer) (*counting, func(), error) {
	var p build.Progress
	end := func() {}
	switch mode {
	case "auto", "tty":
		if mode == "tty" || isTerminal(w) {
			t := newTTYDisplay(w)
			p, end = t.tracker, t.close
		} else {
			p, end = newPlain(w)
		}
	case "plain":
		p, end = newPlain(w)
	case "rawjson":
		t := newTracker(newJSONDisplay(w))
		p, end = t, t.showHeld
	case "quiet":
		p = build.Discard{}
	default:
		return nil, nil, fmt.Errorf("invalid --progress %q: use auto, tty, plain, quiet or rawjson", mode)
	}
	return &counting{Progress: p}, end, nil
}

// newPlain is the plain display's tracker, and its end: the output of
// failed steps again, after everything, as BuildKit's plain display ends.
func newPlain(w io.Writer) (*tracker, func()) {
	t := newTracker(&plainDisplay{w: w})
	return t, func() {
		t.showHeld()
		t.mu.Lock()
		defer t.mu.Unlock()
		printErrorLogs(w, t.vtxs)
	}
}

// plainDisplay prints vertices as BuildKit's plain output does:
//
//	#3 [builder 2/4] RUN go build
//	#3 0.412 go: downloading example.com/x v1.0.0
//	#3 DONE 1.2s
type plainDisplay struct {
	w       io.Writer
	current *vtx
}

var _ display = (*plainDisplay)(nil)

// header prints v's "#n name" line when output switches to v.
func (p *plainDisplay) header(v *vtx) {
	if p.current == v {
		return
	}
	if c := p.current; c != nil {
		if !c.done() {
			fmt.Fprintf(p.w, "#%d ...\n", c.index) // BuildKit's mark of a vertex left running
		}
		fmt.Fprintln(p.w)
	}
	p.current = v
	fmt.Fprintf(p.w, "#%d %s\n", v.index, v.name)
}

func (p *plainDisplay) started(v *vtx) { p.header(v) }

func (p *plainDisplay) paused(*vtx) {}

func (p *plainDisplay) logged(v *vtx, _ []byte, lines []string) {
	if len(lines) == 0 {
		return
	}
	p.header(v)
	sec := time.Since(v.run().start).Seconds()
	prec := 1
	if sec < 10 {
		prec = 3
	} else if sec < 100 {
		prec = 2
	}
	for _, l := range lines {
		fmt.Fprintf(p.w, "#%d %.*f %s\n", v.index, prec, sec, l)
	}
}

// status prints a status when it starts and when it completes.
func (p *plainDisplay) status(v *vtx, s *vtxStatus) {
	if s.timestamp != s.started && s.completed.IsZero() {
		return
	}
	p.header(v)
	fmt.Fprintf(p.w, "#%d %s%s%s\n", v.index, s.id, statusBytes(s, " "), plainStatusTime(s))
}

func plainStatusTime(s *vtxStatus) string {
	end := s.timestamp
	if !s.completed.IsZero() {
		end = s.completed
	}
	tm := ""
	if d := end.Sub(s.started).Seconds(); d > 0.01 {
		tm = fmt.Sprintf(" %.1fs", d)
	}
	if !s.completed.IsZero() {
		tm += " done"
	}
	return tm
}

func (p *plainDisplay) finished(v *vtx) {
	p.header(v)
	for _, w := range v.warnings {
		fmt.Fprintf(p.w, "#%d WARN: %s\n", v.index, w)
	}
	switch {
	case v.err != "":
		first, _, _ := strings.Cut(v.err, "\n") // the output follows in the error logs
		fmt.Fprintf(p.w, "#%d ERROR: %s\n", v.index, first)
	case v.cached:
		fmt.Fprintf(p.w, "#%d CACHED\n", v.index)
	default:
		fmt.Fprintf(p.w, "#%d DONE %.1fs\n", v.index, v.duration(v.completed).Seconds())
	}
}

func (p *plainDisplay) warned(v *vtx, msg string) {
	if v != nil {
		p.header(v)
		fmt.Fprintf(p.w, "#%d WARN: %s\n", v.index, msg)
		return
	}
	if p.current != nil {
		fmt.Fprintln(p.w)
		p.current = nil
	}
	fmt.Fprintf(p.w, "WARNING: %s\n", msg)
}

// statusBytes is a status's " 12.35MB / 45.60MB" (or " 12.35MB" of an
// unknown total), as BuildKit shows it, after sep.
func statusBytes(s *vtxStatus, sep string) string {
	switch {
	case s.total != 0:
		return sep + byteSize(s.current) + " / " + byteSize(s.total)
	case s.current != 0:
		return sep + byteSize(s.current)
	}
	return ""
}

// byteSize is BuildKit's "%.2f" of a size in decimal units: 123B, 1.23kB,
// 12.35MB.
func byteSize(n int64) string {
	if n < 1000 {
		return fmt.Sprintf("%dB", n)
	}
	f, i := float64(n), 0
	for f >= 1000 && i < 6 {
		f /= 1000
		i++
	}
	return fmt.Sprintf("%.2f%s", f, [...]string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}[i])
}

func oneLine(s string) string {
	return strings.ReplaceAll(s, "\n", " ")
}

// summarize prints the end-of-build lines: the image digest, tags and size
// (quiet mode prints only the digest, on stdout). For a multi-platform
// build the digest is the index's, and each platform's image gets a line.
func summarize(stdio Stdio, mode string, res *build.Result, tags []string, took time.Duration, steps *counting) error {
	if mode == "quiet" {
		id, err := imageID(res)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdio.Out, id)
		return nil
	}
	if mode == "rawjson" {
		return nil
	}
	if res.Index != nil {
		if err := summarizePlatforms(stdio.Err, res, took, steps); err != nil {
			return err
		}
	} else {
		size, err := layersSize(res.Image)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdio.Err, "built %s in %.2fs (%s run, %d cached): %s compressed\n",
			res.Digest, took.Seconds(), report.Count(steps.ran, "step"), steps.cached, humanSize(size))
	}
	for _, t := range tags {
		fmt.Fprintf(stdio.Err, "tagged %s\n", t)
	}
	return nil
}

// summarizePlatforms prints the index line of a multi-platform build and
// a line per platform: its size and image digest.
func summarizePlatforms(w io.Writer, res *build.Result, took time.Duration, steps *counting) error {
	fmt.Fprintf(w, "built %s in %.2fs (%s run, %d cached): index of %s\n",
		res.IndexDigest, took.Seconds(), report.Count(steps.ran, "step"), steps.cached, report.Count(len(res.Platforms), "platform"))
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, pr := range res.Platforms {
		size, err := layersSize(pr.Image)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "  %s\t%s compressed\t%s%s\n", pr.Platform, humanSize(size), pr.Digest, attestationNote(pr))
	}
	return tw.Flush()
}

// attestationNote says what is attached to an image: " + SBOM (SPDX),
// provenance (SLSA v1)".
func attestationNote(pr build.PlatformResult) string {
	var parts []string
	for _, p := range pr.Predicates {
		switch p.Type {
		case attest.PredicateSPDX:
			parts = append(parts, "SBOM (SPDX 2.3)")
		case attest.PredicateSLSA1:
			parts = append(parts, "provenance (SLSA v1)")
		default:
			parts = append(parts, p.Type)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "  + " + strings.Join(parts, ", ")
}

func humanSize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%cB", float64(n)/float64(div), "kMGTPE"[exp])
}
