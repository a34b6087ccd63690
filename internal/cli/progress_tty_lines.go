package cli

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// lines is the view at width: the header, then per vertex its line, its
// statuses (" => => sha256:… 12.3MB / 45.6MB"), its warnings and, while it
// runs, the last lines of its output.
func (d *ttyDisplay) lines(width int, now time.Time, all bool) []ttyLine {
	width-- // never the last column: no terminal wraps a line the view drew
	vs := d.tracker.vtxs
	done := 0
	for _, v := range vs {
		if v.done() {
			done++
		}
	}
	head := fmt.Sprintf("[+] Building %.1fs (%d/%d)", now.Sub(d.start).Seconds(), done, len(vs))
	if all && done == len(vs) && done > 0 {
		head += " FINISHED"
	}
	out := []ttyLine{{text: cut(head, width)}}
	for _, v := range vs {
		out = append(out, d.vertexLines(v, width, now)...)
	}
	return out
}

func (d *ttyDisplay) vertexLines(v *vtx, width int, now time.Time) []ttyLine {
	name := strings.ReplaceAll(v.name, "\t", " ")
	color := ""
	switch {
	case v.err != "":
		name, color = "ERROR "+name, colorError
	case v.done():
		color = colorRun
	}
	if v.cached {
		name = "CACHED " + name
	}
	var out []ttyLine
	if l, ok := jobLine(name, "", seconds(v.duration(now)), width); ok {
		out = append(out, ttyLine{text: l, color: color, done: v.done()})
	}
	for _, s := range v.statuses {
		end := now
		c := ""
		if !s.completed.IsZero() {
			end, c = s.completed, colorRun
		}
		if l, ok := jobLine("=> "+s.id, statusBytes(s, ""), seconds(end.Sub(s.started)), width); ok {
			out = append(out, ttyLine{text: l, color: c, done: c != ""})
		}
	}
	for _, w := range v.warnings {
		if l, ok := jobLine("WARN: "+w, "", seconds(v.duration(now)), width); ok {
			out = append(out, ttyLine{text: l, color: colorWarning, done: true})
		}
	}
	if !v.done() {
		for _, t := range v.tail {
			out = append(out, ttyLine{text: cut(" => => # "+t, width), color: faint})
		}
	}
	return out
}

// seconds is a job's time as BuildKit rounds it: under 0.05s is 0.
func seconds(d time.Duration) float64 {
	if s := d.Seconds(); s >= 0.05 {
		return s
	}
	return 0
}

// jobLine is BuildKit's " => name status   1.2s" in width columns: the
// name cut to fit, the status shown when there is room, the timer at
// the right edge; false when the width is too small to show it.
func jobLine(name, status string, secs float64, width int) (string, bool) {
	const pfx = " => "
	timer := fmt.Sprintf(" %3.1fs", secs)
	left := width - len(pfx) - len(timer) - 1
	show := false
	if status != "" && left+len(status) > 20 {
		show = true
		left -= len(status) + 1
	}
	if left < 12 {
		return "", false
	}
	text := pfx + cut(name, left)
	if show {
		text += " " + status
	}
	pad := width - len([]rune(text)) - len(timer)
	if pad < 1 {
		pad = 1
	}
	return text + strings.Repeat(" ", pad) + timer, true
}

// cut keeps the first n characters of s.
func cut(s string, n int) string {
	r := []rune(s)
	if n < 0 {
		n = 0
	}
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

// printErrorLogs prints each failed step's last output lines after the
// progress, as BuildKit does:
//
//	------
//	 > [builder 2/5] RUN go build:
//	main.go:3:1: syntax error
//	------
func printErrorLogs(w io.Writer, vs []*vtx) {
	for _, v := range vs {
		if v.err == "" {
			continue
		}
		fmt.Fprintln(w, "------")
		fmt.Fprintf(w, " > %s:\n", v.name)
		for _, l := range v.tail {
			fmt.Fprintln(w, l)
		}
		fmt.Fprintln(w, "------")
	}
}
