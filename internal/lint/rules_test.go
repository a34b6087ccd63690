package lint

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/strata-build/strata/internal/dockerfile"
	"github.com/strata-build/strata/internal/plan"
)

// ruleCase is a rule's bad Dockerfile with the lines it must flag, and a
// good one it must leave alone.
type ruleCase struct {
	rule      string
	bad       string
	lines     []int
	good      string
	ctx       *Context // nil: a context with a complete .dockerignore
	goodCtx   *Context
	noContext bool
	platforms []string // target platforms; the build platform is linux/amd64
}

func ruleCases() []ruleCase {
	ig := func(pats ...string) *Context { return &Context{HasIgnoreFile: true, Ignore: pats} }
	return []ruleCase{
		{rule: "StageNameCasing", bad: "FROM alpine:3.20 AS Builder\nUSER app\n", lines: []int{1}, good: "FROM alpine:3.20 AS builder\nUSER app\n"},
		{rule: "FromAsCasing", bad: "FROM alpine:3.20 as builder\nUSER app\n", lines: []int{1}, good: "FROM alpine:3.20 AS builder\nUSER app\n"},
		{rule: "NoEmptyContinuation", bad: "FROM alpine:3.20\nRUN echo a \\\n\n  b\nUSER app\n", lines: []int{4}, good: "FROM alpine:3.20\nRUN echo a \\\n  b\nUSER app\n"},
		{rule: "ConsistentInstructionCasing", bad: "FROM alpine:3.20\nrun echo a\nUSER app\n", lines: []int{2}, good: "FROM alpine:3.20\nRUN echo a\nUSER app\n"},
		{rule: "DuplicateStageName", bad: "FROM alpine:3.20 AS a\nFROM alpine:3.20 AS a\nUSER app\n", lines: []int{2}, good: "FROM alpine:3.20 AS a\nFROM alpine:3.20 AS b\nUSER app\n"},
		{rule: "ReservedStageName", bad: "FROM alpine:3.20 AS scratch\nUSER app\n", lines: []int{1}, good: "FROM alpine:3.20 AS base\nUSER app\n"},
		{rule: "JSONArgsRecommended", bad: "FROM alpine:3.20\nUSER app\nCMD echo hi\n", lines: []int{3}, good: "FROM alpine:3.20\nUSER app\nCMD [\"echo\", \"hi\"]\n"},
		{rule: "MaintainerDeprecated", bad: "FROM alpine:3.20\nMAINTAINER me\nUSER app\n", lines: []int{2}, good: "FROM alpine:3.20\nLABEL org.opencontainers.image.authors=me\nUSER app\n"},
		{rule: "UndefinedArgInFrom", bad: "FROM alpine:${VERSION}\nUSER app\n", lines: []int{1}, good: "ARG VERSION=3.20\nFROM alpine:${VERSION}\nUSER app\n"},
		{rule: "WorkdirRelativePath", bad: "FROM alpine:3.20\nWORKDIR app\nUSER app\n", lines: []int{2}, good: "FROM alpine:3.20\nWORKDIR /app\nWORKDIR sub\nUSER app\n"},
		{rule: "UndefinedVar", bad: "FROM alpine:3.20\nARG NAME=x\nCOPY $NAEM /x\nUSER app\n", lines: []int{3}, good: "FROM alpine:3.20\nARG NAME=x\nENV DIR=/x\nCOPY $NAME $DIR\nUSER app\n"},
		{rule: "MultipleInstructionsDisallowed", bad: "FROM alpine:3.20\nUSER app\nCMD [\"a\"]\nCMD [\"b\"]\n", lines: []int{3}, good: "FROM alpine:3.20\nUSER app\nCMD [\"b\"]\n"},
		{rule: "LegacyKeyValueFormat", bad: "FROM alpine:3.20\nENV A 1\nUSER app\n", lines: []int{2}, good: "FROM alpine:3.20\nENV A=1\nUSER app\n"},
		{rule: "RedundantTargetPlatform", bad: "FROM --platform=$TARGETPLATFORM alpine:3.20\nUSER app\n", lines: []int{1}, good: "FROM --platform=$BUILDPLATFORM alpine:3.20\nUSER app\n"},
		{rule: "SecretsUsedInArgOrEnv", bad: "FROM alpine:3.20\nARG GITHUB_TOKEN\nUSER app\n", lines: []int{2}, good: "FROM alpine:3.20\nARG GITHUB_TOKEN_FILE\nUSER app\n"},
		{rule: "InvalidDefaultArgInFrom", bad: "ARG TAG\nFROM alpine:${TAG}\nUSER app\n", lines: []int{2}, good: "ARG TAG=3.20\nFROM alpine:${TAG}\nUSER app\n"},
		{rule: "FromPlatformFlagConstDisallowed", bad: "FROM --platform=linux/arm64 alpine:3.20 AS build\nUSER app\n", lines: []int{1}, good: "FROM --platform=linux/arm64 alpine:3.20 AS build-arm64\nUSER app\n"},
		{rule: "CopyIgnoredFile", bad: "FROM alpine:3.20\nCOPY secret.txt /\nUSER app\n", lines: []int{2}, ctx: ig(".git", "secret.txt"), good: "FROM alpine:3.20\nCOPY app.txt /\nUSER app\n"},
		{rule: "ExposeProtoCasing", bad: "FROM alpine:3.20\nEXPOSE 80/TCP\nUSER app\n", lines: []int{2}, good: "FROM alpine:3.20\nEXPOSE 80/tcp\nUSER app\n"},
		{rule: "ExposeInvalidFormat", bad: "FROM alpine:3.20\nEXPOSE 8080:80\nUSER app\n", lines: []int{2}, good: "FROM alpine:3.20\nEXPOSE 80\nUSER app\n"},

		{rule: "SDKFinalStage", bad: "FROM golang:1.24 AS build\nRUN go build -o /app\nFROM golang:1.24\nCOPY --from=build /app /app\nUSER app\n", lines: []int{3},
			good: "FROM golang:1.24 AS build\nRUN go build -o /app\nFROM gcr.io/distroless/static-debian12:nonroot\nCOPY --from=build /app /app\n"},
		{rule: "BuildToolsInFinalStage", bad: "FROM debian:12\nRUN apt-get install -y gcc git curl\nUSER app\n", lines: []int{2},
			good: "FROM debian:12 AS build\nRUN apt-get install -y gcc git\nFROM debian:12\nRUN apt-get install -y curl\nUSER app\n"},
		{rule: "CopyContextIntoFinalStage", bad: "FROM alpine:3.20 AS build\nRUN make\nFROM alpine:3.20\nCOPY . .\nUSER app\n", lines: []int{4},
			good: "FROM alpine:3.20 AS build\nCOPY . .\nRUN make\nFROM alpine:3.20\nCOPY --from=build /out /out\nUSER app\n"},
		{rule: "SourceBeforeManifests", bad: "FROM node:22\nCOPY . .\nRUN npm ci\nUSER app\n", lines: []int{2},
			good: "FROM node:22\nCOPY package.json package-lock.json ./\nRUN npm ci\nCOPY . .\nUSER app\n"},
		{rule: "DependencyCacheMount", bad: "FROM golang:1.24\nRUN go mod download\nUSER app\n", lines: []int{2},
			good: "FROM golang:1.24\nRUN --mount=type=cache,target=/go/pkg/mod go mod download\nUSER app\n"},
		{rule: "DockerignoreMissing", bad: "FROM alpine:3.20\nCOPY app /app\nUSER app\n", lines: []int{2}, ctx: &Context{},
			good: "FROM alpine:3.20\nCOPY app /app\nUSER app\n"},
		{rule: "DockerignoreIncomplete", bad: "FROM alpine:3.20\nCOPY app /app\nUSER app\n", lines: []int{2},
			ctx:  &Context{Entries: []string{".git/", "app", "node_modules/"}, HasIgnoreFile: true, Ignore: []string{".git"}},
			good: "FROM alpine:3.20\nCOPY app /app\nUSER app\n", goodCtx: &Context{Entries: []string{".git/", "app", "node_modules/"}, HasIgnoreFile: true, Ignore: []string{".git", "node_modules"}}},
		{rule: "FinalStageRoot", bad: "FROM alpine:3.20\nUSER app\nUSER root\n", lines: []int{3}, good: "FROM alpine:3.20\nUSER root\nRUN true\nUSER 10001\n"},
		{rule: "UnusedStage", bad: "FROM alpine:3.20\nRUN true\nFROM alpine:3.20\nUSER app\n", lines: []int{1},
			good: "FROM alpine:3.20 AS test\nRUN true\nFROM alpine:3.20\nUSER app\n"},
		{rule: "CopyFromIndex", bad: "FROM alpine:3.20 AS build\nFROM alpine:3.20\nCOPY --from=0 /a /a\nUSER app\n", lines: []int{3},
			good: "FROM alpine:3.20 AS build\nFROM alpine:3.20\nCOPY --from=build /a /a\nUSER app\n"},
		{rule: "StaticBinaryFinalStage", bad: "FROM golang:1.24 AS build\nRUN CGO_ENABLED=0 go build -o /app\nFROM debian:12\nCOPY --from=build /app /app\nUSER app\n", lines: []int{3},
			good: "FROM golang:1.24 AS build\nRUN CGO_ENABLED=0 go build -o /app\nFROM scratch\nCOPY --from=build /app /app\nUSER 65532\n"},
		{rule: "EmulatedCompile", platforms: []string{"linux/amd64", "linux/arm64"},
			bad: "FROM golang:1.24 AS build\nRUN CGO_ENABLED=0 go build -o /app\nFROM scratch\nCOPY --from=build /app /app\nUSER 65532\n", lines: []int{2},
			good: "FROM --platform=$BUILDPLATFORM golang:1.24 AS build\nARG TARGETOS TARGETARCH\nRUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /app\nFROM scratch\nCOPY --from=build /app /app\nUSER 65532\n"},

		{rule: "DL3006", bad: "FROM alpine\nUSER app\n", lines: []int{1}, good: "FROM alpine:3.20\nUSER app\n"},
		{rule: "DL3007", bad: "FROM alpine:latest\nUSER app\n", lines: []int{1}, good: "FROM alpine@sha256:0000000000000000000000000000000000000000000000000000000000000000\nUSER app\n"},
		{rule: "DL3008", bad: "FROM debian:12\nRUN apt-get install -y curl\nUSER app\n", lines: []int{2}, good: "FROM debian:12\nRUN apt-get install -y curl=7.88.1-10\nUSER app\n"},
		{rule: "DL3009", bad: "FROM debian:12\nRUN apt-get update && apt-get install -y curl=7\nUSER app\n", lines: []int{2},
			good: "FROM debian:12\nRUN apt-get update && apt-get install -y curl=7 && rm -rf /var/lib/apt/lists/*\nUSER app\n"},
		{rule: "DL3015", bad: "FROM debian:12\nRUN apt-get install -y curl\nUSER app\n", lines: []int{2}, good: "FROM debian:12\nRUN apt-get install -y --no-install-recommends curl\nUSER app\n"},
		{rule: "DL3018", bad: "FROM alpine:3.20\nRUN apk add --no-cache curl\nUSER app\n", lines: []int{2}, good: "FROM alpine:3.20\nRUN apk add --no-cache curl=8.9.1-r0\nUSER app\n"},
		{rule: "DL3019", bad: "FROM alpine:3.20\nRUN apk add curl=8\nUSER app\n", lines: []int{2}, good: "FROM alpine:3.20\nRUN apk add --no-cache curl=8\nUSER app\n"},
		{rule: "DL3020", bad: "FROM alpine:3.20\nADD app /app\nUSER app\n", lines: []int{2}, good: "FROM alpine:3.20\nADD rootfs.tar.gz /\nCOPY app /app\nUSER app\n"},
		{rule: "DL3022", bad: "FROM alpine:3.20\nCOPY --from=builder /a /a\nUSER app\n", lines: []int{2}, good: "FROM alpine:3.20\nCOPY --from=nginx:1.27 /a /a\nUSER app\n"},
		{rule: "DL3023", bad: "FROM alpine:3.20 AS app\nCOPY --from=app /a /b\nUSER app\n", lines: []int{2},
			good: "FROM alpine:3.20 AS base\nFROM alpine:3.20 AS app\nCOPY --from=base /a /b\nUSER app\n"},
		{rule: "DL3024", bad: "FROM alpine:3.20 AS a\nFROM alpine:3.20 AS a\nUSER app\n", lines: []int{2}, good: "FROM alpine:3.20 AS a\nUSER app\n"},
		{rule: "DL3025", bad: "FROM alpine:3.20\nUSER app\nENTRYPOINT app\n", lines: []int{3}, good: "FROM alpine:3.20\nUSER app\nENTRYPOINT [\"app\"]\n"},
		{rule: "DL3042", bad: "FROM python:3.12-slim\nRUN pip install flask==3.0\nUSER app\n", lines: []int{2}, good: "FROM python:3.12-slim\nRUN pip install --no-cache-dir flask==3.0\nUSER app\n"},
		{rule: "DL3013", bad: "FROM python:3.12-slim\nRUN pip install --no-cache-dir flask==3.0 requests\nUSER app\n", lines: []int{2},
			good: "FROM python:3.12-slim\nRUN pip install --no-cache-dir flask==3.0 'requests>=2.32' ./vendor/lib.whl && pip install --no-cache-dir -r requirements.txt\nUSER app\n"},
		{rule: "DL3003", bad: "FROM alpine:3.20\nRUN cd /src && make\nUSER app\n", lines: []int{2}, good: "FROM alpine:3.20\nWORKDIR /src\nRUN make\nUSER app\n"},
		{rule: "DL3011", bad: "FROM alpine:3.20\nEXPOSE 80 80800/tcp\nUSER app\n", lines: []int{2}, good: "FROM alpine:3.20\nEXPOSE 80 8080/tcp 60000-65535/udp\nUSER app\n"},
		{rule: "DL3059", bad: "FROM alpine:3.20\nRUN a\nRUN b\nUSER app\n", lines: []int{3}, good: "FROM alpine:3.20\nRUN a && b\nUSER app\n"},
		{rule: "DL4006", bad: "FROM debian:12\nRUN curl -s x | sh\nUSER app\n", lines: []int{2},
			good: "FROM debian:12\nSHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\nRUN curl -s x | sh\nUSER app\n"},
	}
}

// lintOne parses src and runs the rules named rule (ID or alias) on it.
func lintOne(t *testing.T, src, rule string, ctx *Context) []Finding {
	t.Helper()
	return lintFor(t, src, rule, ctx, nil)
}

// lintFor is lintOne for a build of platforms on linux/amd64.
func lintFor(t *testing.T, src, rule string, ctx *Context, platforms []string) []Finding {
	t.Helper()
	f, err := dockerfile.Parse("Dockerfile", []byte(src))
	if err != nil {
		t.Fatalf("Parse(%q) = %v", src, err)
	}
	in := &Input{File: f, Context: ctx, Platforms: platforms, BuildPlatform: "linux/amd64"}
	if p, err := plan.New(f, plan.Options{}); err == nil {
		in.Plan = p
	}
	var rules []Rule
	for _, r := range Rules() {
		if matches(r, []string{rule}) {
			rules = append(rules, r)
		}
	}
	if len(rules) == 0 {
		t.Fatalf("no rule %s", rule)
	}
	return Run(in, rules, Config{})
}

func TestRules(t *testing.T) {
	complete := &Context{HasIgnoreFile: true, Ignore: []string{".git"}}
	for _, c := range ruleCases() {
		t.Run(c.rule, func(t *testing.T) {
			ctx := c.ctx
			if ctx == nil {
				ctx = complete
			}
			var lines []int
			for _, f := range lintFor(t, c.bad, c.rule, ctx, c.platforms) {
				lines = append(lines, f.Line)
				if f.Message == "" || f.URL == "" {
					t.Errorf("finding %+v lacks a message or URL", f)
				}
			}
			if !slices.Equal(lines, c.lines) {
				t.Errorf("lint(bad) lines = %v, want %v\n%s", lines, c.lines, c.bad)
			}
			goodCtx := c.goodCtx
			if goodCtx == nil {
				goodCtx = complete
			}
			if got := lintFor(t, c.good, c.rule, goodCtx, c.platforms); len(got) != 0 {
				t.Errorf("lint(good) = %+v, want none\n%s", got, c.good)
			}
		})
	}
}

// TestEveryRuleTestedAndDocumented holds every rule to a table case and a
// section of docs/lint.md with a bad and a good example.
func TestEveryRuleTestedAndDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/lint.md")
	if err != nil {
		t.Fatal(err)
	}
	tested := map[string]bool{}
	for _, c := range ruleCases() {
		tested[c.rule] = true
	}
	seen := map[string]bool{}
	for _, r := range Rules() {
		if seen[r.ID] {
			t.Errorf("rule %s listed twice", r.ID)
		}
		seen[r.ID] = true
		if !slices.ContainsFunc(names(r), func(n string) bool { return tested[n] }) {
			t.Errorf("rule %s has no table case", r.ID)
		}
		if r.Summary == "" || r.URL == "" || r.Fix == "" || r.Check == nil {
			t.Errorf("rule %s lacks summary, URL, fix or check", r.ID)
		}
		head := "### " + r.ID
		i := strings.Index(string(doc), head+"\n")
		if i < 0 {
			t.Errorf("docs/lint.md has no %q section", head)
			continue
		}
		sec := string(doc[i+len(head):])
		if j := strings.Index(sec, "\n### "); j >= 0 {
			sec = sec[:j]
		}
		if !strings.Contains(sec, "Bad:") || !strings.Contains(sec, "Good:") {
			t.Errorf("docs/lint.md section %s lacks a Bad: or Good: example", r.ID)
		}
	}
}
