package lint

import (
	"fmt"
	"strings"
	"testing"

	"github.com/strata-build/strata/internal/dockerfile"
	"github.com/strata-build/strata/internal/plan"
)

// BenchmarkLint2000 lints a 2,000-line multi-stage Dockerfile, parse and
// plan included (goal: under 50 ms).
func BenchmarkLint2000(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("ARG BASE=debian:12\n")
	for s := 0; sb.Len() == 0 || strings.Count(sb.String(), "\n") < 2000; s++ {
		fmt.Fprintf(&sb, "FROM ${BASE} AS s%d\nWORKDIR /src\nENV A%d=1\nCOPY go.mod ./\n", s, s)
		for i := 0; i < 16; i++ {
			fmt.Fprintf(&sb, "RUN apt-get update && apt-get install -y curl git | tee /log && echo $A%d\n", s)
		}
		if s > 0 {
			fmt.Fprintf(&sb, "COPY --from=s%d /src /src\n", s-1)
		}
	}
	src := []byte(sb.String())
	b.ResetTimer()
	for b.Loop() {
		f, err := dockerfile.Parse("Dockerfile", src)
		if err != nil {
			b.Fatal(err)
		}
		in := &Input{File: f, Context: &Context{HasIgnoreFile: true, Ignore: []string{".git"}}}
		if p, err := plan.New(f, plan.Options{}); err == nil {
			in.Plan = p
		}
		Run(in, Rules(), Config{})
	}
}
