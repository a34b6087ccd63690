package dockerfile_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/strata-build/strata/internal/dockerfile"
)

func TestParse(t *testing.T) {
	src := "# syntax=docker/dockerfile:1\n# escape=`\nARG A=1\nARG B\nFROM busybox AS build\nRUN echo `\n  hi\nFROM scratch\nCOPY --from=build /a /a\n"
	f, err := dockerfile.Parse("Dockerfile", []byte(src))
	if err != nil {
		t.Fatalf("Parse(%q) = %v", src, err)
	}
	got := fmt.Sprintf("%s %c %d meta %d stages %s %d", f.Syntax, f.Escape, len(f.MetaArgs), len(f.Stages), f.Stages[0].Name, f.Stages[1].Location[0].Start.Line)
	if want := "docker/dockerfile:1 ` 2 meta 2 stages build 8"; got != want {
		t.Errorf("Parse(%q) = %s, want %s", src, got, want)
	}
	if c, ok := f.Stages[1].Commands[0].(*instructions.CopyCommand); !ok || c.From != "build" {
		t.Errorf("Parse(%q).Stages[1].Commands[0] = %#v, want COPY --from=build", src, f.Stages[1].Commands[0])
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		src, want string
	}{
		{"", "Dockerfile:1: the Dockerfile cannot be empty"},
		{"  \n\n", "Dockerfile:1: the Dockerfile cannot be empty"},
		{"# just a comment\n", "Dockerfile:1: file with no instructions"},
		{"ARG A=1\n", "Dockerfile:1: dockerfile contains no stages to build"},
		{"\n\nRUN true\nFROM a\n", "Dockerfile:3: no build stage in current context"},
		{"FROM a\n\nFOO b\n", "Dockerfile:3: unknown instruction: FOO (did you mean FROM?)"},
		{"FROM a\nCOPY --bogus=1 a b\n", "Dockerfile:2: unknown flag: --bogus"},
		{"FROM a\nADD --from=x a b\n", "Dockerfile:2: unknown flag: --from"},
		{"FROM a AS 1x\n", `Dockerfile:1: invalid name for build stage: "1x", name can't start with a number or contain symbols`},
		{"FROM a b\n", "Dockerfile:1: FROM requires either one or three arguments"},
		{"# escape=x\nFROM a\n", "Dockerfile:1: invalid escape token 'x' does not match ` or \\"},
		{"# check=error=maybe\nFROM a\n", "Dockerfile:1: parsing check directive"},
		{"FROM a\nRUN --mount=from=$X,target=/x a\n", "Dockerfile:2: 'from' doesn't support variable expansion, define alias stage instead"},
		{"FROM a\nONBUILD FROM b\n", "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger"},
		{"FROM a\nCOPY <<EOF /x\n", "Dockerfile:2: unterminated heredoc"},
	}
	for _, tt := range tests {
		_, err := dockerfile.Parse("Dockerfile", []byte(tt.src))
		var de *dockerfile.Error
		if !errors.As(err, &de) {
			t.Errorf("Parse(%q) = %v, want *dockerfile.Error", tt.src, err)
			continue
		}
		if got := err.Error(); len(got) < len(tt.want) || got[:len(tt.want)] != tt.want {
			t.Errorf("Parse(%q) = %q, want %q", tt.src, got, tt.want)
		}
	}
}

func TestWarnings(t *testing.T) {
	src := "# check=skip=FromAsCasing\nFROM a as B\nFROM b AS scratch\nFROM c AS b\nRUN a \\\n\n  b\nMAINTAINER me\n"
	f, err := dockerfile.Parse("Dockerfile", []byte(src))
	if err != nil {
		t.Fatalf("Parse(%q) = %v", src, err)
	}
	var got []string
	for _, w := range f.Warnings {
		if w.URL == "" || w.Message == "" {
			t.Errorf("Parse(%q) warning %+v lacks URL or message", src, w)
		}
		got = append(got, fmt.Sprintf("%s:%d", w.Rule, w.Line))
	}
	want := "[NoEmptyContinuation:7 StageNameCasing:2 FromAsCasing:2 MaintainerDeprecated:8 ReservedStageName:3 DuplicateStageName:4]"
	if fmt.Sprint(got) != want {
		t.Errorf("Parse(%q).Warnings = %v, want %s", src, got, want)
	}
	if len(f.Check.SkipRules) != 1 {
		t.Errorf("Parse(%q).Check.SkipRules = %v, want [FromAsCasing]", src, f.Check.SkipRules)
	}
}

func TestParseTriggers(t *testing.T) {
	cmds, err := dockerfile.ParseTriggers("Dockerfile", []string{"COPY --from=build /a /a", "RUN echo hi"}, 0)
	if err != nil || len(cmds) != 2 {
		t.Fatalf("ParseTriggers() = %d commands, %v, want 2, nil", len(cmds), err)
	}
	if c, ok := cmds[0].(*instructions.CopyCommand); !ok || c.From != "build" {
		t.Errorf("ParseTriggers()[0] = %#v, want COPY --from=build", cmds[0])
	}
	cmds, err = dockerfile.ParseTriggers("Dockerfile", []string{"RUN echo a`\nb"}, '`')
	if err != nil || len(cmds) != 1 {
		t.Errorf("ParseTriggers(escape `) = %d commands, %v, want 1, nil", len(cmds), err)
	}
	for _, bad := range []string{"BOGUS x", "FROM a", "RUN a\nRUN b", ""} {
		_, err := dockerfile.ParseTriggers("Dockerfile", []string{bad}, 0)
		var de *dockerfile.Error
		if !errors.As(err, &de) || de.Line != 0 {
			t.Errorf("ParseTriggers(%q) = %v, want *dockerfile.Error with Line 0", bad, err)
		}
	}
}

func TestErrorText(t *testing.T) {
	for _, tt := range []struct {
		err  *dockerfile.Error
		want string
	}{
		{&dockerfile.Error{File: "Dockerfile", Line: 12, Err: errors.New("bad")}, "Dockerfile:12: bad"},
		{&dockerfile.Error{File: "x/Dockerfile.dev", Err: errors.New("bad")}, "x/Dockerfile.dev: bad"},
	} {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"FROM busybox\nRUN true\n",
		"# escape=`\nARG A=${B:-c}\nFROM $A AS x\nCOPY --from=x --chmod=755 a b\n",
		"FROM a\nRUN --mount=type=cache,target=/c <<EOF\necho hi\nEOF\n",
		"FROM a\nONBUILD COPY . /\nHEALTHCHECK --interval=5s CMD true\n",
		"# check=skip=all\nFROM a as B\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		df, err := dockerfile.Parse("Dockerfile", src)
		if err != nil {
			var de *dockerfile.Error
			if !errors.As(err, &de) {
				t.Fatalf("Parse(%q) = %v, want *dockerfile.Error", src, err)
			}
			return
		}
		if len(df.Stages) == 0 {
			t.Fatalf("Parse(%q) = no stages, nil error", src)
		}
	})
}
