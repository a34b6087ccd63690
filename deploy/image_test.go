package deploy

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Policy, as internal/examples: the image test runs only when
// STRATA_EXAMPLES=1, as root (`make test-examples`), and then fails rather
// than skips on a missing prerequisite. It uses STRATA_BIN when set, and
// otherwise builds ./cmd/strata.

func strataBin(t *testing.T, root string) string {
	t.Helper()
	if bin := os.Getenv("STRATA_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "strata")
	build := exec.Command("go", "build", "-o", bin, "./cmd/strata")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building strata: %v\n%s", err, out)
	}
	return bin
}

// TestImage lints the Dockerfile at the root, checks that the strata build
// flags the recipes use exist, then builds strata's image with strata and
// runs it under Docker with default security (scripts/image-check.sh): one
// subtest per check the script reports.
func TestImage(t *testing.T) {
	if os.Getenv("STRATA_EXAMPLES") != "1" {
		t.Skip("set STRATA_EXAMPLES=1 to build strata's image and run it under Docker (root; scripts/image-check.sh)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("STRATA_EXAMPLES=1 needs root (docker, the RUN sandbox)")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bin := strataBin(t, root)

	lint := exec.Command(bin, "lint", "-f", "Dockerfile", ".")
	lint.Dir = root
	if out, err := lint.CombinedOutput(); err != nil || !strings.Contains(string(out), "0 findings") {
		t.Errorf("strata lint -f Dockerfile . = %v:\n%s", err, out)
	}
	checkRecipeFlags(t, bin)

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	check := exec.CommandContext(ctx, filepath.Join(root, "scripts", "image-check.sh"))
	check.Dir = root
	check.Env = append(os.Environ(), "STRATA="+bin, "JOB_CAPS="+strings.Join(jobCaps(t), ","))
	start := time.Now()
	out, err := check.CombinedOutput()
	t.Logf("scripts/image-check.sh: %s", time.Since(start).Round(time.Second))
	results := checkLine.FindAllStringSubmatch(string(out), -1)
	if err != nil || len(results) == 0 {
		t.Errorf("scripts/image-check.sh: %v\n%s", err, tail(out, 40))
	}
	for _, r := range results {
		t.Run(r[1], func(t *testing.T) {
			switch verdict, detail := r[2], r[3]; verdict {
			case "ok":
				t.Log(strings.TrimSpace(detail))
			case "skip":
				t.Skip(strings.TrimPrefix(detail, ": "))
			default:
				t.Error(strings.TrimPrefix(detail, ": "))
			}
		})
	}
}

// jobCaps are the capabilities the Kubernetes Job's strata container adds.
func jobCaps(t *testing.T) []string {
	t.Helper()
	job := readObjects(t, "kubernetes/job.yaml")["Job"]
	for _, c := range job.Spec.Template.Spec.Containers {
		if c.SecurityContext != nil && len(c.SecurityContext.Capabilities.Add) > 0 {
			return c.SecurityContext.Capabilities.Add
		}
	}
	t.Fatal("the Job's container adds no capability")
	return nil
}

// checkLine is a result line of scripts/image-check.sh.
var checkLine = regexp.MustCompile(`(?m)^check ([a-z-]+): (ok|skip|FAIL)(.*)$`)

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// checkRecipeFlags fails on a strata build flag that a recipe uses and
// `strata build --help` does not list.
func checkRecipeFlags(t *testing.T, bin string) {
	t.Helper()
	help, err := exec.Command(bin, "build", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("strata build --help: %v\n%s", err, help)
	}
	known := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(?:-\w, )?(--[a-z-]+)`).FindAllStringSubmatch(string(help), -1) {
		known[m[1]] = true
	}
	flag := regexp.MustCompile(`(?:^|[\s("])(--[a-z][a-z-]*)`)
	for file, cmds := range buildCommands(t) {
		for _, cmd := range cmds {
			for _, m := range flag.FindAllStringSubmatch(cmd, -1) {
				if !known[m[1]] {
					t.Errorf("%s uses strata build %s, which `strata build --help` does not list", file, m[1])
				}
			}
		}
	}
}

// buildCommands are the strata build command lines of each recipe, from
// the word after "build" on.
func buildCommands(t *testing.T) map[string][]string {
	t.Helper()
	cmds := map[string][]string{}
	job := readObjects(t, "kubernetes/job.yaml")["Job"]
	for _, c := range job.Spec.Template.Spec.Containers {
		cmds["kubernetes/job.yaml"] = append(cmds["kubernetes/job.yaml"], strings.Join(c.Args[1:], " "))
	}
	for _, file := range []string{"github-actions/strata.yml", "gitlab-ci/.gitlab-ci.yml", "docker/README.md"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		// one logical line per command: backslash continuations joined
		text := strings.ReplaceAll(string(b), "\\\n", " ")
		sc := bufio.NewScanner(strings.NewReader(text))
		for sc.Scan() {
			line := sc.Text()
			for _, marker := range []string{"strata:dev build ", "strata build ", "strata\" build "} {
				if i := strings.Index(line, marker); i >= 0 {
					cmds[file] = append(cmds[file], line[i+len(marker):])
					break
				}
			}
		}
	}
	// the workflow scripts build their arguments in a variable first
	for _, file := range []string{"github-actions/strata.yml", "gitlab-ci/.gitlab-ci.yml"} {
		b, _ := os.ReadFile(file)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "args") || strings.Contains(line, "set --") {
				cmds[file] = append(cmds[file], strings.ReplaceAll(line, "set --", ""))
			}
		}
	}
	for _, file := range []string{"kubernetes/job.yaml", "github-actions/strata.yml", "gitlab-ci/.gitlab-ci.yml", "docker/README.md"} {
		if len(cmds[file]) == 0 {
			t.Errorf("found no strata build command in %s", file)
		}
	}
	return cmds
}
