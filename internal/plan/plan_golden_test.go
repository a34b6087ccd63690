package plan_test

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/strata-build/strata/internal/dockerfile"
	"github.com/strata-build/strata/internal/plan"
)

var update = flag.Bool("update", false, "rewrite testdata/*/want.txt")

// TestGolden plans each testdata/<case>/Dockerfile with the options in
// testdata/<case>/options (lines "target NAME", "arg K=V", "context NAME",
// "platform P", "buildplatform P") and compares the rendered plan, or the
// error, with testdata/<case>/want.txt.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, df := range dirs {
		dir := filepath.Dir(df)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			got := runCase(t, dir)
			wantFile := filepath.Join(dir, "want.txt")
			if *update {
				if err := os.WriteFile(wantFile, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("New(%s) =\n%s\nwant\n%s", dir, got, want)
			}
		})
	}
}

func runCase(t *testing.T, dir string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	opts := readOptions(t, filepath.Join(dir, "options"))
	f, err := dockerfile.Parse("Dockerfile", src)
	if err != nil {
		return "parse error: " + err.Error() + "\n"
	}
	p, err := plan.New(f, opts)
	if err != nil {
		return "error: " + err.Error() + "\n"
	}
	return render(p)
}

func readOptions(t *testing.T, file string) plan.Options {
	t.Helper()
	opts := plan.Options{BuildPlatform: "linux/amd64", BuildArgs: map[string]string{}, Contexts: map[string]bool{}}
	b, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return opts
	} else if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, _ := strings.Cut(sc.Text(), " ")
		switch key {
		case "target":
			opts.Target = val
		case "arg":
			k, v, _ := strings.Cut(val, "=")
			opts.BuildArgs[k] = v
		case "context":
			opts.Contexts[val] = true
		case "platform":
			opts.TargetPlatform = val
		case "buildplatform":
			opts.BuildPlatform = val
		case "":
		default:
			t.Fatalf("%s: unknown option %q", file, key)
		}
	}
	return opts
}

// render is the plan as text: target, order, global ARGs, then each stage.
func render(p *plan.Plan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "target: %s\n", p.Target.DisplayName())
	var order []string
	for _, s := range p.Order {
		order = append(order, s.DisplayName())
	}
	fmt.Fprintf(&b, "order: %s\n", strings.Join(order, ", "))
	var keys []string
	for k := range p.GlobalArgs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "arg %s=%s\n", k, p.GlobalArgs[k])
	}
	for _, s := range p.Stages {
		fmt.Fprintf(&b, "stage %d %s line %d platform %q replaced %v\n", s.Index, s.DisplayName(), s.Line, s.Platform, s.Replaced())
		for _, e := range s.Edges {
			fmt.Fprintf(&b, "  %s from %s line %d paths %q\n", e.Kind, e.From, e.Line, e.Paths)
		}
		for _, c := range s.Triggers {
			fmt.Fprintf(&b, "  trigger %s\n", c.(instructions.Command).Name())
		}
	}
	return b.String()
}
