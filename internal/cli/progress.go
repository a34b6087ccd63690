package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/strata-build/strata/internal/attest"
	"github.com/strata-build/strata/internal/build"
	"github.com/strata-build/strata/internal/report"
)

// newProgress returns the build display for --progress, counting steps for
// the summary, and a func that ends the display.
func newProgress(mode string, w io.Writer) (*counting, func(), error) {
	var p build.Progress
	end := func() {}
	switch mode {
	case "auto", "tty":
		if mode == "tty" || isTerminal(w) {
			t := newTTYProgress(w)
			p, end = t, t.Close
		} else {
			p = &plainProgress{w: w}
		}
	case "plain":
		p = &plainProgress{w: w}
	case "rawjson":
		p = &jsonProgress{enc: json.NewEncoder(w)}
	case "quiet":
		p = build.Discard{}
	default:
		return nil, nil, fmt.Errorf("invalid --progress %q: use auto, tty, plain, quiet or rawjson", mode)
	}
	return &counting{Progress: p}, end, nil
}

// plainProgress prints numbered steps like BuildKit's plain output:
//
//	#3 [builder 2/4] COPY main.go .
//	#3 DONE 0.1s
type plainProgress struct {
	mu sync.Mutex
	w  io.Writer
	n  int
}

var _ build.Progress = (*plainProgress)(nil)

func (p *plainProgress) Step(stage string, index, total int, text string) (io.Writer, func(bool, error)) {
	p.mu.Lock()
	p.n++
	n := p.n
	fmt.Fprintf(p.w, "#%d [%s %d/%d] %s\n", n, stage, index, total, oneLine(text))
	p.mu.Unlock()
	start := time.Now()
	out := &prefixWriter{p: p, prefix: fmt.Sprintf("#%d ", n)}
	return out, func(cached bool, err error) {
		out.flush()
		p.mu.Lock()
		defer p.mu.Unlock()
		switch {
		case err != nil:
			fmt.Fprintf(p.w, "#%d ERROR %.1fs\n", n, time.Since(start).Seconds())
		case cached:
			fmt.Fprintf(p.w, "#%d CACHED\n", n)
		default:
			fmt.Fprintf(p.w, "#%d DONE %.1fs\n", n, time.Since(start).Seconds())
		}
	}
}

func (p *plainProgress) Warn(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "WARNING: %s\n", msg)
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 200 {
		s = s[:197] + "..."
	}
	return s
}

// prefixWriter writes whole lines with a step prefix.
type prefixWriter struct {
	p      *plainProgress
	prefix string
	buf    []byte
}

func (w *prefixWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			break
		}
		w.line(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(b), nil
}

func (w *prefixWriter) flush() {
	if len(w.buf) > 0 {
		w.line(string(w.buf))
		w.buf = nil
	}
}

func (w *prefixWriter) line(s string) {
	w.p.mu.Lock()
	fmt.Fprintf(w.p.w, "%s%s\n", w.prefix, s)
	w.p.mu.Unlock()
}

// summarize prints the end-of-build lines: the image digest, tags and size
// (quiet mode prints only the digest, on stdout). For a multi-platform
// build the digest is the index's, and each platform's image gets a line.
func summarize(stdio Stdio, mode string, res *build.Result, tags []string, took time.Duration, steps *counting) error {
	if mode == "quiet" {
		fmt.Fprintln(stdio.Out, res.Ref())
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
