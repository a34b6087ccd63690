package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteBlobSizes: blobs around the O_DIRECT block size, written in
// pieces of every size, are stored byte for byte under their digest.
func TestWriteBlobSizes(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, directAlign, directMin - 1, directMin, directMin + 1, 2*directBlock + 12345, 5 * directBlock} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		for _, piece := range []int{1 << 10, 100_003, 3 << 20, 16 << 20} {
			h, n, err := s.WriteBlob(ctx, func(w io.Writer) error {
				for rest := data; len(rest) > 0; {
					k := min(piece, len(rest))
					if _, err := w.Write(rest[:k]); err != nil {
						return err
					}
					rest = rest[k:]
				}
				return nil
			})
			if err != nil {
				t.Fatalf("WriteBlob(%d bytes in %d-byte pieces) = %v", size, piece, err)
			}
			if want := fmt.Sprintf("sha256:%x", sha256.Sum256(data)); h.String() != want || n != int64(size) {
				t.Fatalf("WriteBlob(%d bytes in %d-byte pieces) = %s, %d; want %s, %d", size, piece, h, n, want, size)
			}
			got, err := os.ReadFile(s.blobPath(h))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("blob of %d bytes in %d-byte pieces reads back %d bytes (%v)", size, piece, len(got), err)
			}
			if size < 2*directBlock {
				break // one way of writing is enough for small blobs
			}
		}
	}
}

// TestWriteBlobFailure: a failing writer function stores nothing, also
// after blocks went to the disk.
func TestWriteBlobFailure(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, _, err = s.WriteBlob(ctx, func(w io.Writer) error {
		if _, err := w.Write(make([]byte, 3*directBlock+5)); err != nil {
			return err
		}
		return fmt.Errorf("step failed")
	})
	if err == nil {
		t.Fatal("WriteBlob with a failing function succeeded")
	}
	left, _ := os.ReadDir(s.tmp)
	blobs, _ := os.ReadDir(filepath.Join(s.root, "blobs", "sha256"))
	if len(left) != 0 || len(blobs) != 0 {
		t.Errorf("after a failed WriteBlob: %d files in tmp, %d blobs", len(left), len(blobs))
	}
}
