package report

import (
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Instructions returns, for each layer of an image, the instruction that
// made it: the history entries that are not empty_layer, in order, as a
// Dockerfile line ("RUN apt-get update", "COPY file:… in /app").
func Instructions(history []v1.History) []string {
	var out []string
	for _, h := range history {
		if h.EmptyLayer {
			continue
		}
		out = append(out, Instruction(h.CreatedBy))
	}
	return out
}

// Instruction turns a history created_by into a Dockerfile line: Docker's
// "/bin/sh -c #(nop) " and "/bin/sh -c " forms and BuildKit's "|N ARG=v"
// and " # buildkit" decorations are removed; space runs become one space.
func Instruction(createdBy string) string {
	s := strings.Join(strings.Fields(createdBy), " ")
	s = strings.TrimSuffix(s, " # buildkit")
	if rest, ok := strings.CutPrefix(s, "/bin/sh -c #(nop) "); ok {
		return rest
	}
	if rest, ok := strings.CutPrefix(s, "|"); ok { // BuildKit: "|2 A=1 B=2 /bin/sh -c ..."
		if i := strings.Index(rest, " /bin/sh -c "); i >= 0 {
			s = rest[i+1:]
		}
	}
	for _, pre := range []string{"/bin/sh -c ", "RUN /bin/sh -c "} {
		if rest, ok := strings.CutPrefix(s, pre); ok {
			return "RUN " + rest
		}
	}
	return s
}
