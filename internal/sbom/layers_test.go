package sbom_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/strata-build/strata/internal/sbom"
)

// layerDir builds an overlay-format layer directory in a temp dir.
type layerDir struct {
	t   testing.TB
	dir string
}

func newLayer(t testing.TB) *layerDir {
	t.Helper()
	return &layerDir{t: t, dir: t.TempDir()}
}

func (l *layerDir) abs(p string) string { return filepath.Join(l.dir, filepath.FromSlash(p)) }

// file writes p with data and mode.
func (l *layerDir) file(p, data string, mode os.FileMode) *layerDir {
	l.t.Helper()
	if err := os.MkdirAll(filepath.Dir(l.abs(p)), 0o755); err != nil {
		l.t.Fatal(err)
	}
	if err := os.WriteFile(l.abs(p), []byte(data), mode); err != nil {
		l.t.Fatal(err)
	}
	return l
}

// whiteout deletes p from the layers below (a 0/0 character device).
func (l *layerDir) whiteout(p string) *layerDir {
	l.t.Helper()
	if err := os.MkdirAll(filepath.Dir(l.abs(p)), 0o755); err != nil {
		l.t.Fatal(err)
	}
	if err := unix.Mknod(l.abs(p), unix.S_IFCHR|0o000, 0); err != nil {
		l.t.Skipf("making a whiteout needs CAP_MKNOD: %v", err)
	}
	return l
}

// opaque makes directory p hide the layers below it.
func (l *layerDir) opaque(p, xattr string) *layerDir {
	l.t.Helper()
	if err := os.MkdirAll(l.abs(p), 0o755); err != nil {
		l.t.Fatal(err)
	}
	if err := unix.Setxattr(l.abs(p), xattr, []byte("y"), 0); err != nil {
		l.t.Skipf("setting %s: %v", xattr, err)
	}
	return l
}

// layer is the directory as a scan input.
func (l *layerDir) layer(n int, source string) sbom.Layer {
	return sbom.Layer{DiffID: fakeDiffID(n, source), Dir: l.dir, Source: source}
}

func fakeDiffID(n int, source string) v1.Hash {
	h, _, err := v1.SHA256(strings.NewReader(fmt.Sprintf("%d %s", n, source)))
	if err != nil {
		panic(err)
	}
	return h
}

// dpkgStatus is a status file as dpkg writes it, for name=version pairs
// ("name=version" or "name=version=status").
func dpkgStatus(pkgs ...string) string {
	var b strings.Builder
	for _, p := range pkgs {
		f := strings.Split(p, "=")
		status := "install ok installed"
		if len(f) > 2 {
			status = f[2]
		}
		fmt.Fprintf(&b, "Package: %s\nStatus: %s\nPriority: optional\nSection: libs\nInstalled-Size: 123\n"+
			"Maintainer: Debian Maintainers <debian@example.org>\nArchitecture: amd64\nMulti-Arch: same\n"+
			"Version: %s\nDepends: libc6 (>= 2.34)\nDescription: the %s package\n some long description\n .\n more of it\n\n",
			f[0], status, f[1], f[0])
	}
	return b.String()
}

const debianOSRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
`

const curlCopyright = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: curl
Source: https://curl.se/

Files: *
Copyright: 1996 - 2023, Daniel Stenberg, <daniel@haxx.se>.
License: curl

Files: lib/md4.c
Copyright: none claimed
License: public-domain

Files: debian/*
Copyright: 2012 Alessandro Ghedini
License: curl
 COPYRIGHT AND PERMISSION NOTICE
 .
 Permission to use, copy, modify, and distribute this software for any purpose
`

const requestsMetadata = `Metadata-Version: 2.1
Name: requests
Version: 2.31.0
Summary: Python HTTP for Humans.
Home-page: https://requests.readthedocs.io
License: Apache 2.0
Classifier: License :: OSI Approved :: Apache Software License
Requires-Python: >=3.7

# Requests
License: this line is in the body and must not count
`

const attrsMetadata = `Metadata-Version: 2.4
Name: attrs
Version: 24.2.0
License-Expression: MIT
`

const sixPkgInfo = `Metadata-Version: 1.2
Name: six
Version: 1.16.0
License: UNKNOWN
Classifier: License :: OSI Approved :: MIT License
`

// jar returns a jar holding pom.properties for group:artifact:version and
// the nested jars: stored uncompressed as Spring Boot does, except those
// under WEB-INF/lib, deflated as in a war.
func jar(t testing.TB, gav string, nested map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	f := strings.Split(gav, ":")
	w, err := zw.Create("META-INF/maven/" + f[0] + "/" + f[1] + "/pom.properties")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "#Created by Apache Maven 3.9.6\nartifactId=%s\ngroupId=%s\nversion=%s\n", f[1], f[0], f[2])
	for _, name := range slices.Sorted(maps.Keys(nested)) {
		method := zip.Store
		if strings.HasPrefix(name, "WEB-INF/lib/") {
			method = zip.Deflate
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(nested[name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// goBinary builds testdata/gobin: a stripped Go executable with module
// build info (this module as main, golang.org/x/sync as a dependency).
func goBinary(t testing.TB) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "gobin")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./testdata/gobin")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building testdata/gobin: %v\n%s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// fixture is a five-layer image: Debian base, apt-get install curl, the
// application (npm, Python, a Go binary, a Spring Boot jar), a cleanup
// layer that deletes a node module and the Python packages, and one that
// replaces the Go binary with a script.
func fixture(t testing.TB) []sbom.Layer {
	t.Helper()
	base := newLayer(t).
		file("/usr/lib/os-release", debianOSRelease, 0o644).
		file("/var/lib/dpkg/status", dpkgStatus("base-files=12.4+deb12u5", "libc6=2.36-9+deb12u4", "gone=1.0=deinstall ok config-files"), 0o644)
	apt := newLayer(t).
		file("/var/lib/dpkg/status", dpkgStatus("base-files=12.4+deb12u5", "curl=7.88.1-10+deb12u5", "libc6=2.36-9+deb12u7", "gone=1.0=deinstall ok config-files"), 0o644).
		file("/usr/share/doc/curl/copyright", curlCopyright, 0o644)
	bin := goBinary(t)
	bigJar := jar(t, "com.example:demo:0.0.1-SNAPSHOT", map[string][]byte{
		"BOOT-INF/lib/guava-33.0.0-jre.jar": jar(t, "com.google.guava:guava:33.0.0-jre", nil),
	})
	war := jar(t, "com.example:web:2.1", map[string][]byte{
		"WEB-INF/lib/commons-lang3-3.14.0.jar": jar(t, "org.apache.commons:commons-lang3:3.14.0", nil),
	})
	app := newLayer(t).
		file("/app/package.json", `{"name":"myapp","version":"1.0.0"}`, 0o644).
		file("/app/node_modules/express/package.json", `{"name":"express","version":"4.19.2","license":"MIT"}`, 0o644).
		file("/app/node_modules/express/lib/package.json", `{"name":"not-a-package","version":"0.0.0"}`, 0o644).
		file("/app/node_modules/@types/node/package.json", `{"name":"@types/node","version":"20.11.5","license":{"type":"MIT"}}`, 0o644).
		file("/app/node_modules/left-pad/package.json", `{"name":"left-pad","version":"1.3.0","licenses":[{"type":"WTFPL"}]}`, 0o644).
		file("/usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA", requestsMetadata, 0o644).
		file("/usr/lib/python3/dist-packages/six.egg-info/PKG-INFO", sixPkgInfo, 0o644).
		file("/opt/venv/lib/python3.11/site-packages/attrs-24.2.0.dist-info/METADATA", attrsMetadata, 0o644).
		file("/usr/local/bin/server", bin, 0o755).
		file("/usr/local/bin/tool", bin, 0o755).
		file("/usr/local/bin/hello.sh", "#!/bin/sh\necho hello\n", 0o755).
		file("/app/app.jar", string(bigJar), 0o644).
		file("/srv/ROOT.war", string(war), 0o644)
	cleanup := newLayer(t).
		whiteout("/app/node_modules/left-pad").
		opaque("/usr/lib/python3/dist-packages", "trusted.overlay.opaque")
	script := newLayer(t).
		file("/usr/local/bin/tool", "#!/bin/sh\nexec server \"$@\"\n", 0o755)
	return []sbom.Layer{
		base.layer(0, "debian.sh"),
		apt.layer(1, "Dockerfile:2 RUN apt-get install -y curl"),
		app.layer(2, "Dockerfile:5 COPY . /app"),
		cleanup.layer(3, "Dockerfile:6 RUN rm -rf node_modules/left-pad /usr/lib/python3/dist-packages/*"),
		script.layer(4, "Dockerfile:7 COPY tool /usr/local/bin/tool"),
	}
}
