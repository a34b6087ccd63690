// Package export writes built images to their destinations: OCI layout
// directories and archives, docker-archive tars that `docker load` accepts,
// the final filesystem as a directory or a tar.
package export

import (
	"context"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// OCILayout writes img to an OCI image layout directory dir, annotated with tags.
func OCILayout(ctx context.Context, img v1.Image, dir string, tags []string) error {
	panic("unimplemented")
}

// OCIArchive writes img as a tar of an OCI image layout.
func OCIArchive(ctx context.Context, img v1.Image, file string, tags []string) error {
	panic("unimplemented")
}

// DockerArchive writes img as a docker-archive tar (`docker load`), with
// Docker media types.
func DockerArchive(ctx context.Context, img v1.Image, file string, tags []string) error {
	panic("unimplemented")
}

// Local writes img's flattened filesystem into dir.
func Local(ctx context.Context, img v1.Image, dir string) error { panic("unimplemented") }

// Tar writes img's flattened filesystem as a tar file.
func Tar(ctx context.Context, img v1.Image, file string) error { panic("unimplemented") }
