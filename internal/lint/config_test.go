package lint

import (
	"slices"
	"testing"

	"github.com/strata-build/strata/internal/dockerfile"
)

func TestParseConfig(t *testing.T) {
	src := "other:\n  x: 1\nlint:\n  ignore: [DL3008, \"FromAsCasing\"]\n  # comment\n  severity:\n    UndefinedVar: error\n    DL3059: off\n"
	cfg, err := ParseConfig([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Ignore, []string{"DL3008", "FromAsCasing"}) || cfg.Severity["UndefinedVar"] != Error || cfg.Severity["DL3059"] != Off {
		t.Errorf("ParseConfig = %+v", cfg)
	}
	cfg, err = ParseConfig([]byte("ignore:\n  - DL3006\n"))
	if err != nil || !slices.Equal(cfg.Ignore, []string{"DL3006"}) {
		t.Errorf("ParseConfig(top-level list) = %+v, %v", cfg, err)
	}
	for _, bad := range []string{"lint:\n  severity:\n    X: loud\n", "lint:\n  nonsense: 1\n", "lint:\n  - x\n"} {
		if _, err := ParseConfig([]byte(bad)); err == nil {
			t.Errorf("ParseConfig(%q) = nil error, want one", bad)
		}
	}
}

func TestConfigApplies(t *testing.T) {
	src := "FROM alpine as a\nUSER app\n"
	f, err := dockerfile.Parse("Dockerfile", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	in := &Input{File: f}
	got := Run(in, Rules(), Config{Ignore: []string{"DL3006"}, Severity: map[string]Severity{"FromAsCasing": Error}})
	if len(got) != 1 || got[0].Rule != "FromAsCasing" || got[0].Severity != Error {
		t.Errorf("Run with config = %+v, want one FromAsCasing error", got)
	}
	if !Failed(got, Error) || Failed(got, Off) {
		t.Errorf("Failed: wrong threshold handling")
	}
}

func FuzzLint(f *testing.F) {
	for _, c := range ruleCases() {
		f.Add(c.bad)
		f.Add(c.good)
	}
	f.Fuzz(func(t *testing.T, src string) {
		df, err := dockerfile.Parse("Dockerfile", []byte(src))
		if err != nil {
			return
		}
		Run(&Input{File: df, Context: &Context{}}, Rules(), Config{})
	})
}
