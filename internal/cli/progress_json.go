package cli

import (
	"encoding/json"
	"io"
	"strings"
	"time"

	godigest "github.com/opencontainers/go-digest"

	"github.com/strata-build/strata/internal/lint"
)

// The JSON of BuildKit's client.SolveStatus (client/graph.go), which
// `buildctl build --progress=rawjson` prints one per line; []byte fields
// are base64, as encoding/json writes them.
type (
	solveStatus struct {
		Vertexes []*ssVertex  `json:"vertexes,omitempty"`
		Statuses []*ssStatus  `json:"statuses,omitempty"`
		Logs     []*ssLog     `json:"logs,omitempty"`
		Warnings []*ssWarning `json:"warnings,omitempty"`
	}
	ssVertex struct {
		Digest    godigest.Digest   `json:"digest,omitempty"`
		Inputs    []godigest.Digest `json:"inputs,omitempty"`
		Name      string            `json:"name,omitempty"`
		Started   *time.Time        `json:"started,omitempty"`
		Completed *time.Time        `json:"completed,omitempty"`
		Cached    bool              `json:"cached,omitempty"`
		Error     string            `json:"error,omitempty"`
	}
	ssStatus struct {
		ID        string          `json:"id"`
		Vertex    godigest.Digest `json:"vertex,omitempty"`
		Name      string          `json:"name,omitempty"`
		Total     int64           `json:"total,omitempty"`
		Current   int64           `json:"current"`
		Timestamp time.Time       `json:"timestamp"`
		Started   *time.Time      `json:"started,omitempty"`
		Completed *time.Time      `json:"completed,omitempty"`
	}
	ssLog struct {
		Vertex    godigest.Digest `json:"vertex,omitempty"`
		Stream    int             `json:"stream,omitempty"`
		Data      []byte          `json:"data"`
		Timestamp time.Time       `json:"timestamp"`
	}
	ssWarning struct {
		Vertex     godigest.Digest `json:"vertex,omitempty"`
		Level      int             `json:"level,omitempty"`
		Short      []byte          `json:"short,omitempty"`
		Detail     [][]byte        `json:"detail,omitempty"`
		URL        string          `json:"url,omitempty"`
		SourceInfo *ssSourceInfo   `json:"sourceInfo,omitempty"`
		Range      []*ssRange      `json:"range,omitempty"`
	}
	// pb.SourceInfo, pb.Range and pb.Position of BuildKit's solver/pb.
	ssSourceInfo struct {
		Filename string `json:"filename,omitempty"`
		Data     []byte `json:"data,omitempty"`
		Language string `json:"language,omitempty"`
	}
	ssRange struct {
		Start *ssPosition `json:"start,omitempty"`
		End   *ssPosition `json:"end,omitempty"`
	}
	ssPosition struct {
		Line      int32 `json:"line,omitempty"`
		Character int32 `json:"character,omitempty"`
	}
)

// jsonDisplay writes a SolveStatus per event (--progress=rawjson).
type jsonDisplay struct {
	enc *json.Encoder
}

var _ display = (*jsonDisplay)(nil)

func newJSONDisplay(w io.Writer) *jsonDisplay { return &jsonDisplay{enc: json.NewEncoder(w)} }

func (d *jsonDisplay) emit(s solveStatus) { d.enc.Encode(s) } // a closed stderr is not the build's failure

// vertexJSON is v in its last interval: a vertex that ran again (a FROM
// extracting its layers) or a step that waited is sent with each
// interval's start, as BuildKit's progress controller sends it, and
// progressui adds up the intervals.
func vertexJSON(v *vtx) *ssVertex {
	r := v.run()
	return &ssVertex{Digest: v.digest, Inputs: v.inputs, Name: v.name, Started: timePtr(r.start), Completed: timePtr(r.stop), Cached: v.cached, Error: v.err}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func (d *jsonDisplay) started(v *vtx) { d.emit(solveStatus{Vertexes: []*ssVertex{vertexJSON(v)}}) }

func (d *jsonDisplay) paused(v *vtx) { d.emit(solveStatus{Vertexes: []*ssVertex{vertexJSON(v)}}) }

func (d *jsonDisplay) logged(v *vtx, data []byte, _ []string) {
	if len(data) == 0 {
		return
	}
	d.emit(solveStatus{Logs: []*ssLog{{Vertex: v.digest, Stream: 1, Data: data, Timestamp: time.Now().UTC()}}})
}

func (d *jsonDisplay) status(v *vtx, s *vtxStatus) {
	d.emit(solveStatus{Statuses: []*ssStatus{{
		ID: s.id, Vertex: v.digest, Name: statusAction(s.id), Total: s.total, Current: s.current,
		Timestamp: s.timestamp.UTC(), Started: timePtr(s.started), Completed: timePtr(s.completed),
	}}})
}

func (d *jsonDisplay) finished(v *vtx) { d.emit(solveStatus{Vertexes: []*ssVertex{vertexJSON(v)}}) }

func (d *jsonDisplay) warned(v *vtx, msg string) {
	w := &ssWarning{Level: 1, Short: []byte(msg)}
	if v != nil {
		w.Vertex = v.digest
	}
	d.emit(solveStatus{Warnings: []*ssWarning{w}})
}

// finding emits a build-check finding as BuildKit's Dockerfile frontend
// does: level 1, the rule's summary as detail, its URL, the file and line.
func (d *jsonDisplay) finding(f lint.Finding) {
	w := &ssWarning{Level: 1, Short: []byte(f.Short()), URL: f.URL}
	for _, r := range lint.Rules() {
		if r.ID == f.Rule && r.Summary != "" {
			w.Detail = [][]byte{[]byte(r.Summary)}
		}
	}
	if f.File != "" {
		w.SourceInfo = &ssSourceInfo{Filename: f.File, Language: "Dockerfile"}
	}
	if f.Line > 0 {
		w.Range = []*ssRange{{Start: &ssPosition{Line: int32(f.Line)}, End: &ssPosition{Line: int32(f.Line)}}}
	}
	d.emit(solveStatus{Warnings: []*ssWarning{w}})
}

// statusAction is a status's name in a SolveStatus: BuildKit's action
// ("extracting", "transferring") for those it names by action and id,
// else the id.
func statusAction(id string) string {
	for _, a := range []string{"extracting", "transferring"} {
		if strings.HasPrefix(id, a+" ") {
			return a
		}
	}
	return id
}
