package lint

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// BenchmarkLint500Files lints 500 varied Dockerfiles (single and
// multi-stage, Go, Node.js, Python, Java, Rust and plain Debian/Alpine
// images) in one call, parse and plan included, and reports Dockerfiles
// per second.
func BenchmarkLint500Files(b *testing.B) {
	srcs := make([][]byte, 500)
	lines := 0
	for i := range srcs {
		srcs[i] = []byte(variedDockerfile(i))
		lines += strings.Count(string(srcs[i]), "\n")
	}
	if dir := os.Getenv("STRATA_BENCH_LINT_DIR"); dir != "" {
		writeVaried(b, dir, srcs)
	}
	rules := Rules()
	findings := 0
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		findings = lintAll(b, srcs, rules)
	}
	b.ReportMetric(float64(b.N*len(srcs))/time.Since(start).Seconds(), "dockerfiles/s")
	b.ReportMetric(float64(lines)/float64(len(srcs)), "lines/file")
	b.ReportMetric(float64(findings)/float64(len(srcs)), "findings/file")
}

// lintAll lints each source as the CLI does and returns the number of
// findings.
func lintAll(b *testing.B, srcs [][]byte, rules []Rule) int {
	n := 0
	for i, src := range srcs {
		f, err := dockerfile.Parse("Dockerfile", src)
		if err != nil {
			b.Fatalf("dockerfile.Parse(varied %d) = %v", i, err)
		}
		in := &Input{File: f, Context: &Context{Entries: []string{"src/", "go.mod", "package.json"}, HasIgnoreFile: i%3 != 0, Ignore: []string{".git"}}}
		if p, err := plan.New(f, plan.Options{}); err == nil {
			in.Plan = p
		}
		n += len(Run(in, rules, Config{}))
	}
	return n
}

// variedDockerfile is the i-th of a family of Dockerfiles that differ in
// language, stage count, package installs, casing and best practices.
func variedDockerfile(i int) string {
	type lang struct{ sdk, runtime, manifest, install, build, artifact string }
	langs := []lang{
		{"golang:1.26", "gcr.io/distroless/static-debian12", "go.mod go.sum", "go mod download", "CGO_ENABLED=0 go build -o /out/app ./cmd/app", "/out/app"},
		{"node:20", "node:20-slim", "package.json package-lock.json", "npm ci", "npm run build", "/src/dist"},
		{"python:3.12", "python:3.12-slim", "pyproject.toml poetry.lock", "pip install poetry && poetry install", "python -m compileall .", "/src"},
		{"maven:3-eclipse-temurin-17", "eclipse-temurin:17-jre", "pom.xml", "mvn dependency:go-offline", "mvn package -DskipTests", "/src/target/app.jar"},
		{"rust:1.80", "debian:12-slim", "Cargo.toml Cargo.lock", "cargo fetch", "cargo build --release", "/src/target/release/app"},
		{"debian:12", "debian:12-slim", "Makefile", "apt-get update && apt-get install -y build-essential git", "make", "/src/bin"},
		{"alpine:3.20", "alpine:3.20", "Makefile", "apk add build-base git", "make", "/src/bin"},
	}
	l := langs[i%len(langs)]
	var sb strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&sb, format+"\n", args...) }
	if i%5 == 0 {
		w("# syntax=docker/dockerfile:1")
	}
	if i%4 == 1 {
		w("# check=skip=JSONArgsRecommended")
	}
	w("ARG VERSION=%d.0", i%9)
	as := "AS"
	if i%6 == 2 {
		as = "as"
	}
	stages := 1 + i%4
	for s := 0; s < stages-1; s++ {
		w("FROM %s %s build%d", l.sdk, as, s)
		w("WORKDIR /src")
		if i%7 == 3 {
			w("COPY . .")
		}
		w("COPY %s ./", l.manifest)
		if i%2 == 0 {
			w("RUN --mount=type=cache,target=/root/.cache %s", l.install)
		} else {
			w("RUN %s", l.install)
		}
		w("COPY src/ ./src/")
		w("ENV APP_VERSION=$VERSION BUILD=%d", s)
		w("RUN %s \\\n    && echo built $APP_VERSION | tee /tmp/log", l.build)
		if s > 0 {
			w("COPY --from=build%d %s %s", s-1, l.artifact, l.artifact)
		}
	}
	base := l.runtime
	if stages == 1 {
		base = l.sdk
	}
	if i%11 == 5 {
		base = strings.SplitN(base, ":", 2)[0]
	}
	w("FROM %s", base)
	if i%9 == 4 {
		w("MAINTAINER someone@example.com")
	}
	switch {
	case strings.Contains(base, "alpine"):
		w("RUN apk add curl ca-certificates")
	case strings.Contains(base, "debian") || strings.Contains(base, "node") || strings.Contains(base, "python"):
		if i%3 == 0 {
			w("RUN apt-get update && apt-get install -y --no-install-recommends curl=7.88.1-10 && rm -rf /var/lib/apt/lists/*")
		} else {
			w("RUN apt-get update\nRUN apt-get install -y curl git")
		}
	}
	if stages > 1 {
		w("COPY --from=build%d %s /app/", stages-2, l.artifact)
	} else {
		w("WORKDIR app")
		w("COPY . /app")
		w("RUN %s", l.install)
	}
	w("ENV PASSWORD=changeme PORT=80%02d", i%100)
	w("EXPOSE $PORT/TCP")
	if i%2 == 1 {
		w("USER 65532:65532")
	}
	w("HEALTHCHECK CMD curl -f http://localhost:$PORT/health || exit 1")
	if i%3 == 0 {
		w(`ENTRYPOINT ["/app/app"]`)
	} else {
		w("CMD /app/app --port $PORT $UNDEFINED_FLAG")
	}
	return sb.String()
}

// writeVaried writes the sources as dir/NNN/Dockerfile, for timing the CLI
// on them (scripts/bench-lint.sh).
func writeVaried(b *testing.B, dir string, srcs [][]byte) {
	for i, src := range srcs {
		d := filepath.Join(dir, fmt.Sprintf("%03d", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "Dockerfile"), src, 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildChecks is what every strata build adds before it starts:
// BuildKit's checks on the Dockerfile of internal/build's
// BenchmarkNoopRebuild2000Files, plan included (parsing is the build's).
func BenchmarkBuildChecks(b *testing.B) {
	src := []byte("FROM busybox AS build\nWORKDIR /src\nCOPY go.mod ./\n" +
		"RUN echo \"download deps for $(cat go.mod)\" > /deps\nCOPY . .\n" +
		"RUN find . -name '*.go' | wc -l > /count && cat /deps >> /count\n" +
		"FROM scratch\nCOPY --from=build /count /count\n")
	f, err := dockerfile.Parse("Dockerfile", src)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		in := &Input{File: f, Context: &Context{HasIgnoreFile: true, Ignore: []string{".git"}}}
		if p, err := plan.New(f, plan.Options{}); err == nil {
			in.Plan = p
		}
		BuildChecks(in, f.Check)
	}
}
