// Package main is the command solvestatus, a consumer of `--progress=rawjson` for the cli
// tests: it decodes every line with BuildKit's own client.SolveStatus
// (rejecting fields BuildKit does not have) and prints what it read as
// one JSON summary; with -plain it hands the statuses to BuildKit's own
// progressui plain printer instead and prints what that shows. It is a
// module of its own so that BuildKit's client (grpc, containerd) stays
// out of strata's module graph.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"
)

type summary struct {
	Vertexes []*client.Vertex        `json:"vertexes"` // the last state of each, in order of first appearance
	Statuses []*client.VertexStatus  `json:"statuses"`
	Logs     map[string]string       `json:"logs"` // by vertex digest, decoded
	Warnings []*client.VertexWarning `json:"warnings"`
	Lines    int                     `json:"lines"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "solvestatus:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) > 1 && os.Args[1] == "-plain" {
		return plain()
	}
	s := summary{Logs: map[string]string{}}
	byDigest := map[string]int{}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		s.Lines++
		var ss client.SolveStatus
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ss); err != nil {
			return fmt.Errorf("line %d %q: %w", s.Lines, sc.Text(), err)
		}
		for _, v := range ss.Vertexes {
			if i, ok := byDigest[v.Digest.String()]; ok {
				s.Vertexes[i] = v
				continue
			}
			byDigest[v.Digest.String()] = len(s.Vertexes)
			s.Vertexes = append(s.Vertexes, v)
		}
		s.Statuses = append(s.Statuses, ss.Statuses...)
		for _, l := range ss.Logs {
			s.Logs[l.Vertex.String()] += string(l.Data)
		}
		s.Warnings = append(s.Warnings, ss.Warnings...)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(s)
}

// plain shows the statuses on stdin as BuildKit's plain progress does.
func plain() error {
	d, err := progressui.NewDisplay(os.Stdout, progressui.PlainMode)
	if err != nil {
		return err
	}
	ch := make(chan *client.SolveStatus)
	read := make(chan error, 1)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(os.Stdin)
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			var ss client.SolveStatus
			if err := json.Unmarshal(sc.Bytes(), &ss); err != nil {
				read <- err
				return
			}
			ch <- &ss
		}
		read <- sc.Err()
	}()
	if _, err := d.UpdateFrom(context.Background(), ch); err != nil {
		return err
	}
	return <-read
}
