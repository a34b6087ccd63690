package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// Difference is one way two reports (or a report and an expectation)
// disagree, about one config field or one path.
type Difference struct {
	// Where is "config.<Field>" or an absolute path.
	Where string
	// What says how they differ, naming both sides.
	What string
}

func (d Difference) String() string { return d.Where + ": " + d.What }

// Diff lists how report b differs from report a; an and bn name the sides
// in the messages ("docker", "strata"). A subtree present on one side only
// is one difference, at its top.
func Diff(a, b *Report, an, bn string) []Difference {
	if len(a.Platforms) > 0 || len(b.Platforms) > 0 {
		return diffPlatforms(a, b, an, bn)
	}
	return append(diffConfig(a.Config, b.Config, an, bn), diffFiles(a.Files, b.Files, an, bn)...)
}

func diffConfig(a, b map[string]json.RawMessage, an, bn string) []Difference {
	keys := slices.Sorted(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []Difference
	for _, k := range keys {
		va, vb := a[k], b[k]
		if bytes.Equal(va, vb) {
			continue
		}
		out = append(out, Difference{"config." + k, fmt.Sprintf("%s %s, %s %s", an, showJSON(va), bn, showJSON(vb))})
	}
	return out
}

func showJSON(v json.RawMessage) string {
	if v == nil {
		return "(absent)"
	}
	return string(v)
}

func diffFiles(a, b map[string]File, an, bn string) []Difference {
	paths := slices.Sorted(maps.Keys(a))
	for p := range b {
		if _, ok := a[p]; !ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	var out []Difference
	var only *Difference // the last "only in" difference, to fold its subtree into
	below := 0
	flush := func() {
		if only != nil {
			if below > 0 {
				only.What += fmt.Sprintf(" (and %d paths below)", below)
			}
			out = append(out, *only)
		}
		only, below = nil, 0
	}
	for _, p := range paths {
		fa, inA := a[p]
		fb, inB := b[p]
		if inA && inB {
			flush()
			if w := diffFile(fa, fb, an, bn); w != "" {
				out = append(out, Difference{p, w})
			}
			continue
		}
		side, f := an, fa
		if inB {
			side, f = bn, fb
		}
		what := fmt.Sprintf("only in %s (%s)", side, describe(f))
		if only != nil && strings.HasPrefix(p, strings.TrimSuffix(only.Where, "/")+"/") && strings.HasPrefix(only.What, "only in "+side+" ") {
			below++
			continue
		}
		flush()
		only = &Difference{p, what}
	}
	flush()
	return out
}

// diffFile says how two entries of one path differ, "" if they do not.
func diffFile(a, b File, an, bn string) string {
	var parts []string
	field := func(name string, va, vb any) {
		if fmt.Sprint(va) != fmt.Sprint(vb) {
			parts = append(parts, fmt.Sprintf("%s %s %v, %s %v", name, an, va, bn, vb))
		}
	}
	if a.Type != b.Type {
		return fmt.Sprintf("type %s %s, %s %s", an, describe(a), bn, describe(b))
	}
	field("mode", octal(a.Mode), octal(b.Mode))
	field("owner", owner(a), owner(b))
	field("size", a.Size, b.Size)
	if a.Size == b.Size {
		field("content", short(a.SHA256), short(b.SHA256))
	}
	field("link", a.Link, b.Link)
	field("dev", a.Dev, b.Dev)
	field("xattrs", showXattrs(a.Xattrs), showXattrs(b.Xattrs))
	field("hardlinked-with", orNone(a.HardLinks), orNone(b.HardLinks))
	return strings.Join(parts, "; ")
}

// describe is a one-line summary of an entry.
func describe(f File) string {
	s := fmt.Sprintf("%s %s %s", f.Type, octal(f.Mode), owner(f))
	switch f.Type {
	case "file":
		s += fmt.Sprintf(" %dB", f.Size)
	case "symlink":
		s += " -> " + f.Link
	}
	return s
}

func octal(m uint32) string { return fmt.Sprintf("%04o", m) }

func owner(f File) string { return fmt.Sprintf("%d:%d", f.UID, f.GID) }

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func showXattrs(x map[string]string) string {
	if len(x) == 0 {
		return "(none)"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(x)) {
		parts = append(parts, k+"="+x[k])
	}
	return strings.Join(parts, ",")
}
