package lint

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

func exposePortOutOfRange() Rule {
	return hadolintRule("ExposePortOutOfRange", "DL3011", Error, "Valid UNIX ports range from 0 to 65535",
		"EXPOSE a port from 0 to 65535 (a range as 8000-8010)", func(in *Input) []Problem {
			var out []Problem
			for _, st := range in.File.Stages {
				for _, c := range st.Commands {
					e, ok := c.(*instructions.ExposeCommand)
					if !ok {
						continue
					}
					var bad []string
					for _, raw := range e.Ports {
						if portOutOfRange(raw) {
							bad = append(bad, raw)
						}
					}
					if len(bad) > 0 {
						out = append(out, Problem{Line: line(c), Message: fmt.Sprintf("Valid UNIX ports range from 0 to 65535 (%s)", strings.Join(bad, ", "))})
					}
				}
			}
			return out
		})
}

// portOutOfRange reports whether an EXPOSE argument (80, 80/udp,
// 8000-8010/tcp) names a port above 65535. Arguments with variables, and
// whatever is not a number, are left to other rules.
func portOutOfRange(raw string) bool {
	if strings.Contains(raw, "$") {
		return false
	}
	if i := strings.LastIndex(raw, ":"); i >= 0 {
		raw = raw[i+1:] // ip:host:container: ExposeInvalidFormat reports the rest
	}
	raw, _, _ = strings.Cut(raw, "/")
	lo, hi, _ := strings.Cut(raw, "-")
	for _, p := range []string{lo, hi} {
		n, err := strconv.ParseUint(p, 10, 64)
		if err == nil && n > 65535 || errors.Is(err, strconv.ErrRange) {
			return true
		}
	}
	return false
}
