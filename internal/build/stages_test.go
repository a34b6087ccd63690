package build

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/strata-build/strata/internal/dockerfile"
	"github.com/strata-build/strata/internal/testenv"
)

func TestARGScoping(t *testing.T) {
	f := newFixture(t)
	const df = `ARG V=global
ARG BASE=busybox
FROM ${BASE}
ENV SEEN=${V}-x
ARG V
ENV AFTER=${V}
ARG A=1
ARG B=${A}2
ENV B=${B}
`
	tests := []struct {
		args map[string]string
		want map[string]string
	}{
		{nil, map[string]string{"SEEN": "-x", "AFTER": "global", "B": "12"}},
		{map[string]string{"V": "cli", "A": "7"}, map[string]string{"SEEN": "-x", "AFTER": "cli", "B": "72"}},
		{map[string]string{"B": "override"}, map[string]string{"B": "override"}},
	}
	for _, tt := range tests {
		res := f.mustBuild(buildCase{dockerfile: df, args: tt.args})
		cf := config(t, res.Image)
		for k, want := range tt.want {
			if got, _ := envOf(cf, k); got != want {
				t.Errorf("build args %v: env %s = %q, want %q", tt.args, k, got, want)
			}
		}
		if _, ok := envOf(cf, "A"); ok {
			t.Errorf("build args %v: ARG A persisted in the image env", tt.args)
		}
	}
}

func TestTargetPrunesFailingStage(t *testing.T) {
	f := newFixture(t)
	const df = `FROM busybox AS broken
COPY does-not-exist /
FROM busybox AS good
ENV OK=1
`
	res := f.mustBuild(buildCase{dockerfile: df, target: "good"})
	if len(res.Stages) != 1 {
		t.Errorf("built %d stages, want 1 (the broken stage must not run)", len(res.Stages))
	}
	_, err := f.build(buildCase{dockerfile: df, target: "broken"})
	if err == nil || !strings.Contains(err.Error(), "Dockerfile:2") || !strings.Contains(err.Error(), `"does-not-exist" not found in build context`) {
		t.Errorf("Build(target broken) = %v, want Dockerfile:2 ... \"does-not-exist\" not found in build context", err)
	}
}

func TestCopyFrom(t *testing.T) {
	f := newFixture(t)
	const df = `FROM scratch AS Files
COPY a.txt /a.txt
FROM busybox
COPY --from=0 /a.txt /by-index
COPY --from=FILES /a.txt /by-name
COPY --from=files /a.txt /dir/
COPY --from=busybox:latest /etc/group /by-image
`
	res := f.mustBuild(buildCase{dockerfile: df, files: map[string]string{"a.txt": "hello\n"}})
	fs := flatten(t, res.Image)
	for _, p := range []string{"/by-index", "/by-name", "/dir/a.txt"} {
		if e, ok := fs[p]; !ok || e.body != "hello\n" {
			t.Errorf("%s = %+v, want a file holding hello", p, e)
		}
	}
	if !strings.Contains(fs["/by-image"].body, "root:x:0:") {
		t.Errorf("/by-image = %q, want busybox's /etc/group", fs["/by-image"].body)
	}
}

func TestStageInheritance(t *testing.T) {
	f := newFixture(t)
	const df = `FROM busybox AS base
ENV E=1
USER app
WORKDIR /work
LABEL l=v
ARG A=fromparent
CMD ["base"]
FROM base AS child
ENV GOT_A=${A}
`
	res := f.mustBuild(buildCase{dockerfile: df})
	cf := config(t, res.Image)
	if got, _ := envOf(cf, "E"); got != "1" {
		t.Errorf("child env E = %q, want 1", got)
	}
	if got, _ := envOf(cf, "GOT_A"); got != "fromparent" {
		t.Errorf("child env GOT_A = %q, want fromparent (ARG values are inherited)", got)
	}
	if cf.Config.WorkingDir != "/work" || cf.Config.User != "app" || cf.Config.Labels["l"] != "v" {
		t.Errorf("child config = workdir %q user %q labels %v, want /work app l=v", cf.Config.WorkingDir, cf.Config.User, cf.Config.Labels)
	}
	if len(cf.Config.Cmd) != 1 || cf.Config.Cmd[0] != "base" {
		t.Errorf("child Cmd = %q, want [base]", cf.Config.Cmd)
	}
	if e := flatten(t, res.Image)["/work"]; e.uid != 1000 || e.gid != 1000 {
		t.Errorf("/work owner = %d:%d, want 1000:1000 (WORKDIR is created as USER)", e.uid, e.gid)
	}
}

func TestConfigInstructions(t *testing.T) {
	f := newFixture(t)
	const df = `FROM busybox
MAINTAINER someone
LABEL a=1 "b c"=2
EXPOSE 80 8080/udp 9000-9001
VOLUME ["/data", "/logs"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --timeout=2s --retries=4 CMD wget -q -O- localhost || exit 1
SHELL ["/bin/sh", "-ec"]
ENTRYPOINT echo hi
ONBUILD COPY a.txt /onbuild.txt
`
	res := f.mustBuild(buildCase{dockerfile: df})
	c := config(t, res.Image)
	if c.Author != "someone" {
		t.Errorf("Author = %q, want someone", c.Author)
	}
	if c.Config.Labels["a"] != "1" || c.Config.Labels["b c"] != "2" {
		t.Errorf("Labels = %v, want a=1 and \"b c\"=2", c.Config.Labels)
	}
	for _, p := range []string{"80/tcp", "8080/udp", "9000/tcp", "9001/tcp"} {
		if _, ok := c.Config.ExposedPorts[p]; !ok {
			t.Errorf("ExposedPorts = %v, want %s", c.Config.ExposedPorts, p)
		}
	}
	if _, ok := c.Config.Volumes["/logs"]; !ok {
		t.Errorf("Volumes = %v, want /data and /logs", c.Config.Volumes)
	}
	if c.Config.StopSignal != "SIGTERM" {
		t.Errorf("StopSignal = %q", c.Config.StopSignal)
	}
	if h := c.Config.Healthcheck; h == nil || h.Retries != 4 || h.Interval.Seconds() != 5 || h.Test[0] != "CMD-SHELL" {
		t.Errorf("Healthcheck = %+v", h)
	}
	if got := strings.Join(c.Config.Entrypoint, "|"); got != "/bin/sh|-ec|echo hi" {
		t.Errorf("Entrypoint = %q, want the SHELL-form [/bin/sh -ec echo hi]", got)
	}
	if c.Config.Cmd != nil {
		t.Errorf("Cmd = %q, want none (ENTRYPOINT resets the inherited CMD)", c.Config.Cmd)
	}
	if len(c.Config.OnBuild) != 1 || c.Config.OnBuild[0] != "COPY a.txt /onbuild.txt" {
		t.Errorf("OnBuild = %q", c.Config.OnBuild)
	}
}

func TestOnbuildTriggers(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	parent := f.mustBuild(buildCase{dockerfile: "FROM busybox\nONBUILD COPY a.txt /onbuild.txt\n"})
	if err := f.store.Tag(ctx, "onbuild-base:1", parent.Digest); err != nil {
		t.Fatal(err)
	}
	res := f.mustBuild(buildCase{dockerfile: "FROM onbuild-base:1\nENV X=1\n", files: map[string]string{"a.txt": "triggered"}})
	if got := flatten(t, res.Image)["/onbuild.txt"].body; got != "triggered" {
		t.Errorf("/onbuild.txt = %q, want triggered (ONBUILD COPY ran)", got)
	}
	if c := config(t, res.Image); len(c.Config.OnBuild) != 0 {
		t.Errorf("child OnBuild = %q, want none (triggers are consumed)", c.Config.OnBuild)
	}
}

func TestDockerignore(t *testing.T) {
	f := newFixture(t)
	files := map[string]string{"a.md": "a", "README.md": "r", "keep.txt": "k", "sub/x.md": "x"}
	ignore := []string{"*.md", "!README.md"}
	res := f.mustBuild(buildCase{dockerfile: "FROM scratch\nCOPY . /ctx/\n", files: files, ignore: ignore})
	fs := flatten(t, res.Image)
	for p, want := range map[string]bool{"/ctx/README.md": true, "/ctx/keep.txt": true, "/ctx/a.md": false, "/ctx/sub/x.md": true} {
		if _, ok := fs[p]; ok != want {
			t.Errorf("%s present = %v, want %v", p, ok, want)
		}
	}
	_, err := f.build(buildCase{dockerfile: "FROM scratch\nCOPY a.md /\n", files: files, ignore: ignore})
	if err == nil || !strings.Contains(err.Error(), "Dockerfile:2") {
		t.Errorf("COPY of an ignored file = %v, want an error at Dockerfile:2", err)
	}
}

func TestCopyOverExistingFile(t *testing.T) {
	f := newFixture(t)
	res := f.mustBuild(buildCase{
		dockerfile: "FROM busybox\nCOPY --chown=app:app --chmod=600 passwd /home/app/secret\nCOPY passwd /etc/passwd\n",
		files:      map[string]string{"passwd": "root:x:0:0::/root:/bin/sh\n"},
	})
	fs := flatten(t, res.Image)
	if got := fs["/etc/passwd"].body; got != "root:x:0:0::/root:/bin/sh\n" {
		t.Errorf("/etc/passwd = %q, want the copied file", got)
	}
	if e := fs["/home/app/secret"]; e.uid != 1000 || e.gid != 1000 || e.mode != 0o600 {
		t.Errorf("/home/app/secret = %d:%d %o, want 1000:1000 600", e.uid, e.gid, e.mode)
	}
}

func TestReproducible(t *testing.T) {
	f := newFixture(t)
	c := buildCase{
		dockerfile: "FROM busybox AS b\nCOPY . /src/\nFROM scratch\nCOPY --from=b /src /out\nCMD [\"x\"]\n",
		files:      map[string]string{"a": "1", "d/b": "2"},
	}
	first := f.mustBuild(c)
	second := f.mustBuild(c) // a fresh context dir: other mtimes, same content
	if first.Digest != second.Digest {
		t.Errorf("two builds of the same inputs: %s and %s, want one digest", first.Digest, second.Digest)
	}
}

func TestErrorsNamePositions(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		df, target, want string
	}{
		{"FROM busybox\nCOPY --from=nowhere-image-xyz /a /b\n", "", "Dockerfile:2"},
		{"FROM busybox AS builder\nENV A=1\n", "buidler", "did you mean builder"},
	}
	for _, tt := range tests {
		_, err := f.build(buildCase{dockerfile: tt.df, target: tt.target})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Build(%q, target %q) = %v, want an error containing %q", tt.df, tt.target, err, tt.want)
		}
	}
	if _, err := dockerfile.Parse("Dockerfile", []byte("FROM busybox\nFROBNICATE x\n")); err == nil || !strings.Contains(err.Error(), "Dockerfile:2") {
		t.Errorf("Parse(unknown instruction) = %v, want Dockerfile:2", err)
	}
}

func TestWorkdirExistingAddsNoLayer(t *testing.T) {
	f := newFixture(t)
	base := f.mustBuild(buildCase{dockerfile: "FROM busybox\n"})
	res := f.mustBuild(buildCase{dockerfile: "FROM busybox\nWORKDIR /home/app\nWORKDIR /new/dir\n"})
	before, _ := base.Image.Layers()
	after, _ := res.Image.Layers()
	if len(after) != len(before)+1 {
		t.Errorf("layers = %d, want %d: WORKDIR of an existing directory adds none, of a new one adds one", len(after), len(before)+1)
	}
	if c := config(t, res.Image); c.Config.WorkingDir != "/new/dir" {
		t.Errorf("WorkingDir = %q, want /new/dir", c.Config.WorkingDir)
	}
}

func TestDefaultPathWhenBaseHasNone(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	img := testenv.BusyboxImage(t)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.Env = nil
	noPath, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	h, err := f.store.WriteImage(ctx, noPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.Tag(ctx, "nopath:1", h); err != nil {
		t.Fatal(err)
	}
	res := f.mustBuild(buildCase{dockerfile: "FROM nopath:1\nENV PATH=/custom:$PATH\n"})
	if got, _ := envOf(config(t, res.Image), "PATH"); got != "/custom:"+defaultPath {
		t.Errorf("PATH = %q, want /custom:%s (BuildKit adds a default PATH)", got, defaultPath)
	}
}
