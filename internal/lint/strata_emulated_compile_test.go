package lint

import (
	"slices"
	"strings"
	"testing"
)

func TestEmulatedCompile(t *testing.T) {
	multi := []string{"linux/amd64", "linux/arm64"}
	for _, c := range []struct {
		name      string
		src       string
		platforms []string
		lines     []int
		want      []string // substrings of the first finding's message and fix
	}{
		{name: "go build, multi-platform", platforms: multi,
			src:   "FROM golang:1.24 AS build\nRUN go build -o /app .\n",
			lines: []int{2}, want: []string{`"go build"`, `stage "build"`, "linux/arm64", "linux/amd64", "GOOS=$TARGETOS GOARCH=$TARGETARCH"}},
		{name: "go install, one foreign platform", platforms: []string{"linux/arm64"},
			src:   "FROM golang:1.24\nRUN go install example.com/cmd@latest\n",
			lines: []int{2}, want: []string{`"go install"`, "emulated for linux/arm64"}},
		{name: "CGO_ENABLED=0 go build", platforms: multi,
			src:   "FROM golang:1.24\nRUN CGO_ENABLED=0 go build -trimpath -o /app ./cmd/app\n",
			lines: []int{2}, want: []string{`"go build"`}},
		{name: "env and a multi-line RUN", platforms: multi,
			src:   "FROM golang:1.24\nWORKDIR /src\nRUN go mod download && \\\n    env CGO_ENABLED=0 \\\n      go build \\\n      -o /app .\n",
			lines: []int{3}},
		{name: "RUN --mount", platforms: multi,
			src:   "FROM golang:1.24\nRUN --mount=type=cache,target=/root/.cache/go-build --mount=type=bind,target=/src \\\n    cd /src && go build -o /app .\n",
			lines: []int{2}},
		{name: "heredoc", platforms: multi,
			src:   "FROM golang:1.24\nRUN <<EOF\nset -e\ngo build -o /app .\nEOF\n",
			lines: []int{2}},
		{name: "exec form", platforms: multi,
			src:   "FROM golang:1.24\nRUN [\"go\", \"build\", \"-o\", \"/app\", \".\"]\n",
			lines: []int{2}},
		{name: "stage FROM a target stage", platforms: multi,
			src:   "FROM golang:1.24 AS base\nWORKDIR /src\nFROM base AS build\nRUN go build -o /app .\n",
			lines: []int{4}, want: []string{`stage "build"`}},
		{name: "FROM --platform=$TARGETPLATFORM is the target", platforms: multi,
			src:   "FROM --platform=$TARGETPLATFORM golang:1.24\nRUN go build -o /app .\n",
			lines: []int{2}},
		{name: "cargo", platforms: []string{"linux/arm64", "linux/arm/v7"},
			src:   "FROM rust:1.80\nRUN cargo build --release\n",
			lines: []int{2}, want: []string{`"cargo build"`, "linux/arm64, linux/arm/v7", "aarch64-unknown-linux-gnu", "armv7-unknown-linux-gnueabihf"}},
		{name: "zig cc", platforms: multi,
			src:   "FROM alpine:3.20\nRUN zig cc -o /app main.c\n",
			lines: []int{2}, want: []string{`"zig cc"`, "aarch64-linux"}},
		{name: "dotnet publish", platforms: []string{"linux/amd64", "linux/arm64", "linux/arm/v7"},
			src:   "FROM mcr.microsoft.com/dotnet/sdk:8.0\nRUN dotnet publish -c Release -o /app\n",
			lines: []int{2}, want: []string{`"dotnet publish"`, "linux-arm64 (for linux/arm64)", "linux-arm (for linux/arm/v7)", "amd64 is linux-x64"}},
		{name: "maven wrapper", platforms: multi,
			src:   "FROM eclipse-temurin:17\nRUN ./mvnw -B package\n",
			lines: []int{2}, want: []string{`"./mvnw -B"`, "bytecode"}},
		{name: "gradle and javac", platforms: multi,
			src:   "FROM eclipse-temurin:17\nRUN gradle build\nRUN javac Main.java\n",
			lines: []int{2, 3}},
		{name: "only the stages the target needs", platforms: multi,
			src:   "FROM golang:1.24 AS unused\nRUN go build -o /x .\nFROM golang:1.24 AS build\nRUN go build -o /app .\nFROM scratch\nCOPY --from=build /app /app\n",
			lines: []int{4}},

		{name: "FROM --platform=$BUILDPLATFORM", platforms: multi,
			src: "FROM --platform=$BUILDPLATFORM golang:1.24 AS build\nARG TARGETOS TARGETARCH\nRUN GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /app .\nFROM scratch\nCOPY --from=build /app /app\n"},
		{name: "${BUILDPLATFORM} inherited by a stage FROM it", platforms: multi,
			src: "FROM --platform=${BUILDPLATFORM} golang:1.24 AS base\nFROM base AS build\nRUN go build -o /app .\n"},
		{name: "a constant --platform is deliberate", platforms: multi,
			src: "FROM --platform=linux/arm64 golang:1.24 AS build-arm64\nRUN go build -o /app .\n"},
		{name: "the build platform alone", platforms: []string{"linux/amd64"},
			src: "FROM golang:1.24\nRUN go build -o /app .\n"},
		{name: "no platforms given",
			src: "FROM golang:1.24\nRUN go build -o /app .\n"},
		{name: "not a compile", platforms: multi,
			src: "FROM golang:1.24\nRUN go mod download && go vet ./... && echo go build\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := lintFor(t, c.src, "EmulatedCompile", nil, c.platforms)
			var lines []int
			for _, f := range got {
				lines = append(lines, f.Line)
			}
			if !slices.Equal(lines, c.lines) {
				t.Fatalf("lint --platform %v: lines = %v, want %v\n%s\n%+v", c.platforms, lines, c.lines, c.src, got)
			}
			for _, w := range c.want {
				if text := got[0].Message + " | " + got[0].Fix; !strings.Contains(text, w) {
					t.Errorf("finding = %q, want it to contain %q", text, w)
				}
			}
		})
	}
}
