package build

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/dockerfile"
)

func TestRunSemantics(t *testing.T) {
	forEachIsolation(t, func(t *testing.T, f *fixture) {
		const df = "FROM busybox\n" +
			"ARG BUILD_ONLY=secretish\n" +
			"ENV GREETING=hello\n" +
			"WORKDIR /w\n" +
			"RUN echo \"$GREETING $BUILD_ONLY\" > shell.txt && pwd >> shell.txt && echo \"$HOME\" >> shell.txt\n" +
			"RUN [\"/bin/sh\", \"-c\", \"echo exec-form > /w/exec.txt\"]\n" +
			"RUN <<EOT\necho heredoc-1 > /w/heredoc.txt\necho heredoc-2 >> /w/heredoc.txt\nEOT\n" +
			"RUN <<EOT\n#!/bin/sh\necho \"shebang $0\" > /w/shebang.txt\nEOT\n" +
			"USER app\n" +
			"RUN id > /tmp/id.txt && echo \"$HOME\" >> /tmp/id.txt\n"
		res := f.mustBuild(buildCase{dockerfile: df})
		fs := flatten(t, res.Image)
		checks := map[string]string{
			"/w/shell.txt":   "hello secretish\n/w\n/root\n",
			"/w/exec.txt":    "exec-form\n",
			"/w/heredoc.txt": "heredoc-1\nheredoc-2\n",
			"/w/shebang.txt": "shebang /dev/pipes/EOT\n",
			"/tmp/id.txt":    "uid=1000(app) gid=1000(app) groups=50(staff),1000(app)\n/home/app\n",
		}
		for p, want := range checks {
			if got := fs[p].body; got != want {
				t.Errorf("%s = %q, want %q", p, got, want)
			}
		}
		if e := fs["/tmp/id.txt"]; e.uid != 1000 {
			t.Errorf("/tmp/id.txt owner = %d, want 1000 (written as USER app)", e.uid)
		}
		cf := config(t, res.Image)
		if _, ok := envOf(cf, "BUILD_ONLY"); ok {
			t.Errorf("ARG BUILD_ONLY persisted in the image env %q", cf.Config.Env)
		}
		for _, p := range []string{"/etc/resolv.conf", "/etc/hostname", "/etc/hosts", "/dev/pipes", "/proc/self"} {
			if _, ok := fs[p]; ok {
				t.Errorf("%s is in the image; the sandbox's files must never land in a layer", p)
			}
		}
	})
}

func TestRunSnapshots(t *testing.T) {
	forEachIsolation(t, func(t *testing.T, f *fixture) {
		const df = "FROM busybox\n" +
			"RUN mkdir -p /d/sub && echo a > /d/sub/a && echo gone > /gone && echo f > /flip && mkdir /dir2file && touch /dir2file/x\n" +
			"RUN rm /gone && rm -rf /d && mkdir /d && echo new > /d/only && rm /flip && mkdir /flip && rm -rf /dir2file && echo file > /dir2file\n" +
			"RUN echo data > /hl1 && ln /hl1 /hl2 && cp /bin/busybox /suid && chmod 4755 /suid\n"
		res := f.mustBuild(buildCase{dockerfile: df})
		fs := flatten(t, res.Image)
		for _, p := range []string{"/gone", "/d/sub", "/d/sub/a"} {
			if _, ok := fs[p]; ok {
				t.Errorf("%s is in the image, want it deleted by a later RUN", p)
			}
		}
		if got := fs["/d/only"].body; got != "new\n" {
			t.Errorf("/d/only = %q, want new (opaque directory)", got)
		}
		if e := fs["/flip"]; e.typ != tar.TypeDir {
			t.Errorf("/flip type = %c, want a directory (file replaced by directory)", e.typ)
		}
		if e := fs["/dir2file"]; e.typ != tar.TypeReg || e.body != "file\n" {
			t.Errorf("/dir2file = %+v, want a file (directory replaced by file)", e)
		}
		if e := fs["/suid"]; e.mode != 0o4755 {
			t.Errorf("/suid mode = %o, want 4755", e.mode)
		}
		if h, ok := lastLayerHeaders(t, res.Image)["hl2"]; !ok || h.typ != tar.TypeLink || h.link != "hl1" {
			t.Errorf("hl2 in the last layer = %+v, want a hard link to hl1", h)
		}
	})
}

func TestRunFailure(t *testing.T) {
	forEachIsolation(t, func(t *testing.T, f *fixture) {
		_, err := f.build(buildCase{dockerfile: "FROM busybox\nENV A=1\nRUN echo some output && echo to stderr >&2 && exit 3\n"})
		if err == nil {
			t.Fatal("Build(RUN exit 3) succeeded")
		}
		msg := err.Error()
		for _, want := range []string{"Dockerfile:3", "RUN failed with exit code 3", "echo some output", "to stderr"} {
			if !strings.Contains(msg, want) {
				t.Errorf("error %q does not contain %q", msg, want)
			}
		}
	})
}

func TestRunSecretNeverPersisted(t *testing.T) {
	forEachIsolation(t, func(t *testing.T, f *fixture) {
		secret := "s3cr3t-" + time.Now().Format("150405.000000")
		src := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(src, []byte(secret), 0o600); err != nil {
			t.Fatal(err)
		}
		df := "FROM busybox\n" +
			"RUN --mount=type=secret,id=token wc -c < /run/secrets/token > /seen-len\n" +
			"RUN --mount=type=secret,id=token,env=TOKEN echo ${#TOKEN} > /env-len\n"
		file, err := dockerfile.Parse("Dockerfile", []byte(df))
		if err != nil {
			t.Fatal(err)
		}
		res, err := f.b.Build(context.Background(), Options{File: file, ContextDir: t.TempDir(),
			Secrets: map[string]Secret{"token": {File: src}}})
		if err != nil {
			t.Fatalf("Build() = %v", err)
		}
		fs := flatten(t, res.Image)
		if got := strings.TrimSpace(fs["/seen-len"].body); got != "20" {
			t.Errorf("/seen-len = %q, want 20 (the secret file was readable)", got)
		}
		if got := fs["/env-len"].body; got != "20\n" {
			t.Errorf("/env-len = %q, want 20 (the secret as an environment variable)", got)
		}
		if _, ok := fs["/run/secrets/token"]; ok {
			t.Errorf("/run/secrets/token is in the image")
		}
		// No blob (config, manifest, layer content) may hold the secret's bytes.
		fileSecret := []byte(secret)
		err = filepath.Walk(filepath.Join(f.store.Root(), "blobs"), func(p string, fi os.FileInfo, err error) error {
			if err != nil || fi.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if zr, err := gzip.NewReader(bytes.NewReader(b)); err == nil {
				if all, err := io.ReadAll(zr); err == nil {
					b = all
				}
			}
			if bytes.Contains(b, fileSecret) {
				t.Errorf("blob %s contains the secret", p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func TestRunCacheMountPersists(t *testing.T) {
	forEachIsolation(t, func(t *testing.T, f *fixture) {
		const df = "FROM busybox\nARG N\nRUN --mount=type=cache,target=/cache echo \"$N\" >> /cache/log && cat /cache/log > /seen\n"
		f.mustBuild(buildCase{dockerfile: df, args: map[string]string{"N": "one"}})
		res := f.mustBuild(buildCase{dockerfile: df, args: map[string]string{"N": "two"}})
		fs := flatten(t, res.Image)
		if got := fs["/seen"].body; got != "one\ntwo\n" {
			t.Errorf("/seen = %q, want one\\ntwo\\n (the cache mount keeps its content)", got)
		}
		if _, ok := fs["/cache"]; ok {
			t.Errorf("/cache (a mount point) is in the image")
		}
	})
}

func TestRunBindAndTmpfsMounts(t *testing.T) {
	forEachIsolation(t, func(t *testing.T, f *fixture) {
		const df = "FROM busybox AS tools\n" +
			"RUN mkdir /tools && echo tool > /tools/t\n" +
			"FROM busybox\n" +
			"RUN --mount=type=bind,source=in.txt,target=/mnt/in.txt cat /mnt/in.txt > /from-context\n" +
			"RUN --mount=type=bind,from=tools,source=/tools,target=/t,rw echo scribble > /t/new && cat /t/t > /from-stage\n" +
			"RUN --mount=type=tmpfs,target=/scratch echo x > /scratch/x && ls /scratch > /tmpfs-ls\n"
		res := f.mustBuild(buildCase{dockerfile: df, files: map[string]string{"in.txt": "ctx\n"}})
		fs := flatten(t, res.Image)
		for p, want := range map[string]string{"/from-context": "ctx\n", "/from-stage": "tool\n", "/tmpfs-ls": "x\n"} {
			if got := fs[p].body; got != want {
				t.Errorf("%s = %q, want %q", p, got, want)
			}
		}
		for _, p := range []string{"/t", "/t/new", "/scratch", "/mnt/in.txt"} {
			if _, ok := fs[p]; ok {
				t.Errorf("%s is in the image; mounts must leave nothing behind", p)
			}
		}
	})
}

// tarHeaders lists a tar's entries by cleaned name.
// lastLayerHeaders reads the headers of img's top layer.
func lastLayerHeaders(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[len(layers)-1].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	return tarHeaders(t, rc)
}

func tarHeaders(t *testing.T, r io.Reader) map[string]entry {
	t.Helper()
	tr := tar.NewReader(r)
	out := map[string]entry{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading layer: %v", err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		out[name] = entry{typ: h.Typeflag, mode: h.Mode, link: strings.TrimPrefix(h.Linkname, "./")}
	}
}

func TestRunCacheMountFromStage(t *testing.T) {
	f := newFixture(t)
	const df = "FROM busybox AS seed\nRUN mkdir -p /seed && echo seeded > /seed/s\n" +
		"FROM busybox\nRUN --mount=type=cache,id=seeded,target=/c,from=seed,source=/seed cat /c/s > /got\n"
	res := f.mustBuild(buildCase{dockerfile: df})
	if got := flatten(t, res.Image)["/got"].body; got != "seeded\n" {
		t.Errorf("/got = %q, want seeded (a new cache mount starts from its from= source)", got)
	}
}

func TestRunSSHMount(t *testing.T) {
	f := newFixture(t)
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	file, err := dockerfile.Parse("Dockerfile", []byte("FROM busybox\nRUN --mount=type=ssh test -S \"$SSH_AUTH_SOCK\" && echo \"$SSH_AUTH_SOCK\" > /sock\n"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.b.Build(context.Background(), Options{File: file, ContextDir: t.TempDir(), SSH: map[string]string{"default": sock}})
	if err != nil {
		t.Fatalf("Build() = %v", err)
	}
	if got := flatten(t, res.Image)["/sock"].body; got != "/run/buildkit/ssh_agent.0\n" {
		t.Errorf("/sock = %q, want the forwarded agent socket path", got)
	}
	_, err = f.b.Build(context.Background(), Options{File: mustParse(t, "FROM busybox\nRUN --mount=type=ssh,required true\n"), ContextDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "required") {
		t.Errorf("Build(required ssh, none given) = %v, want an error naming the missing agent", err)
	}
}

func mustParse(t *testing.T, df string) *dockerfile.File {
	t.Helper()
	file, err := dockerfile.Parse("Dockerfile", []byte(df))
	if err != nil {
		t.Fatal(err)
	}
	return file
}
