package export

// Filesystem outputs of a multi-platform image: one directory per
// platform, named as BuildKit's local and tar exporters name them.

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// PlatformImage is one platform's image of a multi-platform image.
type PlatformImage struct {
	Platform string // "linux/arm/v7"
	Image    v1.Image
}

// PlatformDir is the directory BuildKit's local and tar exporters give a
// platform's files: "linux/arm/v7" is "linux_arm_v7".
func PlatformDir(platform string) string { return strings.ReplaceAll(platform, "/", "_") }

// LocalPlatforms writes each image's flattened filesystem into
// dir/PlatformDir(platform), as Local writes one.
func LocalPlatforms(ctx context.Context, imgs []PlatformImage, dir string) error {
	for _, pi := range imgs {
		sub := filepath.Join(dir, PlatformDir(pi.Platform))
		if err := Local(ctx, pi.Image, sub); err != nil {
			return err
		}
		created, err := createdTime(pi.Image)
		if err != nil {
			return err
		}
		if err := os.Chtimes(sub, time.Time{}, created); err != nil {
			return fmt.Errorf("writing filesystem to %s: %w", sub, err)
		}
	}
	return nil
}

// TarPlatforms writes the images' flattened filesystems as one tar file,
// each under its PlatformDir.
func TarPlatforms(ctx context.Context, imgs []PlatformImage, file string) error {
	err := writeAtomic(file, func(f *os.File) error { return WriteTarPlatforms(ctx, imgs, f) })
	if err != nil {
		return fmt.Errorf("writing filesystem tar %s: %w", file, err)
	}
	return nil
}

// WriteTarPlatforms writes the tar of TarPlatforms to w.
func WriteTarPlatforms(ctx context.Context, imgs []PlatformImage, w io.Writer) error {
	tw := tar.NewWriter(&ctxWriter{ctx: ctx, w: w})
	for _, pi := range imgs {
		if err := tarPlatform(tw, pi); err != nil {
			return fmt.Errorf("flattening %s image: %w", pi.Platform, err)
		}
	}
	return tw.Close()
}

// tarPlatform copies pi's flattened filesystem into tw under its dir.
func tarPlatform(tw *tar.Writer, pi PlatformImage) error {
	dir := PlatformDir(pi.Platform)
	created, err := createdTime(pi.Image)
	if err != nil {
		return err
	}
	err = tw.WriteHeader(&tar.Header{Name: dir + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: created, Format: tar.FormatPAX})
	if err != nil {
		return err
	}
	rc := mutate.Extract(pi.Image)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			// mutate.Extract ends the tar before reporting its error.
			_, err := io.Copy(io.Discard, rc)
			return err
		}
		if err != nil {
			return err
		}
		name, ok := cleanName(h.Name)
		if !ok {
			return fmt.Errorf("%s: refusing path outside the image root", h.Name)
		}
		if name == "." {
			continue
		}
		h.Name = path.Join(dir, name)
		if h.Typeflag == tar.TypeDir {
			h.Name += "/"
		}
		if h.Typeflag == tar.TypeLink {
			target, ok := cleanName(h.Linkname)
			if !ok {
				return fmt.Errorf("%s: refusing hard link outside the image root", h.Name)
			}
			h.Linkname = path.Join(dir, target)
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// createdTime is img's creation time (the build time, so the platform
// directories of a reproducible build have fixed times).
func createdTime(img v1.Image) (time.Time, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return time.Time{}, fmt.Errorf("reading image config: %w", err)
	}
	return cf.Created.Time, nil
}
