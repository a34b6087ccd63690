package layer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
)

// mixedTree writes random and text files whose sizes straddle the gzip
// block and zstd chunk boundaries.
func mixedTree(t testing.TB) string {
	dir := t.TempDir()
	rng := rand.New(rand.NewChaCha8([32]byte{7}))
	random := make([]byte, zstdChunkSize+3)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	var text strings.Builder
	for i := 0; text.Len() < 2*zstdChunkSize+gzipBlockSize/3; i++ {
		fmt.Fprintf(&text, "line %d of a text file, as seq and source files have them\n", i)
	}
	files := map[string][]byte{
		"random.bin":      random,
		"text/a.txt":      []byte(text.String()),
		"text/small.txt":  []byte("small\n"),
		"empty":           nil,
		"exact/chunk.bin": random[:zstdChunkSize],
		"exact/block.bin": random[:gzipBlockSize],
	}
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var kinds = []Compression{{Kind: Gzip}, {Kind: Gzip, Level: 1}, {Kind: Zstd}, {Kind: Zstd, Level: 1}, {Kind: Zstd, Level: 19}, {Kind: Uncompressed}}

// TestCompressionDeterministic: the same tree gives the same blob at
// GOMAXPROCS 1 and 2 (and more), for every kind; the diff ID never
// depends on the compression.
func TestCompressionDeterministic(t *testing.T) {
	dir := mixedTree(t)
	ctx := context.Background()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var diffID string
	for _, c := range kinds {
		var want Descriptor
		for i, procs := range []int{1, 2, 4} {
			runtime.GOMAXPROCS(procs)
			var buf bytes.Buffer
			d, err := WriteCompressed(ctx, dir, &buf, WriteOptions{Compression: c})
			if err != nil {
				t.Fatalf("WriteCompressed(%s) = %v", c, err)
			}
			if sum := fmt.Sprintf("sha256:%x", sha256.Sum256(buf.Bytes())); sum != d.Digest.String() || int64(buf.Len()) != d.Size {
				t.Fatalf("WriteCompressed(%s): descriptor %s/%d, wrote %s/%d", c, d.Digest, d.Size, sum, buf.Len())
			}
			if i == 0 {
				want = d
				continue
			}
			if d != want {
				t.Errorf("WriteCompressed(%s) at GOMAXPROCS %d = %s, at 1 = %s", c, procs, d.Digest, want.Digest)
			}
		}
		if diffID == "" {
			diffID = want.DiffID.String()
		} else if want.DiffID.String() != diffID {
			t.Errorf("diff ID with %s = %s, want %s", c, want.DiffID, diffID)
		}
		if want.MediaType != c.MediaType() {
			t.Errorf("media type with %s = %s, want %s", c, want.MediaType, c.MediaType())
		}
	}
}

// TestCompressionRoundTrip: every kind decompresses to the tar Write
// makes, and extracting it gives the tree back.
func TestCompressionRoundTrip(t *testing.T) {
	dir := mixedTree(t)
	ctx := context.Background()
	var tarBuf bytes.Buffer
	if _, err := Write(ctx, dir, &tarBuf, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range kinds {
		var blob bytes.Buffer
		if _, err := WriteCompressed(ctx, dir, &blob, WriteOptions{Compression: c}); err != nil {
			t.Fatal(err)
		}
		rc, err := Decompress(bytes.NewReader(blob.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("Decompress(%s): %v", c, err)
		}
		if !bytes.Equal(got, tarBuf.Bytes()) {
			t.Fatalf("Decompress(%s) = %d bytes, differ from the %d-byte tar", c, len(got), tarBuf.Len())
		}
		out := t.TempDir()
		if err := Extract(ctx, bytes.NewReader(got), out, ExtractOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"random.bin", "text/a.txt", "exact/chunk.bin", "empty"} {
			a, _ := os.ReadFile(filepath.Join(dir, name))
			b, err := os.ReadFile(filepath.Join(out, name))
			if err != nil || !bytes.Equal(a, b) {
				t.Errorf("%s: %s after the round trip differs (%v)", c, name, err)
			}
		}
	}
}

// TestZstdFrames: a zstd blob is independent frames of zstdChunkSize of
// tar, which the stream decoder reads as one stream.
func TestZstdFrames(t *testing.T) {
	dir := mixedTree(t)
	ctx := context.Background()
	var blob bytes.Buffer
	d, err := WriteCompressed(ctx, dir, &blob, WriteOptions{Compression: Compression{Kind: Zstd}})
	if err != nil {
		t.Fatal(err)
	}
	if d.MediaType != types.OCILayerZStd {
		t.Errorf("media type = %s, want %s", d.MediaType, types.OCILayerZStd)
	}
	frames := bytes.Count(blob.Bytes(), zstdMagic)
	var tarBuf bytes.Buffer
	Write(ctx, dir, &tarBuf, WriteOptions{})
	if want := (tarBuf.Len() + zstdChunkSize - 1) / zstdChunkSize; frames < want {
		t.Errorf("%d frame magics in the blob, want at least %d", frames, want)
	}
	dec, err := zstd.NewReader(bytes.NewReader(blob.Bytes()), zstd.WithDecoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	got, err := io.ReadAll(dec)
	if err != nil || !bytes.Equal(got, tarBuf.Bytes()) {
		t.Errorf("zstd stream decoder read %d bytes (%v), want the %d-byte tar", len(got), err, tarBuf.Len())
	}
}

// TestRecompress: converting a blob keeps the diff ID and gives the bytes
// WriteCompressed gives for that compression.
func TestRecompress(t *testing.T) {
	dir := mixedTree(t)
	ctx := context.Background()
	var gz bytes.Buffer
	src, err := WriteCompressed(ctx, dir, &gz, WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range kinds {
		want, err := WriteCompressed(ctx, dir, io.Discard, WriteOptions{Compression: c})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		got, err := Recompress(bytes.NewReader(gz.Bytes()), &out, c)
		if err != nil {
			t.Fatalf("Recompress(gzip to %s) = %v", c, err)
		}
		if got != want || got.DiffID != src.DiffID || int64(out.Len()) != got.Size {
			t.Errorf("Recompress(gzip to %s) = %+v, want %+v", c, got, want)
		}
	}
}

// TestCompressionValidate: levels are checked against the kind's range.
func TestCompressionValidate(t *testing.T) {
	for _, tc := range []struct {
		c    Compression
		id   string
		want string
	}{
		{Compression{}, "gzip-6", ""},
		{Compression{Kind: Zstd}, "zstd-3", ""},
		{Compression{Kind: Zstd, Level: 22}, "zstd-22", ""},
		{Compression{Kind: Uncompressed}, "uncompressed", ""},
		{Compression{Kind: Gzip, Level: 10}, "", "gzip compression level 10 is not in 1..9"},
		{Compression{Kind: Zstd, Level: 23}, "", "zstd compression level 23 is not in 1..22"},
		{Compression{Kind: Uncompressed, Level: 3}, "", "uncompressed layers take no compression level"},
		{Compression{Kind: "lz4"}, "", `unsupported compression type "lz4"`},
	} {
		err := tc.c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v.Validate() = %v", tc.c, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v.Validate() = %v, want %q", tc.c, err, tc.want)
		case tc.want == "" && tc.c.ID() != tc.id:
			t.Errorf("%+v.ID() = %s, want %s", tc.c, tc.c.ID(), tc.id)
		}
	}
}

// TestReferenceDecoders: the reference zstd and gzip tools read the
// multi-frame zstd and multi-block gzip blobs as the layer's tar.
func TestReferenceDecoders(t *testing.T) {
	dir := mixedTree(t)
	ctx := context.Background()
	var tarBuf bytes.Buffer
	if _, err := Write(ctx, dir, &tarBuf, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tool string
		c    Compression
	}{{"zstd", Compression{Kind: Zstd}}, {"gzip", Compression{Kind: Gzip}}} {
		bin, err := exec.LookPath(tc.tool)
		if err != nil {
			t.Logf("%s not installed: skipped", tc.tool)
			continue
		}
		var blob bytes.Buffer
		if _, err := WriteCompressed(ctx, dir, &blob, WriteOptions{Compression: tc.c}); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-d", "-c")
		cmd.Stdin = &blob
		out, err := cmd.Output()
		if err != nil || !bytes.Equal(out, tarBuf.Bytes()) {
			t.Errorf("%s -d read %d bytes (%v), want the %d-byte tar", tc.tool, len(out), err, tarBuf.Len())
		}
	}
}

// hashingWriter stands for the store's blob writer: it hashes what it is
// given.
type hashingWriter struct {
	buf bytes.Buffer
	h   hash.Hash
}

func (w *hashingWriter) Write(p []byte) (int, error) {
	w.h.Write(p)
	return w.buf.Write(p)
}

func (w *hashingWriter) BlobDigest() (v1.Hash, int64) {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", w.h.Sum(nil))}, int64(w.buf.Len())
}

// TestBlobHasher: a writer that hashes gives the blob digest, the same as
// WriteCompressed and Recompress compute themselves.
func TestBlobHasher(t *testing.T) {
	dir := mixedTree(t)
	ctx := context.Background()
	for _, c := range kinds {
		want, err := WriteCompressed(ctx, dir, io.Discard, WriteOptions{Compression: c})
		if err != nil {
			t.Fatal(err)
		}
		w := &hashingWriter{h: sha256.New()}
		got, err := WriteCompressed(ctx, dir, w, WriteOptions{Compression: c})
		if err != nil || got != want {
			t.Errorf("WriteCompressed(%s) into a BlobHasher = %+v, %v; want %+v", c, got, err, want)
		}
		w2 := &hashingWriter{h: sha256.New()}
		if got, err := Recompress(bytes.NewReader(w.buf.Bytes()), w2, c); err != nil || got != want {
			t.Errorf("Recompress(%s) into a BlobHasher = %+v, %v; want %+v", c, got, err, want)
		}
	}
}
