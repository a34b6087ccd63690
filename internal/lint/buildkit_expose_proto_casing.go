package lint

import (
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
)

func exposeProtoCasing() Rule {
	return buildkitRule(&linter.RuleExposeProtoCasing, "write the protocol in lowercase: EXPOSE 80/tcp", checkExposeProtoCasing)
}

func checkExposeProtoCasing(in *Input) []Problem {
	return eachPort(in, func(raw, ip, hostPort, proto string) string {
		if proto != strings.ToLower(proto) {
			return linter.RuleExposeProtoCasing.Format(raw)
		}
		return ""
	})
}

// eachPort calls check on every EXPOSE port, split as BuildKit's portSpecs
// does ([ip:]hostPort:containerPort/proto); ports with variables or an
// invalid protocol (a build error) are skipped. A non-empty result is a
// problem at the EXPOSE.
func eachPort(in *Input, check func(raw, ip, hostPort, proto string) string) []Problem {
	var out []Problem
	for _, st := range in.File.Stages {
		for _, c := range st.Commands {
			e, ok := c.(*instructions.ExposeCommand)
			if !ok {
				continue
			}
			for _, raw := range e.Ports {
				if strings.Contains(raw, "$") {
					continue
				}
				parts := strings.Split(raw, ":")
				n := len(parts)
				var ip, hostPort string
				if n >= 2 {
					hostPort = parts[n-2]
				}
				if n >= 3 {
					ip = strings.Join(parts[:n-2], ":")
				}
				port, proto, _ := strings.Cut(parts[n-1], "/")
				switch strings.ToLower(proto) {
				case "", "tcp", "udp", "sctp":
				default:
					continue
				}
				if port == "" {
					continue
				}
				if msg := check(raw, ip, hostPort, proto); msg != "" {
					out = append(out, Problem{Line: line(c), Message: msg})
				}
			}
		}
	}
	return out
}
