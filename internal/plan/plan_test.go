package plan_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/strata-build/strata/internal/dockerfile"
	"github.com/strata-build/strata/internal/plan"
)

func mustPlan(t testing.TB, src string, opts plan.Options) *plan.Plan {
	t.Helper()
	f, err := dockerfile.Parse("Dockerfile", []byte(src))
	if err != nil {
		t.Fatalf("Parse(%q) = %v", src, err)
	}
	p, err := plan.New(f, opts)
	if err != nil {
		t.Fatalf("New(%q) = %v", src, err)
	}
	return p
}

func strp(s string) *string { return &s }

func TestArgValue(t *testing.T) {
	src := "ARG TAG=1.0\nARG EMPTY=\nFROM busybox:$TAG\nARG TAG\n"
	p := mustPlan(t, src, plan.Options{BuildArgs: map[string]string{"OVER": "cli"}, TargetPlatform: "linux/arm64"})
	tests := []struct {
		key         string
		def         *string
		want        string
		wantExpand  bool
		wantOK      bool
		description string
	}{
		{"TAG", nil, "1.0", false, true, "re-declared global takes global value"},
		{"TAG", strp("2.0"), "2.0", true, true, "own default wins over global"},
		{"OVER", strp("x"), "cli", false, true, "build arg wins over default"},
		{"OVER", nil, "cli", false, true, "build arg without default"},
		{"EMPTY", nil, "", false, true, "empty global"},
		{"TARGETARCH", nil, "arm64", false, true, "predefined"},
		{"NOPE", nil, "", false, false, "unset"},
		{"NOPE", strp("$TAG"), "$TAG", true, true, "default is expanded by the caller"},
	}
	for _, tt := range tests {
		v, expand, ok := p.ArgValue(tt.key, tt.def)
		if v != tt.want || expand != tt.wantExpand || ok != tt.wantOK {
			t.Errorf("ArgValue(%q, %v) = %q, %v, %v, want %q, %v, %v (%s)", tt.key, tt.def, v, expand, ok, tt.want, tt.wantExpand, tt.wantOK, tt.description)
		}
	}
	if got, want := p.Target.Base.Ref, "busybox:1.0"; got != want {
		t.Errorf("New(%q).Target.Base.Ref = %q, want %q", src, got, want)
	}
}

func TestProxyArgs(t *testing.T) {
	p := mustPlan(t, "FROM busybox\n", plan.Options{BuildArgs: map[string]string{"http_proxy": "h", "NO_PROXY": "n", "OTHER": "o"}})
	if got := fmt.Sprint(p.ProxyArgs); got != "map[NO_PROXY:n http_proxy:h]" {
		t.Errorf("New().ProxyArgs = %s, want map[NO_PROXY:n http_proxy:h]", got)
	}
	if _, ok := p.GlobalArgs["http_proxy"]; ok {
		t.Errorf("New().GlobalArgs has http_proxy, want it only visible in RUN")
	}
}

func TestStageLookup(t *testing.T) {
	p := mustPlan(t, "FROM busybox AS Build\nFROM busybox AS final\n", plan.Options{})
	for _, tt := range []struct {
		name string
		want int // index, -1 for nil
	}{{"build", 0}, {"BUILD", 0}, {"final", 1}, {"nope", -1}, {"0", -1}} {
		got := -1
		if s := p.Stage(tt.name); s != nil {
			got = s.Index
		}
		if got != tt.want {
			t.Errorf("Stage(%q) = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestResolveFrom(t *testing.T) {
	p := mustPlan(t, "FROM busybox AS build\nFROM scratch\n", plan.Options{Contexts: map[string]bool{"assets": true}})
	tests := []struct {
		kind    plan.EdgeKind
		from    string
		want    string
		wantErr string
	}{
		{plan.CopyEdge, "0", "stage build", ""},
		{plan.CopyEdge, "1", "stage stage-1", ""},
		{plan.CopyEdge, "BUILD", "stage build", ""},
		{plan.CopyEdge, "assets", "context assets", ""},
		{plan.CopyEdge, "scratch", "scratch", ""},
		{plan.CopyEdge, "alpine:3.20", "image alpine:3.20", ""},
		{plan.MountEdge, "0", "image 0", ""}, // mounts take no index in BuildKit
		{plan.CopyEdge, "2", "", "Dockerfile:7: invalid stage index 2"},
		{plan.CopyEdge, "$X", "", "Dockerfile:7: variable expansion is not supported for --from"},
		{plan.CopyEdge, "Bad:Ref:x", "", "Dockerfile:7: parsing image reference"},
	}
	for _, tt := range tests {
		src, err := p.ResolveFrom(tt.kind, tt.from, 7)
		if tt.wantErr != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Errorf("ResolveFrom(%v, %q) = %v, want error %q", tt.kind, tt.from, err, tt.wantErr)
			}
			continue
		}
		if err != nil || src.String() != tt.want {
			t.Errorf("ResolveFrom(%v, %q) = %v, %v, want %s", tt.kind, tt.from, src, err, tt.want)
		}
	}
}

// TestErrors checks that every plan error is a *dockerfile.Error at the
// offending line.
func TestErrors(t *testing.T) {
	tests := []struct {
		src, target string
		wantLine    int
		wantText    string
	}{
		{"FROM a AS x\nCOPY --from=y /a /\nFROM a AS y\n", "x", 2, `cannot copy from stage "y"`},
		{"FROM a AS x\nCOPY --from=x /a /\n", "", 2, "circular dependency detected on stage: x (x -> x)"},
		{"ARG B\nFROM $B\n", "", 2, "should not be blank"},
		{"FROM a AS x\n", "y", 0, `target stage "y" could not be found`},
		{"FROM a AS x\nFROM Y\n", "", 2, `parsing image reference "Y"`},
		{"FROM a AS x\nRUN --mount=from=y,target=/y true\nFROM a AS y\n", "x", 2, "cannot mount from stage"},
	}
	for _, tt := range tests {
		f, err := dockerfile.Parse("Dockerfile", []byte(tt.src))
		if err != nil {
			t.Fatalf("Parse(%q) = %v", tt.src, err)
		}
		_, err = plan.New(f, plan.Options{Target: tt.target})
		var de *dockerfile.Error
		if !errors.As(err, &de) || de.Line != tt.wantLine || !strings.Contains(err.Error(), tt.wantText) {
			t.Errorf("New(%q) = %v, want *dockerfile.Error at line %d containing %q", tt.src, err, tt.wantLine, tt.wantText)
		}
	}
}

// TestInheritance checks the edges through a chain of FROM <stage>.
func TestInheritance(t *testing.T) {
	src := "FROM busybox AS a\nONBUILD RUN --mount=from=c,target=/c true\nFROM busybox AS c\nFROM a AS b\nFROM b\n"
	p := mustPlan(t, src, plan.Options{})
	var got []string
	for _, s := range p.Order {
		got = append(got, s.DisplayName()+"<-"+s.Base.String())
	}
	want := "a<-image busybox c<-image busybox b<-stage a stage-3<-stage b"
	if strings.Join(got, " ") != want {
		t.Errorf("New(%q).Order = %s, want %s", src, strings.Join(got, " "), want)
	}
	if b := p.Stage("b"); len(b.Triggers) != 1 || len(b.Edges) != 2 {
		t.Errorf("New(%q): stage b has %d triggers, %d edges, want 1, 2", src, len(b.Triggers), len(b.Edges))
	}
}

func TestNewNil(t *testing.T) {
	if _, err := plan.New(nil, plan.Options{}); err == nil {
		t.Errorf("New(nil) = nil error, want error")
	}
}

// benchDockerfile is a 10-stage, 200-line Dockerfile.
func benchDockerfile() []byte {
	var b strings.Builder
	b.WriteString("ARG BASE=busybox\nARG TAG=1.36\n")
	lines := 2
	for i := range 10 {
		fmt.Fprintf(&b, "FROM ${BASE}:${TAG} AS s%d\n", i)
		lines++
		for j := 0; lines < (i+1)*20-1; j++ {
			switch {
			case i > 0 && j == 0:
				fmt.Fprintf(&b, "COPY --from=s%d /out /in%d\n", i-1, j)
			case j%4 == 1:
				fmt.Fprintf(&b, "RUN --mount=type=cache,target=/c%d echo %d && echo done\n", j, j)
			case j%4 == 2:
				fmt.Fprintf(&b, "ENV K%d=v%d\n", j, j)
			case j%4 == 3:
				fmt.Fprintf(&b, "ARG A%d=x\n", j)
			default:
				fmt.Fprintf(&b, "COPY a%d b%d /dst/\n", j, j)
			}
			lines++
		}
		b.WriteString("\n")
		lines++
	}
	return []byte(b.String())
}

func BenchmarkParsePlan(b *testing.B) {
	src := benchDockerfile()
	if n := strings.Count(string(src), "\n"); n != 200 {
		b.Fatalf("benchDockerfile() has %d lines, want 200", n)
	}
	b.ReportAllocs()
	for b.Loop() {
		f, err := dockerfile.Parse("Dockerfile", src)
		if err != nil {
			b.Fatal(err)
		}
		p, err := plan.New(f, plan.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Order) != 10 {
			b.Fatalf("New().Order has %d stages, want 10", len(p.Order))
		}
	}
}

func FuzzPlan(f *testing.F) {
	f.Add([]byte("ARG T=1\nFROM busybox:$T AS a\nONBUILD COPY --from=b / /\nFROM busybox AS b\nFROM a\nCOPY --from=0 / /\n"), "")
	f.Add([]byte("FROM a AS x\nRUN --mount=from=y,target=/y true\nFROM x AS y\nCOPY --from=x / /\n"), "x")
	f.Fuzz(func(t *testing.T, src []byte, target string) {
		df, err := dockerfile.Parse("Dockerfile", src)
		if err != nil {
			return
		}
		p, err := plan.New(df, plan.Options{Target: target, Contexts: map[string]bool{"b": true}})
		if err != nil {
			var de *dockerfile.Error
			if !errors.As(err, &de) {
				t.Fatalf("New(%q) = %v, want *dockerfile.Error", src, err)
			}
			return
		}
		if len(p.Order) == 0 || p.Order[len(p.Order)-1] != p.Target {
			t.Fatalf("New(%q).Order does not end with the target", src)
		}
	})
}
