package cli

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"text/tabwriter"
	"text/template"
)

// rowFormat is a --format as docker's list commands take it: "table"
// (the command's own table), "table TEMPLATE" (a table of those columns,
// headed by the columns' names), "json" (one JSON object per row), or
// any other Go template, executed once per row.
type rowFormat struct {
	table bool // the command's default table
	json  bool
	tmpl  *template.Template
	// header, for "table TEMPLATE", maps each field to its column name;
	// the template executed on it is the table's first line.
	header map[string]string
}

// parseFormat reads --format for rows of proto's type (a struct of
// exported fields, which templates and JSON name alike); headers names
// a field's column for "table TEMPLATE" where it is not its name in
// upper case.
func parseFormat(s string, proto any, headers map[string]string) (*rowFormat, error) {
	switch strings.TrimSpace(s) {
	case "", "table":
		return &rowFormat{table: true}, nil
	case "json", "{{json .}}":
		return &rowFormat{json: true}, nil
	}
	f := &rowFormat{}
	if rest, ok := strings.CutPrefix(s, "table "); ok {
		s, f.header = rest, columnNames(proto, headers)
	}
	// docker lets "\t" and "\n" be written as such in a shell argument.
	s = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(s)
	tmpl, err := template.New("format").Funcs(templateFuncs()).Option("missingkey=error").Parse(s)
	if err != nil {
		return nil, usageError{fmt.Errorf("invalid --format: %w", err)}
	}
	f.tmpl = tmpl
	return f, nil
}

// write renders rows (structs of string fields) with a template or as
// JSON lines; the default table is the caller's (f.table).
func (f *rowFormat) write(w io.Writer, rows []any) error {
	if f.json {
		for _, r := range rows {
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(w, "%s\n", b); err != nil {
				return err
			}
		}
		return nil
	}
	out := w
	var tw *tabwriter.Writer
	if f.header != nil {
		tw = tabwriter.NewWriter(w, 10, 1, 3, ' ', 0) // docker's table writer
		out = tw
		if err := f.line(out, f.header); err != nil {
			return err
		}
	}
	for _, r := range rows {
		if err := f.line(out, r); err != nil {
			return err
		}
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

func (f *rowFormat) line(w io.Writer, data any) error {
	var buf bytes.Buffer
	if err := f.tmpl.Execute(&buf, data); err != nil {
		return fmt.Errorf("formatting output: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// columnNames maps every field of proto's struct type to its column name.
func columnNames(proto any, headers map[string]string) map[string]string {
	h := map[string]string{}
	t := reflect.TypeOf(proto)
	for i := range t.NumField() {
		name := t.Field(i).Name
		h[name] = cmp.Or(headers[name], strings.ToUpper(name))
	}
	return h
}
