package lint

import (
	"fmt"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/linter"

	"github.com/strata-build/strata/internal/dockerfile"
	"github.com/strata-build/strata/internal/plan"
)

// TestBuildChecks holds what a build reports, compared by hand with
// BuildKit v0.34.2 builds of the same Dockerfiles (buildctl, plain
// progress): BuildKit's rules only, dispatch-time checks for the stages
// the target reaches, the directive or its replacement.
func TestBuildChecks(t *testing.T) {
	tests := []struct {
		name, src, target, check string // check: BUILDKIT_DOCKERFILE_CHECK, "" for the directive
		want                     string
		err                      string
	}{
		{name: "buildkit rules only", src: "FROM busybox as base\nRUN apt-get install -y gcc\nCMD echo x\n",
			want: "[FromAsCasing:1:warning JSONArgsRecommended:3:warning]"},
		{name: "unreached stage", src: "FROM busybox AS unused\nCMD echo x\nENV A 1\nFROM busybox as final\nCMD echo y\n",
			want: "[FromAsCasing:4:warning JSONArgsRecommended:5:warning]"},
		{name: "target", src: "FROM busybox AS unused\nCMD echo x\nFROM busybox\nCMD [\"y\"]\n", target: "unused",
			want: "[JSONArgsRecommended:2:warning]"},
		{name: "error=true", src: "# check=error=true\nFROM busybox as base\nCMD echo x\n",
			want: "[FromAsCasing:2:error JSONArgsRecommended:3:error]",
			err:  "Dockerfile:2: lint violation found for rules: FromAsCasing, JSONArgsRecommended"},
		{name: "skip", src: "# check=skip=FromAsCasing;error=true\nFROM busybox as base\n", want: "[]"},
		{name: "build arg replaces the directive", src: "# check=skip=FromAsCasing\nFROM busybox as base\n", check: "error=true",
			want: "[FromAsCasing:2:error]", err: "Dockerfile:2: lint violation found for rules: FromAsCasing"},
		{name: "quoted absolute WORKDIR", src: "FROM busybox\nWORKDIR \"/work dir\"\n", want: "[]"},
		{name: "invalid base name", src: "FROM busybox AS Builder\nFROM BUILDER\n",
			want: "[StageNameCasing:1:warning InvalidDefaultArgInFrom:2:warning]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := dockerfile.Parse("Dockerfile", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			in := &Input{File: f}
			if pl, err := plan.New(f, plan.Options{Target: tt.target}); err == nil {
				in.Plan = pl
			}
			check := f.Check
			if tt.check != "" {
				cfg, err := linter.ParseLintOptions(tt.check)
				if err != nil {
					t.Fatal(err)
				}
				check = *cfg
			}
			found := BuildChecks(in, check)
			var got []string
			for _, fd := range found {
				got = append(got, fmt.Sprintf("%s:%d:%s", fd.Rule, fd.Line, fd.Severity))
			}
			if fmt.Sprint(got) != tt.want && !(len(got) == 0 && tt.want == "[]") {
				t.Errorf("BuildChecks(%q) = %v, want %s", tt.src, got, tt.want)
			}
			err = ChecksError("Dockerfile", found)
			if fmt.Sprint(err) != tt.err && !(err == nil && tt.err == "") {
				t.Errorf("ChecksError(BuildChecks(%q)) = %v, want %q", tt.src, err, tt.err)
			}
		})
	}
}

func TestFindingShort(t *testing.T) {
	f := Finding{Rule: "FromAsCasing", Message: "'as' and 'FROM' keywords' casing do not match", Line: 1}
	if got, want := f.Short(), "FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)"; got != want {
		t.Errorf("Short() = %q, want %q", got, want)
	}
}
