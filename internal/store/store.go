// Package store is strata's local content-addressed image store: blobs in an
// OCI image layout, tags, base layers extracted once per diff ID and shared
// read-only, and locking so that several strata processes can use one root.
// Every write goes to a temporary file and is renamed into place, so a killed
// process never leaves a partial blob visible.
package store

import (
	"context"
	"errors"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ErrNotFound is returned when a tag or blob is not in the store.
var ErrNotFound = errors.New("not found")

// Store is a store rooted at a directory.
type Store struct {
	root string
}

// Open opens (creating if needed) the store at root.
func Open(ctx context.Context, root string) (*Store, error) { panic("unimplemented") }

// Root is the store's directory.
func (s *Store) Root() string { return s.root }

// WriteBlob stores what fn writes, named by its sha256, and returns digest and size.
func (s *Store) WriteBlob(ctx context.Context, fn func(w io.Writer) error) (v1.Hash, int64, error) {
	panic("unimplemented")
}

// OpenBlob opens a stored blob.
func (s *Store) OpenBlob(ctx context.Context, h v1.Hash) (io.ReadCloser, error) {
	panic("unimplemented")
}

// WriteImage stores img (every blob not yet present, config, manifest) and
// returns its manifest digest.
func (s *Store) WriteImage(ctx context.Context, img v1.Image) (v1.Hash, error) {
	panic("unimplemented")
}

// Image returns the stored image with manifest digest h.
func (s *Store) Image(ctx context.Context, h v1.Hash) (v1.Image, error) { panic("unimplemented") }

// Tag points ref (normalised like Docker: "busybox" is
// "docker.io/library/busybox:latest") at manifest digest h.
func (s *Store) Tag(ctx context.Context, ref string, h v1.Hash) error { panic("unimplemented") }

// Resolve returns the manifest digest ref points at, or ErrNotFound. ref may
// also be a digest or a unique digest prefix.
func (s *Store) Resolve(ctx context.Context, ref string) (v1.Hash, error) { panic("unimplemented") }

// Untag removes ref.
func (s *Store) Untag(ctx context.Context, ref string) error { panic("unimplemented") }

// Tagged is one tag of the store.
type Tagged struct {
	Ref    string
	Digest v1.Hash
}

// Tags lists every tag, sorted.
func (s *Store) Tags(ctx context.Context) ([]Tagged, error) { panic("unimplemented") }

// LayerDir returns the overlay-format directory holding l extracted,
// extracting it once per diff ID. The directory must not be modified.
func (s *Store) LayerDir(ctx context.Context, l v1.Layer) (string, error) { panic("unimplemented") }

// AdoptLayerDir moves dir (an overlay-format tree made by this build, on the
// same filesystem, see TempDir) into the store as the extracted form of diffID.
func (s *Store) AdoptLayerDir(ctx context.Context, diffID v1.Hash, dir string) (string, error) {
	panic("unimplemented")
}

// TempDir makes a fresh directory inside the store's root (same filesystem,
// so renames into the store are atomic). Leftovers are removed by Open.
func (s *Store) TempDir(ctx context.Context, prefix string) (string, error) { panic("unimplemented") }
