package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func TestAptMirrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, sources          string
		wantMirror, wantSecure string
	}{
		{"deb822", "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\nURIs: http://m.example/debian\nSuites: bookworm\n\n" +
			"Types: deb\nURIs: http://m.example/debian-security\nSuites: bookworm-security\n",
			"http://m.example/debian", "http://m.example/debian-security"},
		{"no security entry", "URIs: http://m.example/debian\n", "http://m.example/debian", "http://m.example/debian-security"},
		{"missing", "", "http://deb.debian.org/debian", "http://deb.debian.org/debian-security"},
	}
	for _, tc := range tests {
		path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
		if tc.sources != "" {
			if err := os.WriteFile(path, []byte(tc.sources), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		m, s := aptMirrors(path)
		if m != tc.wantMirror || s != tc.wantSecure {
			t.Errorf("%s: aptMirrors() = %q, %q, want %q, %q", tc.name, m, s, tc.wantMirror, tc.wantSecure)
		}
	}
}

func TestDebianImage(t *testing.T) {
	img := DebianImage(t)
	if err := validate.Image(img); err != nil {
		t.Fatalf("validate.Image(debian) = %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.Config.Cmd; len(got) != 1 || got[0] != "bash" {
		t.Errorf("debian Cmd = %q, want [bash]", got)
	}
	names := TarNames(t, DebianTar(t))
	for _, want := range []string{"usr/bin/bash", "usr/bin/apt-get", "usr/bin/dpkg", "etc/apt/apt.conf.d/99no-check-valid-until", "etc/apt/sources.list.d/debian.sources"} {
		if !names[want] {
			t.Errorf("debian rootfs has no %s", want)
		}
	}
	for name := range names {
		switch {
		case strings.HasPrefix(name, "var/lib/apt/lists/") && name != "var/lib/apt/lists/" && !strings.HasPrefix(name, "var/lib/apt/lists/partial") && name != "var/lib/apt/lists/lock",
			strings.HasPrefix(name, "usr/share/man/") && name != "usr/share/man/",
			strings.HasPrefix(name, "dev/") && name != "dev/",
			strings.HasPrefix(name, "usr/share/doc/") && !strings.HasSuffix(name, "/") && !strings.HasSuffix(name, "/copyright"):
			t.Errorf("debian rootfs has %s; want it slimmed away", name)
		}
	}
}
