package conformance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Builder builds a case and reports on the image it made.
type Builder interface {
	Build(ctx context.Context, c Case) (*Report, error)
}

// BuildFailedError says a builder ran and rejected the case (rather than
// failing to run at all).
type BuildFailedError struct {
	Builder string
	// Log is the end of the builder's output.
	Log string
}

func (e *BuildFailedError) Error() string {
	return fmt.Sprintf("%s build failed: %s", e.Builder, lastLine(e.Log))
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// Strata builds cases with a strata binary into OCI layouts.
type Strata struct {
	Bin     string   // the strata binary
	Root    string   // --root, the store
	Mirrors []string // --registry-mirror values
	Work    string   // logs and outputs go here
}

var _ Builder = Strata{}

// Build runs `strata build` on c.
func (s Strata) Build(ctx context.Context, c Case) (*Report, error) {
	out := filepath.Join(s.Work, "out", c.Name+".strata")
	if err := os.RemoveAll(out); err != nil {
		return nil, fmt.Errorf("cleaning %s: %w", out, err)
	}
	args := []string{"--root", s.Root}
	for _, m := range s.Mirrors {
		args = append(args, "--registry-mirror", m)
	}
	args = append(args, "build", "--progress=plain", "-f", filepath.Join(c.Dir, c.Spec.Dockerfile),
		"--output", "type=oci,dest="+out)
	args = append(args, commonArgs(c)...)
	if len(c.Spec.Platforms) > 0 {
		args = append(args, "--platform", strings.Join(c.Spec.Platforms, ","))
	}
	if err := run(ctx, "strata", filepath.Join(s.Work, "logs", c.Name+".strata.log"), nil, s.Bin, append(args, c.Dir)...); err != nil {
		return nil, err
	}
	return ReadReport(out)
}

// commonArgs are the flags both builders take from the case.
func commonArgs(c Case) []string {
	var args []string
	if c.Spec.Target != "" {
		args = append(args, "--target", c.Spec.Target)
	}
	for _, a := range c.BuildArgs() {
		args = append(args, "--build-arg", a)
	}
	return args
}

// Docker builds cases with `docker build` (BuildKit) and `docker save`.
type Docker struct {
	Bin  string // the docker 20.10 client, /usr/bin/docker
	Work string // logs and temporary archives go here
}

var _ Builder = Docker{}

// Build runs `docker build` on c and reads the image back with `docker save`.
func (d Docker) Build(ctx context.Context, c Case) (*Report, error) {
	tag := "strata-conformance/" + strings.ToLower(c.Name) + ":latest"
	log := filepath.Join(d.Work, "logs", c.Name+".docker.log")
	env := []string{"DOCKER_BUILDKIT=1"}
	args := []string{"build", "--progress=plain", "-t", tag, "-f", filepath.Join(c.Dir, c.Spec.Dockerfile)}
	args = append(args, commonArgs(c)...)
	if len(c.Spec.Platforms) == 1 { // several: the driver skips Docker
		args = append(args, "--platform", c.Spec.Platforms[0])
	}
	if err := run(ctx, "docker", log, env, d.Bin, append(args, c.Dir)...); err != nil {
		return nil, err
	}
	archive := filepath.Join(d.Work, "out", c.Name+".docker.tar")
	defer os.Remove(archive)
	if out, err := exec.CommandContext(ctx, d.Bin, "save", "-o", archive, tag).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("docker save %s: %w: %s", tag, err, bytes.TrimSpace(out))
	}
	r, err := ReadReport(archive)
	if err != nil {
		return nil, err
	}
	// The image is no longer needed; BuildKit keeps its cache.
	_ = exec.CommandContext(ctx, d.Bin, "rmi", tag).Run()
	return r, nil
}

// BuildKit builds cases with buildctl on a buildkitd (scripts/buildkit.sh)
// with the Dockerfile frontend built into buildkitd, into an OCI layout.
type BuildKit struct {
	Bin  string // buildctl
	Addr string // buildkitd's address, unix://...
	Work string // logs and temporary outputs go here
}

var _ Builder = BuildKit{}

// Build runs `buildctl build` on c and reports on the image.
func (b BuildKit) Build(ctx context.Context, c Case) (*Report, error) {
	out := filepath.Join(b.Work, "out", c.Name+".buildkit")
	if err := os.RemoveAll(out); err != nil {
		return nil, fmt.Errorf("cleaning %s: %w", out, err)
	}
	defer os.RemoveAll(out)
	log := filepath.Join(b.Work, "logs", c.Name+".buildkit.log")
	if err := run(ctx, "buildkit", log, nil, b.Bin, b.args(c, out)...); err != nil {
		return nil, err
	}
	return ReadReport(out)
}

// args are buildctl's arguments for c, the image going to the OCI layout
// directory out. An empty cmdline makes the frontend ignore `# syntax=`
// (no frontend image is pulled), as strata does; network.host is allowed
// for RUN --network=host, as dockerd's BuildKit allows it.
func (b BuildKit) args(c Case, out string) []string {
	args := []string{"--addr", b.Addr, "build", "--progress=plain", "--allow", "network.host",
		"--frontend", "dockerfile.v0", "--opt", "cmdline=",
		"--local", "context=" + c.Dir, "--local", "dockerfile=" + c.Dir,
		"--opt", "filename=" + c.Spec.Dockerfile,
		"--output", "type=oci,tar=false,dest=" + out}
	if c.Spec.Target != "" {
		args = append(args, "--opt", "target="+c.Spec.Target)
	}
	for _, a := range c.BuildArgs() {
		args = append(args, "--opt", "build-arg:"+a)
	}
	if len(c.Spec.Platforms) > 0 {
		args = append(args, "--opt", "platform="+strings.Join(c.Spec.Platforms, ","))
	}
	return args
}

// run runs a builder's command with its output in logFile; a non-zero
// exit is a BuildFailedError.
func run(ctx context.Context, builder, logFile string, env []string, bin string, args ...string) error {
	if err := os.MkdirAll(filepath.Dir(logFile), 0o755); err != nil {
		return fmt.Errorf("creating log directory: %w", err)
	}
	var buf bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	log := fmt.Sprintf("$ %s %s\n%s", bin, strings.Join(args, " "), buf.String())
	if werr := os.WriteFile(logFile, []byte(log), 0o644); werr != nil {
		return fmt.Errorf("writing log: %w", werr)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ctx.Err() == nil {
		return &BuildFailedError{Builder: builder, Log: tail(buf.String(), 4000)}
	}
	if err != nil {
		return fmt.Errorf("running %s: %w", builder, err)
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// Cached is a Builder whose results (reports and build failures) are kept
// in Dir, keyed by the case's content and Salt (what else decides the
// result: builder version, base image IDs).
type Cached struct {
	Builder Builder
	Dir     string
	Salt    string
}

var _ Builder = Cached{}

// Build returns the cached result for c, or builds it and caches the result.
func (b Cached) Build(ctx context.Context, c Case) (*Report, error) {
	h, err := c.Hash()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(b.Salt + "\n" + h))
	dir := filepath.Join(b.Dir, c.Name)
	base := filepath.Join(dir, hex.EncodeToString(sum[:8]))
	if r, err := ReadReportFile(base + ".json"); err == nil {
		return r, nil
	}
	if b, err := os.ReadFile(base + ".fail"); err == nil {
		name, log, _ := strings.Cut(string(b), "\n")
		return nil, &BuildFailedError{Builder: name, Log: log}
	}
	r, err := b.Builder.Build(ctx, c)
	var bf *BuildFailedError
	if err != nil && !errors.As(err, &bf) {
		return nil, err
	}
	// A new result: drop the stale ones of this case.
	if rerr := os.RemoveAll(dir); rerr != nil {
		return nil, fmt.Errorf("cleaning cache: %w", rerr)
	}
	if merr := os.MkdirAll(dir, 0o755); merr != nil {
		return nil, fmt.Errorf("creating cache: %w", merr)
	}
	if err != nil {
		if werr := os.WriteFile(base+".fail", []byte(bf.Builder+"\n"+bf.Log), 0o644); werr != nil {
			return nil, fmt.Errorf("caching failure: %w", werr)
		}
		return nil, err
	}
	if err := r.WriteFile(base + ".json"); err != nil {
		return nil, err
	}
	return r, nil
}
