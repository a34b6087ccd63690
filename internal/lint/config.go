package lint

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// ParseConfig reads a .strata.yaml: the "lint" section of a small YAML
// subset (block maps and lists of plain or quoted scalars, [a, b] flow
// lists, # comments), for example
//
//	lint:
//	  ignore: [DL3008, FromAsCasing]
//	  severity:
//	    UndefinedVar: error
//	    DL3059: off
//
// A file without a "lint:" key is read as if its top level were the
// section. Rules are named by ID or alias.
func ParseConfig(src []byte) (Config, error) {
	cfg := Config{Severity: map[string]Severity{}}
	var section string // "ignore" or "severity"
	hasLint := false
	for _, l := range strings.Split(string(src), "\n") {
		hasLint = hasLint || strings.TrimRight(l, " \r") == "lint:"
	}
	inLint := !hasLint
	sc := bufio.NewScanner(bytes.NewReader(src))
	for n := 1; sc.Scan(); n++ {
		raw := sc.Text()
		if i := strings.Index(raw, " #"); i >= 0 {
			raw = raw[:i]
		}
		text := strings.TrimSpace(raw)
		if text == "" || strings.HasPrefix(text, "#") || text == "---" {
			continue
		}
		if hasLint && raw[0] != ' ' && raw[0] != '\t' {
			inLint = text == "lint:"
			continue
		}
		if !inLint {
			continue
		}
		if err := cfg.line(text, &section); err != nil {
			return Config{}, fmt.Errorf(".strata.yaml:%d: %w", n, err)
		}
	}
	return cfg, sc.Err()
}

// line reads one meaningful line of the lint section.
func (cfg *Config) line(text string, section *string) error {
	if item, ok := strings.CutPrefix(text, "- "); ok {
		if *section != "ignore" {
			return fmt.Errorf("list item %q outside ignore", item)
		}
		cfg.Ignore = append(cfg.Ignore, unquote(item))
		return nil
	}
	k, v, ok := strings.Cut(text, ":")
	if !ok {
		return fmt.Errorf("want key: value, got %q", text)
	}
	k, v = unquote(strings.TrimSpace(k)), strings.TrimSpace(v)
	switch {
	case k == "ignore":
		*section = "ignore"
		if l, ok := strings.CutPrefix(v, "["); ok {
			for _, it := range strings.Split(strings.TrimSuffix(l, "]"), ",") {
				if it = unquote(strings.TrimSpace(it)); it != "" {
					cfg.Ignore = append(cfg.Ignore, it)
				}
			}
		} else if v != "" {
			return fmt.Errorf("ignore wants a list")
		}
	case k == "severity" || k == "severities":
		*section = "severity"
	case *section == "severity" && v != "":
		s, err := ParseSeverity(unquote(v))
		if err != nil {
			return err
		}
		cfg.Severity[k] = s
	default:
		return fmt.Errorf("unknown key %q", k)
	}
	return nil
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}
