package testenv

import (
	"archive/tar"
	"debug/elf"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/strata-build/strata/internal/emulate"
)

func TestBusyboxImageForArm64(t *testing.T) {
	img := BusyboxImageFor(t, "linux/arm64")
	if err := validate.Image(img); err != nil {
		t.Fatalf("validate.Image(busybox arm64) = %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "arm64" || cf.Variant != "v8" {
		t.Errorf("busybox arm64 config platform = %s/%s/%s, want linux/arm64/v8", cf.OS, cf.Architecture, cf.Variant)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("busybox arm64 layers = %d, %v; want 1", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var sh bool
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch h.Name {
		case "bin/sh":
			sh = h.Typeflag == tar.TypeSymlink && h.Linkname == "busybox"
		case "bin/busybox":
			f, err := elf.NewFile(readerAt(t, tr))
			if err != nil {
				t.Fatalf("reading bin/busybox as ELF: %v", err)
			}
			if f.Machine != elf.EM_AARCH64 {
				t.Errorf("bin/busybox machine = %v, want EM_AARCH64", f.Machine)
			}
		}
	}
	if !sh {
		t.Errorf("busybox arm64 rootfs has no bin/sh -> busybox")
	}
}

// readerAt reads the rest of r into memory.
func readerAt(t *testing.T, r io.Reader) *strings.Reader {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReader(string(b))
}

func TestBusyboxBinaryForArm64Runs(t *testing.T) {
	bin := BusyboxBinaryFor(t, "linux/arm64")
	p := debPlatformFor(t, "linux/arm64").platform
	if err := emulate.Check(p); err != nil {
		t.Skip(err)
	}
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "BusyBox v") {
		t.Fatalf("running arm64 busybox: %v\n%s", err, out)
	}
	if first, _, _ := strings.Cut(string(out), "\n"); !strings.HasPrefix(first, "BusyBox v") {
		t.Errorf("arm64 busybox printed %q, want its version", first)
	}
}

func TestDebianImageForArm64(t *testing.T) {
	img := DebianImageFor(t, "linux/arm64")
	if err := validate.Image(img); err != nil {
		t.Fatalf("validate.Image(debian arm64) = %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Architecture != "arm64" || cf.Variant != "v8" {
		t.Errorf("debian arm64 config architecture = %s/%s, want arm64/v8", cf.Architecture, cf.Variant)
	}
	names := TarNames(t, DebianTarFor(t, "linux/arm64"))
	for _, want := range []string{"usr/bin/bash", "usr/bin/apt-get", "usr/lib/aarch64-linux-gnu/libc.so.6", "etc/apt/sources.list.d/debian.sources"} {
		if !names[want] {
			t.Errorf("debian arm64 rootfs has no %s", want)
		}
	}
}

func TestDebPlatformFor(t *testing.T) {
	tests := []struct{ in, want, arch string }{
		{"linux/amd64", "linux/amd64", "amd64"},
		{"linux/arm64", "linux/arm64/v8", "arm64"},
		{"linux/arm64/v8", "linux/arm64/v8", "arm64"},
		{"linux/arm/v7", "linux/arm/v7", "armhf"},
	}
	for _, tc := range tests {
		d := debPlatformFor(t, tc.in)
		if got := d.platform.String(); got != tc.want || d.arch != tc.arch {
			t.Errorf("debPlatformFor(%q) = %s, %s, want %s, %s", tc.in, got, d.arch, tc.want, tc.arch)
		}
	}
}
