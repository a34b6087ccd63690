package rootfs

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func plainTar(t *testing.T, name, body string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))})
	tw.Write([]byte(body))
	tw.Close()
	return buf.Bytes()
}

// compress runs a compressor CLI (the formats Go cannot write).
func compress(t *testing.T, tool string, in []byte) []byte {
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s not installed", tool)
	}
	cmd := exec.Command(tool, "-c")
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	return out
}

func TestAddArchives(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name    string
		data    func(t *testing.T) []byte
		want    string
		wantErr string
	}{
		{"plain", func(t *testing.T) []byte { return plainTar(t, "f", "x") }, "d 40755 0:0\nd/f 100644 0:0 =x", ""},
		{"gzip", func(t *testing.T) []byte { return compress(t, "gzip", plainTar(t, "f", "x")) }, "d 40755 0:0\nd/f 100644 0:0 =x", ""},
		{"bzip2", func(t *testing.T) []byte { return compress(t, "bzip2", plainTar(t, "f", "x")) }, "d 40755 0:0\nd/f 100644 0:0 =x", ""},
		{"xz", func(t *testing.T) []byte { return compress(t, "xz", plainTar(t, "f", "x")) }, "d 40755 0:0\nd/f 100644 0:0 =x", ""},
		{"zstd", func(t *testing.T) []byte { return compress(t, "zstd", plainTar(t, "f", "x")) }, "d 40755 0:0\nd/f 100644 0:0 =x", ""},
		{"whiteout names are plain files", func(t *testing.T) []byte { return plainTar(t, ".wh.f", "x") }, "d 40755 0:0\nd/.wh.f 100644 0:0 =x", ""},
		{"not a tar", func(t *testing.T) []byte { return compress(t, "gzip", []byte("just text")) }, "d 100644 0:0 =\x1f", ""},
		{"escape", func(t *testing.T) []byte { return plainTar(t, "../evil", "x") }, "", `extracting a.bin: extracting layer: "../evil": path escapes the root`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cdir := t.TempDir()
			os.WriteFile(filepath.Join(cdir, "a.bin"), tt.data(t), 0o644)
			layerDir := t.TempDir()
			err := Copy(context.Background(), NewDir(cdir, nil), []string{"a.bin"}, Stack{}, "/d", layerDir, CopyOptions{Extract: true})
			if tt.wantErr != "" || err != nil {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Copy() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			got := tree(t, layerDir)
			if tt.name == "not a tar" {
				got = got[:strings.Index(got, "=")+2]
			}
			if got != tt.want {
				t.Errorf("layer =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}
