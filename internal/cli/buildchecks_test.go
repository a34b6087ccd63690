package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildChecks builds Dockerfiles that BuildKit's build checks flag:
// every build prints their warnings as BuildKit does, "# check=" skips
// them or makes them fail the build before any step runs, and the
// BUILDKIT_DOCKERFILE_CHECK build arg replaces the directive.
func TestBuildChecks(t *testing.T) {
	root := buildRoot(t)
	const (
		fromAs  = " - FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line %d)"
		cmdJSON = " - JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (line %d)"
	)
	tests := []struct {
		name       string
		dockerfile string
		args       []string
		code       int
		want       []string // in stderr
		notWant    []string // not in stderr
	}{
		{
			name:       "warnings",
			dockerfile: "FROM busybox as base\nRUN echo ran-a-step\nCMD echo hi\n",
			want:       []string{fmt.Sprintf(fromAs, 1), fmt.Sprintf(cmdJSON, 3), "ran-a-step"},
		},
		{
			name:       "quiet",
			dockerfile: "FROM busybox as base\nCMD echo hi\n",
			args:       []string{"--progress=quiet"},
			notWant:    []string{"WARN"},
		},
		{
			name:       "unreached stage",
			dockerfile: "FROM busybox AS unused\nCMD echo x\nFROM busybox\nCMD [\"true\"]\n",
			notWant:    []string{"WARN"},
		},
		{
			name:       "error=true",
			dockerfile: "# check=error=true\nFROM busybox as base\nRUN echo ran-a-step\nCMD echo hi\n",
			code:       1,
			want:       []string{fmt.Sprintf(fromAs, 2), "Dockerfile:2: lint violation found for rules: FromAsCasing, JSONArgsRecommended"},
			notWant:    []string{"ran-a-step", "#1 "},
		},
		{
			name:       "skip",
			dockerfile: "# check=skip=FromAsCasing,JSONArgsRecommended\nFROM busybox as base\nCMD echo hi\n",
			notWant:    []string{"WARN"},
		},
		{
			name:       "skip;error=true",
			dockerfile: "# check=skip=FromAsCasing;error=true\nFROM busybox as base\nRUN echo ran-a-step\n",
			want:       []string{"ran-a-step"},
			notWant:    []string{"WARN", "lint violation"},
		},
		{
			name:       "skip=all",
			dockerfile: "# check=skip=all;error=true\nFROM busybox as base\nCMD echo hi\n",
			notWant:    []string{"WARN", "lint violation"},
		},
		{
			name:       "build arg replaces the directive",
			dockerfile: "# check=skip=FromAsCasing\nFROM busybox as base\nRUN echo ran-a-step\n",
			args:       []string{"--build-arg", "BUILDKIT_DOCKERFILE_CHECK=error=true"},
			code:       1,
			want:       []string{"Dockerfile:2: lint violation found for rules: FromAsCasing"},
			notWant:    []string{"ran-a-step"},
		},
		{
			name:       "build arg skips",
			dockerfile: "# check=error=true\nFROM busybox as base\n",
			args:       []string{"--build-arg", "BUILDKIT_DOCKERFILE_CHECK=skip=FromAsCasing"},
			notWant:    []string{"WARN", "lint violation", "not consumed"},
		},
		{
			name:       "bad build arg",
			dockerfile: "FROM busybox\n",
			args:       []string{"--build-arg", "BUILDKIT_DOCKERFILE_CHECK=loud"},
			code:       1,
			want:       []string{`parsing build-arg BUILDKIT_DOCKERFILE_CHECK: invalid check option "loud"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.TempDir()
			if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(tt.dockerfile), 0o644); err != nil {
				t.Fatal(err)
			}
			args := append(append([]string{"build", "--progress=plain", "--no-cache"}, tt.args...), ctx)
			_, stderr, code := strata(t, root, nil, args...)
			if code != tt.code {
				t.Errorf("strata %v with %q = exit %d, want %d\n%s", tt.args, tt.dockerfile, code, tt.code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("strata %v with %q: stderr lacks %q:\n%s", tt.args, tt.dockerfile, w, stderr)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(stderr, w) {
					t.Errorf("strata %v with %q: stderr holds %q:\n%s", tt.args, tt.dockerfile, w, stderr)
				}
			}
		})
	}
}
